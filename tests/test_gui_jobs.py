"""The window's jobs: cancel, superseded jobs, closing an image while it works, internal
errors.

Driven headless with pytest-qt (QT_QPA_PLATFORM=offscreen); the window, its fakes
and helpers are in :mod:`tests.guikit`.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("pytestqt")
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.guikit import (  # noqa: E402
    SIDES,
    SlowEncodeFake,
    SlowFake,
    _add,
    _caption,
    _idle,
    _set,
    _statuses,
    _wait,
    synthetic,
)


# the first test of the module: no cancel has happened in this window yet
def test_esc_with_nothing_running_leaves_no_cancelling(win) -> None:
    _idle(win)
    win.status.idle()
    win.cancel()
    QApplication.processEvents()
    assert win.stage_label.text() == "Ready"
    assert "Cancelling" not in win.stage_label.text()


def test_cancel_stops_a_sweep(win) -> None:
    win.panel_b.set_source("", emit=False)
    entry = _add(win, "cancel", synthetic(256, 384, 8))
    statuses = []
    win.worker.job_finished.connect(lambda job, status: statuses.append((job.kind, status)))

    def first_point(job, _result) -> None:  # noqa: ANN001
        if job.kind == "sweep" and win.cancel_button.isEnabled():
            win.cancel_button.click()

    win.worker.result_ready.connect(first_point)
    values = list(range(5, 52, 2))
    win.run_sweep([("hevc", values)])
    _wait(lambda: ("sweep", "cancelled") in statuses or ("sweep", "done") in statuses, 120)
    _idle(win)
    win.worker.result_ready.disconnect(first_point)
    assert ("sweep", "cancelled") in statuses
    assert 1 <= len(win.session.results_for(entry.id, "hevc")) < len(values)
    assert win.stage_label.text().startswith("Cancel")


def test_cancel_stops_a_running_pass_between_tiles_and_nothing_restarts(win) -> None:
    """Cancel lands inside a long decoder pass (between its tiles, not at a stage
    boundary), the result is marked stopped, the deferred work of the other pane is
    dropped, and no job goes on by itself."""
    win.panel_b.set_source("", emit=False)
    _add(win, "slow", synthetic(40, 48, 31))
    SlowFake.release.clear()
    statuses = _statuses(win)
    updates: list[dict] = []
    win.worker.result_updated.connect(lambda key, values: updates.append(values))
    progress: list[tuple[str, int, int]] = []
    win.worker.progress.connect(lambda _id, stage, done, total: progress.append(
        (stage, done, total)))
    win.panel_a.set_source("hevc", {"qp": 40}, emit=False)
    win.panel_b.set_source("test-slow", {"qp": 20, "s": 2}, emit=False)
    win.request("A")  # finishes first; its verification is deferred behind B
    win.request("B")
    try:
        _wait(lambda: SlowFake.tiles_seen > 3, 60)  # B is inside its decoder's pass
        _wait(lambda: any(t == 50 for _, _, t in progress), 30)  # tiles are reported
        # ... and shown: the window gets the worker's signal queued, after this test's
        # direct connection has seen it, so wait for the label rather than assert at once
        _wait(lambda: "of 50" in win.stage_label.text() and "%" in win.stage_label.text(), 30)
        win.cancel()
        assert win.stage_label.text().startswith("Cancelling")
        _wait(lambda: ("test-slow", "cancelled") in statuses, 30)
        _idle(win)
    finally:
        SlowFake.release.set()
    b = win.shown["B"]
    assert b is not None and b.stopped and not b.verified and not b.metrics_done
    a = win.session.get_result(win.current_id, "hevc", {"qp": 40, "tune": 0})
    assert a is not None and a.stopped and not a.metrics_done  # deferred work dropped
    assert win.panels["B"].value_labels["ms_ssim"].text() == "stopped"
    win.results_table.set_results(win.session.results_for(win.current_id))
    rows = {win.results_table.item(i, 0).text(): [win.results_table.item(i, j).text()
                                                  for j in (5, 6)]
            for i in range(win.results_table.rowCount())}
    assert rows["hevc"] == ["—", "—"] and rows["test-slow"] == ["—", "—"]  # not "…"
    assert win.stage_label.text() == "Cancelled"
    n = len(updates)
    for _ in range(20):  # nothing goes on by itself
        QApplication.processEvents()
        time.sleep(0.01)
    assert len(updates) == n and not win.worker.busy
    assert not any(v.get("metrics_done") for v in updates if v)
    # asking for it again encodes it again
    win.request("B")
    _wait(lambda: win.shown["B"] is not None and win.shown["B"].metrics_done, 60)
    _idle(win)
    assert win.shown["B"] is not b and win.shown["B"].verified
    for side in SIDES:
        win.panels[side].set_source("", emit=False)
        win.request(side)


def test_a_superseded_job_stops_at_once_and_is_never_shown_under_another_name(win) -> None:
    """Choosing another pipeline (or setting, or image) for a pane while its job runs
    stops that job at once; the pane never shows the old pipeline's result under the new
    name, and the controls follow what is shown after a cancel."""
    win.panel_a.set_source("", emit=False)
    win.request("A")
    _add(win, "supersede", synthetic(40, 48, 41))
    SlowEncodeFake.release.clear()
    statuses = _statuses(win)
    wrong: list[str] = []

    def check() -> bool:  # what the pane shows always matches its pipeline
        pane = win.model.panes["B"]
        if pane.shown is not None and pane.shown.pipeline != pane.pipeline:
            wrong.append(f"{pane.shown.pipeline} under {pane.pipeline}")
        caption = win.compare.pane_b.caption.toolTip() or _caption(win.compare.pane_b)
        if pane.pipeline and pane.pipeline not in caption:
            wrong.append(f"caption {caption!r} under {pane.pipeline}")
        return True

    try:
        _set(win, "B", "hevc", qp=40)
        SlowEncodeFake.tiles_seen = 0
        win.panel_b.set_source("test-slow-encode", {"qp": 20, "s": 2}, emit=False)
        win.request("B")
        _wait(lambda: check() and SlowEncodeFake.tiles_seen > 3, 60)
        assert win.shown["B"] is None  # hevc's result is not shown as test-slow-encode's
        t0 = time.monotonic()
        win.panel_b.set_source("test-layered", {"qp": 20, "s": 2}, emit=False)
        win.request("B")
        _wait(lambda: check() and ("test-slow-encode", "superseded") in statuses, 10)
        assert time.monotonic() - t0 < 3  # stopped after its running tile, not at its end
        _wait(lambda: check() and win.shown["B"] is not None
              and win.shown["B"].pipeline == "test-layered", 60)
        _idle(win)
        check()
        assert "test-layered" in _caption(win.compare.pane_b)
        assert ("test-slow-encode", "cancelled") not in statuses  # not the user's cancel
        assert win.stage_label.text() != "Cancelled"
        # a cancel while another setting is encoding: the controls show what is shown
        SlowEncodeFake.tiles_seen = 0
        win.panel_b.set_source("test-slow-encode", {"qp": 30, "s": 2}, emit=False)
        win.request("B")
        _wait(lambda: check() and SlowEncodeFake.tiles_seen > 3, 60)
        win.cancel()
        _wait(lambda: ("test-slow-encode", "cancelled") in statuses, 10)
        _idle(win)
        # test-layered is shown again, and the controls say so
        assert win.panel_b.pipeline() == "test-layered"
        assert win.shown["B"] is not None and win.shown["B"].pipeline == "test-layered"
        assert "test-layered" in _caption(win.compare.pane_b)
        SlowEncodeFake.tiles_seen = 0
        win.panel_b.set_source("test-slow-encode", {"qp": 44, "s": 2}, emit=False)
        win.request("B")
        _wait(lambda: SlowEncodeFake.tiles_seen > 3, 60)
        win.cancel()
        _idle(win)
        assert win.panel_b.pipeline() == "test-layered"  # back to what is shown
        assert win.panel_b.params()["qp"] == 20
    finally:
        SlowEncodeFake.release.set()
    assert not wrong, wrong[:3]
    win.panel_b.set_source("", emit=False)
    win.request("B")


def test_closing_an_image_cancels_and_frees_its_work(win) -> None:
    win.panel_b.set_source("", emit=False)
    entry = _add(win, "closing", synthetic(40, 48, 32))
    SlowFake.release.clear()
    statuses = _statuses(win)
    win.panel_b.set_source("test-slow", {"qp": 24, "s": 2}, emit=False)
    win.request("B")
    try:
        _wait(lambda: SlowFake.tiles_seen > 3, 60)
        assert any(k[0] == entry.id for k in win.worker._prepared)
        win.panel_b.set_source("", emit=False)  # the next image shown asks for nothing
        win.close_image()
        _wait(lambda: ("test-slow", "cancelled") in statuses, 30)
        _idle(win)
    finally:
        SlowFake.release.set()
    assert entry.id not in win.session.images
    assert not any(k[0] == entry.id for k in win.worker._prepared)
    assert not any(r.image_id == entry.id for r in win.session.results.values())
    win.panel_b.set_source("", emit=False)


def test_an_internal_error_is_one_sentence_and_the_pane_says_it_failed(win) -> None:
    _add(win, "crash", synthetic(40, 48, 33))
    n = len(win.dialogs)
    win.panel_b.set_source("test-crash", {"qp": 20, "s": 2}, emit=False)
    win.request("B")
    _wait(lambda: len(win.dialogs) > n, 60)
    _idle(win)
    text = win.dialogs[-1]
    assert "Internal error" in text and "EDMS_DEBUG=1" in text and "report" in text
    assert "expanded size" not in text and "RuntimeError" not in text
    caption = win.compare.pane_b.caption.toolTip() or win.compare.pane_b.caption.text()
    assert "original" not in caption and "test-crash" in caption and "failed" in caption
    assert win.shown["B"] is None
    win.panel_b.set_source("", emit=False)
    win.request("B")

