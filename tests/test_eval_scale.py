"""Evaluation at scale: machine-task accuracy (--task), the result cache, Ray."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from app.resultcache import ResultCache, image_digest
from tests.images import synthetic_image


def _run(argv: list[str], capsys) -> str:  # noqa: ANN001
    assert main(argv) == 0
    return capsys.readouterr().out


def _rows(doc: dict) -> list[dict]:
    """Per-image rows without the timings (which differ between runs)."""
    return [{k: v for k, v in p.items() if k not in ("encode_s", "decode_s")}
            for p in doc["per_image"]]


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    d = tmp_path / "imgs"
    d.mkdir()
    for i, (h, w) in enumerate([(40, 56), (33, 47), (48, 48)]):
        Image.fromarray(synthetic_image(h, w, seed=i)).save(d / f"im{i}.png")
    return d


def test_cache_resumes_and_equals_a_fresh_run(tmp_path: Path, images: Path, capsys) -> None:
    cache = tmp_path / "c.sqlite"
    sub = tmp_path / "sub"
    sub.mkdir()
    for p in sorted(images.iterdir())[:2]:
        (sub / p.name).write_bytes(p.read_bytes())
    # an "interrupted" run: only two of the three images were done
    _run(["eval", str(sub), "-p", "jpeg,hevc", "-q", "50,80", "--param", "hevc:qp=30,40",
          "--cache", str(cache), "--json", str(tmp_path / "a.json"), "--quiet"], capsys)
    out = _run(["eval", str(images), "-p", "jpeg,hevc", "-q", "50,80", "--param",
                "hevc:qp=30,40", "--cache", str(cache), "--json", str(tmp_path / "b.json"),
                "--quiet"], capsys)
    assert "8 point(s) from the cache" in out and "2 image x pipeline task(s)" in out
    _run(["eval", str(images), "-p", "jpeg,hevc", "-q", "50,80", "--param", "hevc:qp=30,40",
          "--no-cache", "--json", str(tmp_path / "c.json"), "--quiet"], capsys)
    b = json.loads((tmp_path / "b.json").read_text())
    c = json.loads((tmp_path / "c.json").read_text())
    assert _rows(b) == _rows(c)
    assert b["bd"] == c["bd"]


def test_cache_key_covers_pipeline_identity(tmp_path: Path) -> None:
    img = synthetic_image(8, 8)
    with ResultCache(tmp_path / "k.sqlite") as c:
        d = image_digest(img)
        c.put(d, "edms", 3, b"\x01" * 8, {"qp": 32}, {"bpp": 1.0})
        assert c.get(d, "edms", 3, b"\x01" * 8, {"qp": 32}) == {"bpp": 1.0}
        assert c.get(d, "edms", 3, b"\x02" * 8, {"qp": 32}) is None  # new weights
        assert c.get(d, "edms", 4, b"\x01" * 8, {"qp": 32}) is None  # new version
        assert c.get(d, "edms", 3, b"\x01" * 8, {"qp": 33}) is None
        assert c.get(d, "edms", 3, b"\x01" * 8, {"qp": 32}, "segmentation:ab") is None
        assert c.get(image_digest(img[:, :7]), "edms", 3, b"\x01" * 8, {"qp": 32}) is None


def _labelled_set(root: Path) -> Path:
    for i in range(2):
        img = synthetic_image(36, 52, seed=10 + i)
        lab = np.zeros((36, 52), np.uint8)
        lab[18:] = 3  # road below, sky above
        lab[0, 0] = 11  # a void pixel
        (root / "val").mkdir(parents=True, exist_ok=True)
        (root / "valannot").mkdir(exist_ok=True)
        Image.fromarray(img).save(root / "val" / f"f{i}.png")
        Image.fromarray(lab).save(root / "valannot" / f"f{i}.png")
    return root


def test_task_segmentation_on_a_labelled_folder(tmp_path: Path, capsys) -> None:
    data = _labelled_set(tmp_path / "set")
    out = _run(["eval", "--task", "segmentation", str(data), "-p", "hevc,dsslic", "-q", "37",
                "--no-cache", "--json", str(tmp_path / "s.json"), "--plot",
                str(tmp_path / "s.png"), "--quiet"], capsys)
    assert "ceiling (the reference network on the uncompressed images): mIoU" in out
    doc = json.loads((tmp_path / "s.json").read_text())
    by = {e["name"]: e["results"] for e in doc["pipelines"]}
    assert 0.0 <= by["hevc"]["miou"][0] <= 1.0
    assert "miou-carried" not in by["hevc"]  # HEVC carries no semantics
    assert 0.0 <= by["dsslic"]["miou-carried"][0] <= 1.0  # DSSLIC sends its map
    assert set(by["dsslic"]["per-class-iou"][0]) >= {"Sky", "Road"}
    assert "miou" in doc["ceiling"]
    assert (tmp_path / "s.png").stat().st_size > 0


def test_task_needs_a_labelled_set(tmp_path: Path, images: Path, capsys) -> None:
    assert main(["eval", "--task", "segmentation", str(images), "-p", "jpeg", "--no-cache"]) == 1
    assert "not a labelled segmentation set" in capsys.readouterr().err


def test_ray_gives_the_local_numbers_and_survives_a_killed_worker(
        tmp_path: Path, images: Path, capsys) -> None:
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install .[cluster])")
    from app import evalrun
    from app.cluster import run_ray

    _run(["eval", str(images), "-p", "jpeg,hevc", "-q", "40,80", "--param", "hevc:qp=32",
          "--no-cache", "--json", str(tmp_path / "local.json"), "--quiet"], capsys)
    try:
        _run(["eval", str(images), "-p", "jpeg,hevc", "-q", "40,80", "--param", "hevc:qp=32",
              "--no-cache", "--cluster", "ray", "--json", str(tmp_path / "ray.json"),
              "--quiet"], capsys)
        a = json.loads((tmp_path / "local.json").read_text())
        b = json.loads((tmp_path / "ray.json").read_text())
        assert _rows(a) == _rows(b)

        # kill a worker as soon as it exists: its tasks are retried on a restarted actor
        tasks = evalrun.plan([(str(p), None, "camvid") for p in sorted(images.iterdir())],
                             ["jpeg"], {"jpeg": [{"q": 60}]}, 1 << 26).tasks
        killed = []

        def kill_first(actors: dict) -> None:
            ray.kill(actors["jpeg"][0], no_restart=False)
            killed.append(True)

        got = [pt for pts in run_ray(tasks, "ray", 1, on_actors=kill_first) for pt in pts]
        assert killed and len(got) == 3
        assert sorted(p["image"] for p in got) == ["im0.png", "im1.png", "im2.png"]
    finally:
        ray.shutdown()


def test_cluster_without_ray_says_how_to_install(monkeypatch, images: Path, capsys) -> None:
    import builtins

    real = builtins.__import__

    def no_ray(name, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    assert main(["eval", str(images), "-p", "jpeg", "--cluster", "ray", "--no-cache"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install" in err[0]
