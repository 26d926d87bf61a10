"""Pipelines are plug-ins: a third-party package found through the
``edms_workbench.pipelines`` entry points works in ``edms pipelines``, ``encode``,
``decode`` and ``eval`` with no change to the project; a plug-in that fails to import is
listed with its error and the others keep working; listing imports no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.imageio import load_image, save_image_atomic
from tests.plugin_fixture import BROKEN_ENTRY, BROKEN_MESSAGE, TOY_NAME, write_plugins

ROOT = Path(__file__).resolve().parents[1]


def _edms(args: list[str], plugins: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugins), str(ROOT)]))
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _image(h: int = 29, w: int = 37) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, (x * y) % 256], 2).astype(np.uint8)


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    return write_plugins(tmp_path / "site")


def test_listing_pipelines_imports_no_torch() -> None:
    code = ("import sys\n"
            "from app.pipelines import registry\n"
            "names = registry.available()\n"
            "assert 'hevc' in names and 'edms' in names and 'smic' in names, names\n"
            "for n in names:\n"
            "    registry.params(n); registry.describe(n); registry.spec(n)\n"
            "from app.cli import main\n"
            "assert main(['pipelines']) == 0\n"
            "assert 'torch' not in sys.modules, 'listing pipelines imported torch'\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120,
                   capture_output=True)


def test_every_builtin_class_reads_its_spec() -> None:
    """Each built-in spec's class declares that very spec (name, version, parameters)."""
    from app.pipelines import registry

    for name in registry.available():
        spec = registry.spec(name)
        assert spec is not None and spec.name == name
        if spec.impl == "app.pipelines.classical:ClassicalPipeline":
            continue  # one class for all baselines; the instance carries the spec
        cls = spec.load()
        assert cls.spec is spec, name
        assert (cls.name, cls.version, cls.params) == (spec.name, spec.version, spec.params)


