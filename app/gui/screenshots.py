"""Render the workbench's main states to PNG: ``python -m app.gui.screenshots OUTDIR``.

States: the empty window; a compressed image with the segmentation overlay (and, for an
image with a ground-truth label map beside it, the errors against it); swipe
compare at matched bitrate; the layer inspector; the RD plot after a sweep; the error
heat map (and mIoU against bpp for a labelled image); and the compare view in the dark
palette. The image is ``--image PATH`` (for example a Kodak photo or a CamVid frame
beside its ``valannot`` folder), else scikit-image's ``astronaut``. The learned
pipeline shown is the first usable one of ``edms``, ``dsslic`` (they need trained
weights), else ``hevc``. Also prints the measured time from a QP change to the updated
view. ``--size 1280x720`` renders the window at a small laptop's size (default
1560x960); every state is also checked for text that does not fit its widget, listed on
stderr. Run it under Xvfb (``xvfb-run -s "-screen 0 1600x1000x24" ...``) or with
``QT_QPA_PLATFORM=offscreen``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import cast


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m app.gui.screenshots", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--image", type=Path, default=None,
                    help="image to show (default: scikit-image's astronaut)")
    ap.add_argument("--learned", default="", help="learned pipeline to show (default: auto)")
    ap.add_argument("--size", default="1560x960",
                    help="window size WIDTHxHEIGHT (default 1560x960; 1280x720 for a laptop)")
    args = ap.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        ap.error(f"--size: expected WIDTHxHEIGHT, got {args.size!r}")
    args.outdir.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.gui.main_window import MainWindow
    from app.gui.theme import apply_theme, dark_palette

    QApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = cast(QApplication,  # a GUI application: made here unless one exists
               QApplication.instance() or QApplication(["edms-workbench-screenshots"]))
    apply_theme(app)
    light = app.palette()
    errors: list[str] = []
    # never block: the script patches the dialog away (deliberately not its signature)
    QMessageBox.critical = staticmethod(  # type: ignore[method-assign, assignment]
        lambda *a, **k: errors.append(a[2]))
    ini = Path(tempfile.mkdtemp()) / "screenshots.ini"
    w = MainWindow(QSettings(str(ini), QSettings.Format.IniFormat))
    w.resize(width, height)
    w.show()

    def pump(seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def wait(cond, timeout: float = 300.0) -> bool:  # noqa: ANN001
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                return False
            app.processEvents()
            time.sleep(0.01)
        return True

    def idle() -> None:
        wait(lambda: not w.worker.busy and w.worker.pending() == 0 and not w.worker._deferred)
        w.data_views.force = True
        w.data_views.refresh()
        w.data_views.force = False
        pump(0.4)

    from app.gui.layoutcheck import clipped_texts

    def shot(name: str) -> None:
        pump(0.3)
        path = args.outdir / f"{name}.png"
        w.grab().save(str(path))
        print(f"wrote {path}")
        for problem in clipped_texts(w):
            print(f"  {name}: text does not fit: {problem}", file=sys.stderr)

    def rate(pipeline: str, step: int = 0) -> dict[str, int]:
        """The pipeline's first rate parameter at a middle sweep point, ``step`` values on.

        QP 37 for HEVC; each pipeline's own knob (``quality``, ``q``, ...) otherwise.
        """
        info = w.panels["B"].catalog.get(pipeline)
        if info is None or not info.params:
            return {}
        spec = info.params[0]
        allowed = spec["values"] or list(range(spec["minimum"], spec["maximum"] + 1))
        sweep = [v for v in spec["sweep"] if v in allowed] or allowed
        start = 37 if spec["name"] == "qp" and 37 in allowed else sweep[len(sweep) // 2]
        i = allowed.index(start) + step
        if not 0 <= i < len(allowed):  # at the end of the range: step the other way
            i = allowed.index(start) - step
        return {spec["name"]: allowed[max(0, min(i, len(allowed) - 1))]}

    def show(side: str, pipeline: str, **params: int) -> bool:
        params = params or rate(pipeline)
        n = len(errors)
        w.panels[side].set_source(pipeline, params, emit=False)
        w.request(side)
        ok = wait(lambda: len(errors) > n or (
            (r := w.shown[side]) is not None and r.pipeline == pipeline
            and all(r.params.get(k) == v for k, v in params.items())))
        idle()
        return ok and len(errors) == n

    wait(lambda: w.ready, 120)
    pump(0.5)
    shot("01-empty")

    if args.image is not None:
        w.open_paths([str(args.image)])
    else:
        w.open_sample("astronaut")
    w.panels["B"].set_source("", emit=False)
    idle()
    names = [i.name for i in w.catalog if not i.error]
    learned = ""
    for cand in ([args.learned] if args.learned else ["edms", "dsslic"]):
        if cand in names and show("B", cand):
            learned = cand
            break
    if not learned:
        print("no learned pipeline usable (weights missing?): showing hevc", file=sys.stderr)
        learned = "hevc"
        show("B", "hevc")
    errors.clear()

    # latency: rate change -> updated view, analysis cached (as when dragging the slider)
    for pipe in dict.fromkeys([learned, "hevc"]):
        show("B", pipe)
        times = []
        for step in (1, 2, 3):
            ((key, value),) = rate(pipe, step).items()
            row = w.panels["B"].rows[key]  # moved as a user drags it: the slider emits
            row.slider.setValue(row.values.index(value) if row.values else value)
            wait(lambda k=key, v=value: w.shown["B"] is not None
                 and w.shown["B"].params.get(k) == v)
            times.append(w.last_latency_s or float("nan"))
            idle()
        entry = w.current()
        assert entry is not None  # the image opened above
        print(f"{key} change -> view, {pipe} on {entry.name} "
              f"{entry.width}x{entry.height}: "
              + ", ".join(f"{t * 1000:.0f} ms" for t in times)
              + f" (includes the {w.jobs.debounce['B'].interval()} ms debounce)")

    show("B", learned)
    w.overlay_check.setChecked(True)
    w.overlay_opacity.setValue(45)
    pump(0.3)
    shot("02-compressed-overlay")
    entry = w.current()
    labelled = entry is not None and entry.task == "segmentation"
    if labelled and entry is not None:  # a ground-truth label map: each pane's errors
        wait(lambda: (r := w.shown["B"]) is not None and r.analysed is not None
             and entry.reference is not None)
        w.overlay_mode.setCurrentIndex(w.overlay_mode.findData("analysed"))
        w.overlay_opacity.setValue(70)
        pump(0.3)
        shot("02b-errors-against-ground-truth")
        w.overlay_mode.setCurrentIndex(0)
        w.overlay_opacity.setValue(45)
    w.overlay_check.setChecked(False)

    show("A", learned)
    show("B", "hevc")
    w.match_bitrate()
    wait(lambda: not w.worker.busy and w.worker.pending() == 0)
    idle()
    w.swipe_check.setChecked(True)
    c = w.compare.swipe
    c.set_scale(1.0)
    c.centerOn(c.image_item.pixmap().width() * 0.5, c.image_item.pixmap().height() * 0.45)
    c.set_fraction(0.5)
    shot("03-swipe-matched-bitrate")
    w.swipe_check.setChecked(False)
    w.compare.fit()

    show("B", learned)
    w.dock_inspector.raise_()
    pump(0.3)
    w.pane_views.refresh_inspector()
    insp = w.inspector
    for pick in ("residual", "prediction", "segmentation"):
        if pick in insp.names():
            insp.list.setCurrentRow(insp.names().index(pick))
            break
    insp.canvas.fit()
    shot("04-layer-inspector")

    w.dock_rd.raise_()
    plan = [(n, v) for n, v in [
        ("hevc", [27, 32, 37, 42]), ("jpeg", [10, 30, 60, 85]), ("webp", [15, 40, 70, 85]),
        ("jpegxl", [25, 55, 80]),
    ] if n in names]
    info = w.panels["B"].catalog.get(learned)
    if learned != "hevc" and info is not None and info.params:
        plan.append((learned, list(info.params[0]["sweep"])))
    w.rd_panel.set_checked({n for n, _ in plan})
    w.run_sweep(plan)
    idle()
    w.rd_panel.anchor.setCurrentIndex(max(w.rd_panel.anchor.findData("hevc"), 0))
    idle()
    shot("05-rd-after-sweep")
    if labelled:
        combo = w.rd_panel.metric_combo
        combo.setCurrentIndex(combo.findData("miou"))
        idle()
        shot("05b-rd-miou")
        combo.setCurrentIndex(0)

    w.heat_check.setChecked(True)
    w.compare.pane_a.set_scale(1.0)
    shot("06-error-map")
    w.heat_check.setChecked(False)

    # an exported .edms opened again: decoded and shown with its header
    entry = w.current()
    assert entry is not None
    out = Path(tempfile.mkdtemp()) / f"{Path(entry.name).stem}-{learned}.edms"
    w.files.ask_save_path = lambda *a: str(out)  # type: ignore[method-assign] # no dialog
    w.export_edms()
    w.open_paths([str(out)])
    wait(lambda: (e := w.current()) is not None and e.is_edms)
    idle()
    shot("08-opened-edms")

    app.setPalette(dark_palette())
    w.panels["A"].set_source("", emit=False)
    w.request("A")
    idle()
    w.compare.fit()
    shot("07-dark")
    app.setPalette(light)
    if errors:
        print("dialogs shown:", *errors, sep="\n  ", file=sys.stderr)
    w.close()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalisation: after this long scripted session PySide6 has been
    # seen to abort while garbage-collecting at exit ("none_dealloc"), after every PNG
    # was written. The interactive application exits normally.
    import os

    os._exit(code)
