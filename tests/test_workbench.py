"""The window's Qt-free model (:mod:`app.workbench`), tested without widgets or torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from app.pipelines.base import View, ViewKind
from app.session import LayerInfo, Result
from app.workbench import ORIGINAL, PipelineInfo, Workbench

ROOT = Path(__file__).resolve().parents[1]
QP = {"name": "qp", "label": "QP", "minimum": 0, "maximum": 51, "default": 32,
      "sweep": [22, 32, 42], "higher_is_better": False, "values": []}
FACTOR = {"name": "factor", "label": "factor", "minimum": 2, "maximum": 16, "default": 8,
          "sweep": [4, 8], "higher_is_better": False, "values": [2, 4, 8, 16]}


def _bench() -> Workbench:
    wb = Workbench()
    wb.set_catalog([PipelineInfo("hevc", "HEVC", [QP]),
                    PipelineInfo("smic", "SMIC", [QP, FACTOR]),
                    PipelineInfo("broken", "needs weights", [QP], error="no weights")])
    wb.ready = True
    return wb


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (8, 12, 3), dtype=np.uint8)


def _result(image_id: int, pipeline: str, params: dict[str, int], nbytes: int = 40,
            views: dict[str, View] | None = None, device: str = "cpu") -> Result:
    return Result(image_id=image_id, pipeline=pipeline, params=params,
                  decoded=np.full((8, 12, 3), 7, np.uint8), edms=b"x" * nbytes, width=12,
                  height=8, layers=[LayerInfo("image", "hevc", nbytes - 20)], psnr=30.0,
                  views=views or {}, device=device)


def test_model_imports_neither_qt_nor_torch() -> None:
    code = ("import sys, app.workbench; bad = [m for m in sys.modules if m == 'torch' "
            "or m.startswith('PySide6')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_open_select_step_and_close_images() -> None:
    wb = _bench()
    assert wb.current() is None and wb.request("A").action == "none"
    ids = [wb.add_image(f"i{k}", _image(k)).id for k in range(3)]
    wb.select(ids[1])
    assert wb.current().name == "i1"
    assert wb.step(1) == ids[2] and wb.step(-1) == ids[0] and wb.step(2) == ids[0]
    assert wb.close_current() == ids[2]  # the next one moves into place
    assert wb.close_current() == ids[0]  # the last one closed: the one before
    assert wb.close_current() is None and wb.current() is None
    assert not wb.session.images


def test_request_plans_original_unavailable_cached_and_encode() -> None:
    wb = _bench()
    img = wb.add_image("a", _image())
    wb.select(img.id)
    assert wb.request("A").action == "original"  # pane A starts on the original
    wb.set_pane("B", "broken", {"qp": 30})
    req = wb.request("B")
    assert req.action == "unavailable" and "no weights" in req.message
    wb.set_pane("B", "hevc", {"qp": 30})
    req = wb.request("B")
    assert req.action == "encode" and req.encode.pipeline == "hevc"
    assert req.encode.params == {"qp": 30} and req.encode.side == "B"
    assert req.encode.image is img.array
    r = _result(img.id, "hevc", {"qp": 30})
    assert wb.accept(r, "B") and wb.shown["B"] is r
    wb.clear_shown()
    req = wb.request("B")
    assert req.action == "cached" and req.result is r and wb.shown["B"] is r
    wb.ready = False  # before the worker's catalogue everything shows the original
    assert wb.request("B").action == "original" and wb.shown["B"] is None


def test_results_for_an_old_setting_or_a_closed_image_are_not_shown() -> None:
    wb = _bench()
    img = wb.add_image("a", _image())
    wb.select(img.id)
    wb.set_pane("B", "hevc", {"qp": 40})
    assert not wb.accept(_result(img.id, "hevc", {"qp": 30}), "B")  # stale: stored only
    assert wb.session.get_result(img.id, "hevc", {"qp": 30}) is not None
    assert wb.shown["B"] is None
    gone = _result(img.id + 99, "hevc", {"qp": 40})
    assert not wb.accept(gone, "B") and gone.key not in wb.session.results
    # a match result sets the pane's parameters to the matched setting
    assert wb.accept(_result(img.id, "hevc", {"qp": 37}), "B", match=True)
    assert wb.panes["B"].params == {"qp": 37}


def test_update_measures_or_withdraws_shown_results() -> None:
    wb = _bench()
    img = wb.add_image("a", _image())
    wb.select(img.id)
    wb.set_pane("A", "hevc", {"qp": 30})
    r = _result(img.id, "hevc", {"qp": 30})
    wb.accept(r, "A")
    assert wb.update(r.key, {"ms_ssim": 0.5, "metrics_done": True}) == ["A"]
    assert r.ms_ssim == 0.5 and r.metrics_done
    assert wb.update(r.key, {"invalid": True}) == ["A"]
    assert wb.shown["A"] is None and r.key not in wb.session.results
    assert wb.update(r.key, {"ms_ssim": 1.0}) == []


def test_swap_and_rerun_forget_the_panes_results() -> None:
    wb = _bench()
    img = wb.add_image("a", _image())
    wb.select(img.id)
    wb.set_pane("A", "hevc", {"qp": 30})
    wb.set_pane("B", "smic", {"qp": 30, "factor": 4})
    ra = _result(img.id, "hevc", {"qp": 30})
    wb.accept(ra, "A")
    wb.swap()
    assert wb.panes["B"].pipeline == "hevc" and wb.shown["B"] is ra
    assert wb.panes["A"].params == {"qp": 30, "factor": 4} and wb.shown["A"] is None
    wb.forget_pane_results()
    assert ra.key not in wb.session.results


def test_match_request_needs_a_in_result_and_b_pipeline() -> None:
    wb = _bench()
    assert isinstance(wb.match_request(), str)
    img = wb.add_image("a", _image())
    wb.select(img.id)
    wb.set_pane("A", "hevc", {"qp": 30})
    assert "pane A" in wb.match_request()
    a = _result(img.id, "hevc", {"qp": 30}, nbytes=60)
    wb.accept(a, "A")
    assert "pane B" in wb.match_request()
    wb.set_pane("B", "smic", {"qp": 40, "factor": 8})
    req = wb.match_request()
    assert req.pipeline == "smic" and req.side == "B" and req.target_bpp == a.bpp


def test_sweep_plan_skips_computed_points_and_keeps_pane_settings() -> None:
    wb = _bench()
    assert wb.sweep_plan([("hevc", [22])], every_image=False) == []
    a = wb.add_image("a", _image(1))
    b = wb.add_image("b", _image(2))
    wb.select(a.id)
    wb.set_pane("B", "smic", {"qp": 30, "factor": 4})
    wb.session.add_result(_result(a.id, "hevc", {"qp": 22}))
    plan = [("hevc", [22, 32]), ("smic", [22]), ("broken", [1]), ("nosuch", [1])]
    todo = wb.sweep_plan(plan, every_image=False)
    assert [(e.id, jobs) for e, jobs in todo] == [
        (a.id, [("hevc", [{"qp": 32}]), ("smic", [{"qp": 22, "factor": 4}])])]
    todo = wb.sweep_plan([("hevc", [22])], every_image=True)
    assert [(e.id, jobs) for e, jobs in todo] == [(b.id, [("hevc", [{"qp": 22}])])]


def test_display_caption_note_overlay_pixel_and_error_map() -> None:
    wb = _bench()
    img = wb.add_image("a", _image())
    wb.select(img.id)
    assert wb.caption("A") == "A · original · 12×8"
    assert wb.note("A") == "Original: 12×8"
    assert wb.overlay() is None
    seg = np.zeros((8, 12), np.uint8)
    views = {"a map": View(ViewKind.SEGMENTATION, seg + 1),  # not the overlay one
             "decoder map": View(ViewKind.SEGMENTATION, seg, overlay=True)}
    wb.set_pane("B", "smic", {"qp": 30, "factor": 4})
    r = _result(img.id, "smic", {"qp": 30, "factor": 4}, views=views, device="cuda")
    wb.accept(r, "B")
    assert wb.overlay() is seg
    assert wb.caption("B", error=True).startswith("B · smic factor=4, qp=30 · ")
    assert wb.caption("B").endswith("30.00 dB")
    assert "CUDA" in wb.note("B") and "decodes to this image on the CPU" in wb.note("B")
    assert np.array_equal(wb.image_for("B"), r.decoded)
    assert wb.image_for("B", error=True).shape == img.array.shape
    assert wb.image_for("A") is img.array
    text = wb.pixel_text(2, 3)
    assert text.startswith("(2, 3)  orig ") and "B 7,7,7" in text
    assert wb.pixel_text(12, 0) == "" and wb.pixel_text(-1, 0) == ""
    assert wb.export_result() is r


def test_devices_fall_back_to_the_cpu() -> None:
    wb = Workbench()
    wb.device = "cuda"
    wb.set_devices(["cpu"])
    assert wb.devices == ["cpu"] and wb.device == "cpu"
    wb.set_devices(["cpu", "cuda"])
    wb.device = "cuda"
    wb.set_devices([])
    assert wb.devices == ["cpu"] and wb.device == "cpu"
    assert ORIGINAL == ""