def test_plugin_lists_encodes_decodes_and_evaluates(plugins: Path, tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    image = _image()
    save_image_atomic(work / "toy.png", image)

    listed = _edms(["pipelines"], plugins, work)
    assert listed.returncode == 0, listed.stderr
    assert TOY_NAME in listed.stdout and "hevc" in listed.stdout
    broken = [ln for ln in listed.stdout.splitlines() if BROKEN_ENTRY in ln]
    assert broken, listed.stdout
    assert BROKEN_MESSAGE in listed.stdout and "UNAVAILABLE" in listed.stdout

    enc = _edms(["encode", "toy.png", "-p", TOY_NAME, "-q", "32", "-o", "toy.edms"],
                plugins, work)
    assert enc.returncode == 0, enc.stderr
    dec = _edms(["decode", "toy.edms", "-o", "back.png"], plugins, work)
    assert dec.returncode == 0, dec.stderr
    expected = (image // 32 * 32 + 16).astype(np.uint8)
    assert np.array_equal(load_image(work / "back.png").array, expected)

    info = _edms(["info", "toy.edms", "--json"], plugins, work)
    assert json.loads(info.stdout)["pipeline_version"] == 3

    ev = _edms(["eval", "toy.png", "-p", f"{TOY_NAME},jpeg", "--anchor", "jpeg",
                "--json", "rd.json", "--quiet"], plugins, work)
    assert ev.returncode == 0, ev.stderr
    rd = json.loads((work / "rd.json").read_text())
    assert TOY_NAME in json.dumps(rd)

    # the broken plug-in: a clear line, no traceback, and the others still work
    bad = _edms(["encode", "toy.png", "-p", BROKEN_ENTRY, "-o", "x.edms"], plugins, work)
    assert bad.returncode != 0 and BROKEN_MESSAGE in bad.stderr
    assert "Traceback" not in bad.stderr


def test_broken_plugin_in_process(plugins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.errors import PipelineError
    from app.pipelines import registry

    monkeypatch.syspath_prepend(str(plugins))
    registry.reload()
    try:
        names = registry.available()
        assert TOY_NAME in names and BROKEN_ENTRY in names
        assert registry.origin(TOY_NAME) == "edms-toy-plugin"
        assert BROKEN_MESSAGE in (registry.load_error(BROKEN_ENTRY) or "")
        with pytest.raises(PipelineError, match="libnothing"):
            registry.params(BROKEN_ENTRY)
        assert registry.status(BROKEN_ENTRY) is not None
        assert registry.status(TOY_NAME) is None
        assert registry.status("layered-ref") is None
        # built-ins first, in entry-point order
        assert names.index("hevc") < names.index(TOY_NAME)
    finally:
        monkeypatch.undo()
        registry.reload()
    assert TOY_NAME not in registry.available()


def test_plugin_shows_in_gui_pipeline_lists(plugins: Path, monkeypatch: pytest.MonkeyPatch,
                                            qtbot, tmp_path: Path) -> None:
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings, Qt

    from app.gui.main_window import MainWindow
    from app.pipelines import registry

    monkeypatch.syspath_prepend(str(plugins))
    registry.reload()
    w = MainWindow(QSettings(str(tmp_path / "workbench.ini"), QSettings.Format.IniFormat))
    try:
        qtbot.waitUntil(lambda: w.ready, timeout=120_000)
        for panel in (w.panel_a, w.panel_b):
            combo = panel.source
            names = [combo.itemData(i) for i in range(combo.count())]
            assert TOY_NAME in names and "hevc" in names and BROKEN_ENTRY in names
            toy = combo.model().item(names.index(TOY_NAME))
            broken = combo.model().item(names.index(BROKEN_ENTRY))
            assert toy.isEnabled() and not broken.isEnabled()
            tip = combo.itemData(names.index(BROKEN_ENTRY), Qt.ItemDataRole.ToolTipRole)
            assert BROKEN_MESSAGE in tip
    finally:
        w.shutdown()
        w.close()
        monkeypatch.undo()
        registry.reload()


def test_spec_refuses_what_a_file_cannot_carry() -> None:
    from app.pipelines.spec import ParamSpec, PipelineSpec

    qp = ParamSpec("qp", "QP", 0, 51, 32, (32,), False)
    PipelineSpec("ok-1", 1, "", (qp,), "extension", "m:C")
    for kwargs, message in (({"name": "Bad_Name"}, "not 1..32"), ({"version": -1}, "range"),
                            ({"params": ()}, "non-empty"), ({"impl": "m.C"}, "module:Class")):
        args = {"name": "ok", "version": 1, "description": "", "params": (qp,),
                "paper": "extension", "impl": "m:C", **kwargs}
        with pytest.raises(ValueError, match=message):
            PipelineSpec(**args)


def test_a_second_thread_never_sees_a_half_loaded_registry(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """The GUI lists pipelines in one thread while another describes an opened file: the
    second must wait for the whole registry (it once named MENet's layers "latent 1/2")."""
    import threading
    import time

    from app.pipelines import registry
    from app.pipelines.endtoend_spec import SPECS as E2E
    from app.pipelines.spec import PipelineSpec

    class SlowEntryPoint:  # an entry point whose import takes a while
        def __init__(self, name: str, specs: tuple[PipelineSpec, ...], delay: float) -> None:
            self.name, self.value, self.dist = name, f"fake:{name}", None
            self._specs, self._delay = specs, delay

        def load(self) -> tuple[PipelineSpec, ...]:
            time.sleep(self._delay)
            return self._specs

    started = threading.Event()

    class First(SlowEntryPoint):
        def load(self) -> tuple[PipelineSpec, ...]:
            started.set()
            return super().load()

    monkeypatch.setattr(registry, "_entry_points",
                        lambda: [First("first", (), 0.0), SlowEntryPoint("e2e", E2E, 0.3)])
    monkeypatch.setattr(registry, "_LOADED", False)
    monkeypatch.setattr(registry, "_ENTRIES", {})
    monkeypatch.setattr(registry, "_INSTANCES", {})
    lister = threading.Thread(target=registry.available)
    lister.start()
    assert started.wait(5)
    names = registry.layer_names("menet", ["side info", "latent", "latent"])
    lister.join()
    assert names == ["side info", "image latent", "semantic latent"]
