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
    code = ("import sys, app.workbench, app.plotstyle, app.gui.windowfit; "
            "bad = [m for m in sys.modules if m == 'torch' "
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
    # numbers first: a caption cut short for a narrow pane keeps its dB value
    assert wb.caption("B", error=True) == "B · 3.333 bpp · 30.00 dB · smic factor=4, qp=30 · " \
        "error ×4"
    assert wb.caption("B") == "B · 3.333 bpp · 30.00 dB · smic factor=4, qp=30"
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


# ------------------------------------------------------------------ issue 11: the window's parts


def test_closing_an_image_cancels_and_frees_its_work() -> None:
    wb = _bench()
    closed: list[int] = []
    wb.on_close = closed.append
    ids = [wb.add_image(f"i{k}", _image(k)).id for k in range(2)]
    wb.select(ids[0])
    wb.close_current()
    assert closed == [ids[0]] and ids[0] not in wb.session.images


def test_a_failed_pane_says_so_not_original() -> None:
    from app.workbench import internal_error_text

    wb = _bench()
    img = wb.add_image("a", _image())
    wb.select(img.id)
    wb.set_pane("B", "hevc", {"qp": 30})
    assert wb.request("B").action == "encode"
    message = internal_error_text()
    assert "EDMS_DEBUG=1" in message and "bug" in message and "report" in message
    wb.fail("B", f"hevc: {message}")
    caption = wb.caption("B")
    assert "original" not in caption and "hevc qp=30" in caption and "failed" in caption
    assert wb.note("B").startswith("hevc: Internal error")
    wb.fail("B", "short")
    assert wb.caption("B") == "B · hevc qp=30 · short"
    assert wb.request("B").action == "encode" and wb.panes["B"].problem == ""  # tried again


def test_an_opened_edms_file_is_the_result() -> None:
    wb = _bench()
    header = {"pipeline": "hevc", "pipeline_version": 1, "params": {"qp": 30}, "width": 12,
              "height": 8, "total_bytes": 40, "bpp": 3.3, "header_bytes": 20,
              "model_fingerprint": "", "layers": [{"index": 0, "name": "compact image",
                                                   "kind": "compact_image",
                                                   "codec_id": 3, "bytes": 20}]}
    entry = wb.add_image("x.edms", _image(), "/tmp/x.edms", header=header)
    r = _result(entry.id, "hevc", {"qp": 30})
    r.from_file = True
    wb.session.add_result(r)
    wb.select(entry.id)
    wb.set_pane("B", "hevc", {"qp": 30})
    assert wb.request("B").action == "cached" and wb.panes["B"].shown is r
    assert "from the file" in wb.caption("B")
    # another setting would be compared with the decoded image: not offered
    wb.set_pane("B", "hevc", {"qp": 40})
    req = wb.request("B")
    assert req.action == "unavailable" and "no original" in req.message
    assert "original" not in wb.caption("B").split("·")[1]
    wb.set_pane("B", "hevc", {"qp": 30})
    wb.request("B")
    assert wb.sweep_plan([("hevc", [22, 32])], every_image=True) == []
    assert isinstance(wb.match_request(), str)
    assert wb.session.rd_series(entry.id) == {}
    # pane A's header names codecs as pane B's layers do (jpegxl, not "codec 3")
    assert "(jpegxl)" in wb.note("A") and "codec 3" not in wb.note("A")
    assert "compact image" in wb.note("A")


def test_stopped_results_are_encoded_again_when_asked_for() -> None:
    wb = _bench()
    img = wb.add_image("a", _image())
    wb.select(img.id)
    wb.set_pane("B", "hevc", {"qp": 30})
    r = _result(img.id, "hevc", {"qp": 30})
    wb.accept(r, "B")
    assert wb.request("B").action == "cached"
    wb.update(r.key, {"stopped": True})
    assert r.stopped and wb.request("B").action == "encode"


def test_layer_and_codec_labels_for_people() -> None:
    from app.workbench import codec_label, layer_label

    assert layer_label("segmentation_before_smapnet") == "segmentation before SMapNet"
    assert layer_label("finenet_output") == "FineNet output"
    assert layer_label("compact") == "compact"
    assert codec_label(3) == "jpegxl" and codec_label(250) == "codec 250"


def test_pending_images_and_paths(tmp_path) -> None:
    wb = _bench()
    p = tmp_path / "a.png"
    p.write_bytes(b"")
    e = wb.session.add_pending("a.png", str(p))
    assert e.pending and e.width == 0
    assert wb.session.find_path(str(tmp_path / "." / "a.png")) is e
    assert wb.session.find_path(str(tmp_path / "b.png")) is None
    wb.session.load_pending(e.id, _image())
    assert not e.pending and (e.width, e.height) == (12, 8)
    assert wb.sweep_plan([("hevc", [22])], every_image=True) == []  # nothing selected
    wb.select(e.id)
    assert [x.name for x, _ in wb.sweep_plan([("hevc", [22])], every_image=True)] == ["a.png"]


def test_eta_percent_and_time_left() -> None:
    import pytest

    pytest.importorskip("PySide6")
    from app.gui.statusbar import Eta

    now = [100.0]
    eta = Eta(clock=lambda: now[0])
    assert eta.text("synthesis", 0, 0) == ""
    assert eta.text("synthesis", 0, 12) == "0 of 12 (0 %)"
    now[0] += 10.0
    assert eta.text("synthesis", 2, 12) == "2 of 12 (17 %), about 50 s left"
    now[0] += 10.0
    assert eta.text("synthesis", 4, 12) == "4 of 12 (33 %), about 40 s left"
    now[0] += 60.0
    assert eta.text("synthesis", 6, 12) == "6 of 12 (50 %), about 1 min 20 s left"
    assert eta.text("synthesis", 12, 12) == "12 of 12 (100 %)"
    assert eta.text("metrics", 1, 3) == "1 of 3 (33 %)"  # a new pass starts over


def test_match_says_when_the_target_is_out_of_reach() -> None:
    import pytest

    pytest.importorskip("PySide6")
    from app.gui.worker import out_of_reach

    assert out_of_reach("smic", 0.834, 0.80, {"qp": 22}, 0.1) == ""
    text = out_of_reach("smic", 0.834, 0.542, {"qp": 22, "factor": 4}, 0.1)
    assert text.startswith("smic cannot reach 0.8340 bpp") and "0.5420 bpp" in text
    assert "factor=4, qp=22" in text
    low = out_of_reach("hevc", 0.01, 0.05, {"qp": 51}, 0.1)
    assert "cannot go as low as 0.0100 bpp" in low


def test_shortcut_list_comes_from_the_actions_table(qapp) -> None:  # noqa: ANN001
    from app.gui.actions import ACTIONS, shortcut_rows

    rows = shortcut_rows()
    commands = {cmd for _, cmd, _ in rows}
    assert {"Cancel", "Open", "Match Bitrate (B to A)", "Keyboard Shortcuts"} <= commands
    assert ("Compress", "Cancel", "Esc") in rows
    from PySide6.QtGui import QKeySequence

    # every action with keys on this platform (Quit's standard key is empty on some)
    assert len(rows) == len([a for a in ACTIONS if a.shortcut is not None
                             and QKeySequence(a.shortcut).toString()])


def test_classes_text_names_the_carried_classes() -> None:
    import numpy as np

    from app.pipelines.base import View, ViewKind
    from app.session import classes_text

    views = {"classes": View(ViewKind.CLASSES, np.array([4, 7], np.int64)),
             "class_probabilities": View(ViewKind.CLASSES, np.array([0.82, 0.09], np.float32))}
    assert classes_text(views) == "church 82 %, gas pump 9 %"
    assert classes_text({}) == ""


def test_first_window_geometry_and_compact_layout() -> None:
    from app.gui.windowfit import bottom_dock_height, compact, first_geometry

    # a large screen: the preferred size, centred in the available area
    assert first_geometry((0, 0, 2560, 1400)) == (540, 230, 1480, 940)
    # a laptop (a task bar at the top): inside the available area
    x, y, w, h = first_geometry((0, 32, 1280, 688))
    assert x >= 0 and y >= 32 and x + w <= 1280 and y + h <= 720
    assert compact(h) and not compact(940)
    assert bottom_dock_height(940) == 330 and 150 <= bottom_dock_height(h) < 200


def test_job_clock_estimates_jobs_without_steps() -> None:
    import pytest

    pytest.importorskip("PySide6")
    from app.gui.statusbar import JobClock

    now = [0.0]
    clock = JobClock(clock=lambda: now[0])
    clock.start("encode hevc", 1000)
    clock.stage("preparing")
    now[0] += 2.0
    assert clock.estimate() == ("2 s so far", None)  # never timed: the time so far
    now[0] += 2.0
    clock.finish(True)
    clock.start("encode hevc", 2000)  # twice the pixels: about 8 s
    clock.stage("preparing")
    now[0] += 2.0
    assert clock.estimate() == ("25 %, about 6 s left", 25)
    clock.finish(False)
    clock.start("encode hevc", 1000)
    clock.stage("coding")  # the analysis was reused: timed apart
    assert clock.estimate()[1] is None


def test_a_new_pipeline_never_shows_the_old_result_and_a_cancel_restores_it() -> None:
    wb = _bench()
    image_id = wb.add_image("i", _image()).id
    wb.select(image_id)
    wb.set_pane("B", "hevc", {"qp": 32})
    assert wb.request("B").action == "encode" and wb.panes["B"].waiting
    hevc = _result(image_id, "hevc", {"qp": 32})
    assert wb.accept(hevc, "B") and not wb.panes["B"].waiting
    # another setting of the same pipeline: the old result stays, captioned as such
    wb.set_pane("B", "hevc", {"qp": 40})
    assert wb.request("B").action == "encode" and wb.shown["B"] is hevc
    assert "encoding qp=40" in wb.caption("B")
    assert "these numbers are of qp=32" in wb.note("B")
    # another pipeline: the old result is not shown under its name
    wb.set_pane("B", "smic", {"qp": 32, "factor": 8})
    assert wb.request("B").action == "encode" and wb.shown["B"] is None
    assert "smic" in wb.caption("B") and "hevc" not in wb.caption("B")
    # a late result of the superseded setting is stored, never shown
    assert not wb.accept(_result(image_id, "hevc", {"qp": 40}), "B")
    assert wb.shown["B"] is None
    # the user cancels: the pane shows what it showed, and says its setting
    assert wb.cancelled() == ["B"]
    assert wb.shown["B"] is hevc and wb.panes["B"].pipeline == "hevc"
    assert wb.panes["B"].params == {"qp": 32} and not wb.panes["B"].waiting
    # nothing shown before: the pane says it was cancelled
    wb.set_pane("A", "hevc", {"qp": 20})
    wb.request("A")
    assert wb.cancelled() == [] and "cancelled" in wb.caption("A")


def test_each_pane_overlays_its_own_map_or_says_why() -> None:
    wb = _bench()
    image_id = wb.add_image("i", _image()).id
    wb.select(image_id)
    seg = np.ones((8, 12), np.uint8)
    wb.show("B", _result(image_id, "smic", {"qp": 32, "factor": 8},
                         views={"map": View(ViewKind.SEGMENTATION, seg, overlay=True)}))
    data, why = wb.pane_overlay("B", "classes")
    assert data is seg and why == ""
    data, why = wb.pane_overlay("A", "classes")  # the original: not B's map
    assert data is None and "original carries no segmentation" in why
    wb.set_pane("A", "hevc", {"qp": 32})
    wb.show("A", _result(image_id, "hevc", {"qp": 32}))
    assert wb.pane_overlay("A", "classes") == (None, "hevc carries no segmentation map")
    data, why = wb.pane_overlay("B", "carried")
    assert data is None and "no ground-truth label map" in why


def test_export_takes_the_active_pane_and_names_it() -> None:
    wb = _bench()
    image_id = wb.add_image("i", _image()).id
    wb.select(image_id)
    a = _result(image_id, "hevc", {"qp": 32})
    wb.show("A", a)
    assert wb.export_side() == "A" and wb.export_label() == "Pane A (hevc qp=32)"
    b = _result(image_id, "smic", {"qp": 32, "factor": 8})
    wb.show("B", b)
    assert wb.export_result() is b and wb.export_label().startswith("Pane B (smic")
    wb.active = "A"
    assert wb.export_result() is a


def test_exported_rd_plot_draws_each_pipeline_as_the_window_does(monkeypatch) -> None:
    import pytest

    pytest.importorskip("matplotlib")
    from app import eval as ev
    from app.plotstyle import pipeline_styles

    names = ["webp", "menet", "hevc", "hyperprior", "edms"]
    summary = {n: {"results": {"bpp": [0.1, 0.2], "psnr-rgb": [30.0 + i, 31.0 + i],
                               "ms-ssim-rgb": [0.9, 0.95], "haarpsi": [0.7, 0.8]}}
               for i, n in enumerate(names)}
    figs = []
    monkeypatch.setattr(ev, "_save_figure", lambda fig, path: figs.append(fig))
    ev.plot_rd(summary, "unused.png")
    want = pipeline_styles(names)
    lines = {line.get_label(): line for line in figs[0].axes[0].get_lines()}
    for name in names:
        line = lines[name]
        assert line.get_color() == want[name].hex and line.get_marker() == want[name].marker
    assert len({(lines[n].get_color(), lines[n].get_marker()) for n in names}) == len(names)


class _FakeView:
    """A view subscribed to the model's events, as the window's are: it records them."""

    def __init__(self, wb: Workbench) -> None:
        self.seen: list[tuple] = []
        for name in ("images", "current", "setting", "pane", "info", "results", "active",
                     "job_ended", "status"):
            getattr(wb.events, name).connect(
                lambda *args, n=name: self.seen.append((n, *args)))

    def names(self) -> list[str]:
        return [e[0] for e in self.seen]

    def take(self) -> list[tuple]:
        seen, self.seen = self.seen, []
        return seen


def test_views_hear_images_added_selected_and_closed() -> None:
    wb = _bench()
    view = _FakeView(wb)
    a = wb.add_image("a", _image(0)).id
    b = wb.add_image("b", _image(1)).id
    assert view.take() == [("images",), ("images",)]
    wb.select(a)
    assert view.take() == [("current", a)]
    assert wb.close_current() == b  # the window selects the next one (and announces it)
    assert view.take() == [("images",)]
    assert wb.close_current() is None
    assert view.take() == [("images",), ("current", None)]


def test_views_hear_what_a_pane_shows() -> None:
    wb = _bench()
    image_id = wb.add_image("a", _image()).id
    wb.select(image_id)
    view = _FakeView(wb)
    wb.set_pane("B", "hevc", {"qp": 32})
    wb.set_pane("A", "smic", {"qp": 32, "factor": 8}, announce=False)  # from its controls
    assert view.take() == [("setting", "B")]
    req = wb.request("B")
    assert req.action == "encode" and view.take() == [("info", "B", False)]  # "encoding…"
    result = _result(image_id, "hevc", {"qp": 32})
    assert wb.accept(result, "B")
    assert view.take() == [("results", image_id), ("pane", "B")]
    assert wb.request("B").action == "cached" and view.take() == [("pane", "B")]
    wb.set_pane("B", "broken")
    assert wb.request("B").action == "unavailable"
    assert view.names() == ["setting", "pane", "status"]
    assert "broken is unavailable" in view.take()[-1][1]
    wb.update(result.key, {"invalid": True})  # withdrawn: no pane showed it any more
    assert view.take() == [("results", image_id)]


def test_views_hear_matches_swaps_cancels_and_measurements() -> None:
    wb = _bench()
    image_id = wb.add_image("a", _image()).id
    wb.select(image_id)
    wb.set_pane("A", "hevc", {"qp": 32})
    wb.set_pane("B", "hevc", {"qp": 40})
    shown = _result(image_id, "hevc", {"qp": 32})
    wb.accept(shown, "A")
    view = _FakeView(wb)
    wb.accept(_result(image_id, "hevc", {"qp": 36}), "B", match=True)  # B takes the match
    assert view.take() == [("results", image_id), ("setting", "B"), ("pane", "B")]
    wb.update(shown.key, {"psnr": 31.0})
    assert view.take() == [("info", "A", False), ("results", image_id)]
    wb.swap()
    assert view.take() == [("setting", "A"), ("pane", "A"), ("setting", "B"), ("pane", "B")]
    wb.set_pane("A", "smic", {"qp": 32, "factor": 8})
    wb.request("A")  # another pipeline: the old result is put aside while it encodes
    view.take()
    assert wb.job_ended("cancelled") == ["A"]  # A shows its old result's setting again
    assert view.take() == [("setting", "A"), ("pane", "A"), ("info", "A", False),
                           ("info", "B", False), ("job_ended", False)]
    assert wb.set_reference(image_id, object())
    assert view.take() == [("info", "A", True), ("info", "B", True)]
    wb.set_active("A")
    wb.notify("hello", 100)
    assert view.take() == [("active", "A"), ("status", "hello", 100)]
