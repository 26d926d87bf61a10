"""Pipelines are plug-ins: a third-party package found through the
``edms_workbench.pipelines`` entry points works in ``edms pipelines``, ``encode``,
``decode``, ``info`` and ``eval`` with no change to the project, a layer kind of its own
and a reference network of a task included; a plug-in that fails to import is listed
with its error and the others keep working; listing imports no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.imageio import load_image, save_image_atomic
from tests.plugin_fixture import (
    BROKEN_ENTRY,
    BROKEN_MESSAGE,
    TOY_KIND,
    TOY_KIND_NAME,
    TOY_NAME,
    TOY_REFERENCE,
    TOY_REFERENCE_LABEL,
    write_plugins,
)

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
    assert TOY_REFERENCE in listed.stdout  # its reference network, with the built-in ones
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
    described = json.loads(info.stdout)
    assert described["pipeline_version"] == 3
    # its own layer kind, named by its spec (no table of the project names it)
    assert [(la["name"], la["kind"], la["codec"]) for la in described["layers"]] == \
        [(TOY_KIND_NAME, TOY_KIND_NAME.replace(" ", "_"), "png")]
    assert TOY_KIND_NAME in _edms(["info", "toy.edms"], plugins, work).stdout

    ev = _edms(["eval", "toy.png", "-p", f"{TOY_NAME},jpeg", "--anchor", "jpeg",
                "--json", "rd.json", "--quiet"], plugins, work)
    assert ev.returncode == 0, ev.stderr
    rd = json.loads((work / "rd.json").read_text())
    assert TOY_NAME in json.dumps(rd)

    # its reference network measures a task: uniform images of brightness 10 and 11, which
    # the toy ranker puts first in classes 0 and 1, their class folders' order
    for cls, value in (("a-class", 10), ("b-class", 11)):
        (work / "cls" / cls).mkdir(parents=True)
        save_image_atomic(work / "cls" / cls / "x.png", np.full((16, 16, 3), value, np.uint8))
    acc = _edms(["eval", "cls", "-p", TOY_NAME, "--task", "classification", "--reference",
                 TOY_REFERENCE, "--json", "acc.json", "--no-cache", "--quiet"], plugins, work)
    assert acc.returncode == 0, acc.stderr
    ceiling = json.loads((work / "acc.json").read_text())["ceiling"]
    assert ceiling["reference"] == TOY_REFERENCE and ceiling["top1"] == 1.0, ceiling

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

    from app.errors import PipelineError
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
        # its layer kind and its words in the file header and labels the window shows
        from app import api
        from app.container import describe
        from app.workbench import header_text, layer_label

        enc = api.code(registry.get(TOY_NAME), np.zeros((8, 8, 3), np.uint8), {"q": 8})
        header = header_text("toy.edms", describe(enc.data))
        assert f"layer 0: {TOY_KIND_NAME} (png)" in header, header
        assert layer_label("toyq_levels") == "ToyQ levels"
        assert TOY_REFERENCE in [r.name for r in registry.references("classification")]
        assert registry.reference("classification", TOY_REFERENCE).label == \
            TOY_REFERENCE_LABEL
        with pytest.raises(PipelineError, match="not a segmentation network"):
            registry.reference("segmentation", TOY_REFERENCE)
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
    from app.pipelines.endtoend_spec import SPECS as HYPERPRIOR
    from app.pipelines.menet_spec import SPECS as MENET
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

    monkeypatch.setattr(registry, "_entry_points", lambda: [
        First("first", (), 0.0), SlowEntryPoint("e2e", HYPERPRIOR + MENET, 0.3)])
    monkeypatch.setattr(registry, "_LOADED", False)
    monkeypatch.setattr(registry, "_ENTRIES", {})
    monkeypatch.setattr(registry, "_INSTANCES", {})
    lister = threading.Thread(target=registry.available)
    lister.start()
    assert started.wait(5)
    names = registry.layer_names("menet", ["side info", "latent", "latent"])
    lister.join()
    assert names == ["side info", "image latent", "semantic latent"]


def test_own_layer_kinds_and_codec_ids_are_declared_in_the_spec(
        plugins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pipeline's own layer kinds and codec ids lie in the range the shared tables leave
    free; the container writes and reads such a kind only for the pipeline that declares
    it, and names it from that spec."""
    from app.codecs import CODEC_IDS
    from app.container import EdmsFormatError, from_bytes, to_bytes
    from app.pipelines import registry
    from app.pipelines.base import Encoded, Layer, LayerKind
    from app.pipelines.spec import OWN_IDS, ParamSpec, PipelineSpec

    assert not set(CODEC_IDS) & set(OWN_IDS) and not {int(k) for k in LayerKind} & set(OWN_IDS)
    q = ParamSpec("q", "q", 1, 2, 1, (1,), False)
    for field, table in (("layer_kinds", {9: "x"}), ("codec_ids", {255: "x"}),
                         ("layer_kinds", {200: ""})):
        with pytest.raises(ValueError, match="own"):
            PipelineSpec("ok", 1, "", (q,), "extension", "m:C", **{field: table})

    monkeypatch.syspath_prepend(str(plugins))
    registry.reload()
    try:
        own = Encoded(TOY_NAME, 3, b"", 2, 2, {"q": 8}, [Layer(TOY_KIND, 4, b"png")])
        back = from_bytes(to_bytes(own))
        assert back.layers[0].kind == TOY_KIND and to_bytes(back) == to_bytes(own)
        assert registry.kind_text(TOY_NAME, TOY_KIND) == TOY_KIND_NAME
        assert registry.kind_text("jpeg", TOY_KIND) == f"kind {TOY_KIND}"
        foreign = Encoded("jpeg", 1, b"", 2, 2, {"q": 8}, [Layer(TOY_KIND, 4, b"png")])
        with pytest.raises(EdmsFormatError, match=f"unknown kind {TOY_KIND}"):
            to_bytes(foreign)
        data = to_bytes(own)
    finally:
        monkeypatch.undo()
        registry.reload()
    # without the plug-in nobody declares kind 200: the file is refused, not misread
    with pytest.raises(EdmsFormatError, match=f"unknown layer kind {TOY_KIND}"):
        from_bytes(data)
