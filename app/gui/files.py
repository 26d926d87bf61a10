"""The window's files and images: open (dialog, drop, samples, recent, folders), choose
and close the current image, ground truth, save and export.

:class:`FileActions` holds the window's parts it needs (widgets, model, worker, the
controllers it asks for dialogs and jobs); what it changes it changes in the model,
whose events redraw the views. Every write is atomic (temporary file + rename); every
failure is a dialog.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np
from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from app.errors import EdmsError
from app.gui.dialogs import Prompts
from app.gui.jobs import Jobs
from app.gui.ui import WindowUI
from app.gui.worker import Job, Worker
from app.session import ImageEntry, Result, Session, params_label, write_text_atomic
from app.workbench import ORIGINAL, Workbench

IMAGE_FILTER = "Images and .edms files (*.png *.jpg *.jpeg *.ppm *.pgm *.bmp *.tif *.tiff " \
    "*.webp *.edms);;All files (*)"
SAMPLES = {
    "astronaut": "Astronaut (NASA, 512×512)",
    "chelsea": "Chelsea the cat (451×300)",
    "coffee": "Coffee cup (600×400)",
    "rocket": "Rocket launch (NASA, 640×427)",
}
MAX_RECENT = 10


class FileActions(QObject):
    """Open / drop / recent files / the current image / ground truth / save and export.

    A QObject of the window's thread, so the worker's signals reach it queued."""

    def __init__(self, ui: WindowUI, model: Workbench, worker: Worker, settings: QSettings,
                 prompts: Prompts, jobs: Jobs, inspect: Callable[[str], None]) -> None:
        super().__init__(ui.window)
        self.ui, self.model, self.worker, self.settings = ui, model, worker, settings
        self.jobs, self.prompts, self.inspect = jobs, prompts, inspect
        self.show_error, self.refocus = prompts.show_error, prompts.refocus
        self.pending_edms: dict[int, tuple[str, dict]] = {}  # decode job -> (path, header)
        ui.image_combo.currentIndexChanged.connect(self.on_image_selected)
        ui.rd_panel.export_requested.connect(self.export_rd)
        worker.result_ready.connect(self.on_decoded)
        worker.failed.connect(self.on_decode_failed)
        self._rebuild_recent()
        for canvas in ui.compare.canvases():
            canvas.customContextMenuRequested.connect(
                lambda pos, c=canvas: self.pane_menu(c, pos))
        for key, label in SAMPLES.items():
            act = ui.menu_samples.addAction(label)
            act.setObjectName(f"actionSample_{key}")
            act.triggered.connect(lambda _=False, k=key: self.open_sample(k))

    @property
    def session(self) -> Session:
        return self.model.session

    def current(self) -> ImageEntry | None:
        return self.model.current()

    def max_pixels(self) -> int:
        return self.prompts.max_pixels()

    def recent_files(self) -> list[str]:
        value = self.settings.value("recentFiles", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (cast("list | None", value) or [])]

    def _add_recent(self, path: str) -> None:
        files = [p for p in self.recent_files() if p != path]
        files.insert(0, path)
        self.settings.setValue("recentFiles", files[:MAX_RECENT])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        menu = self.ui.menu_recent
        menu.clear()
        files = self.recent_files()
        for i, p in enumerate(files):
            act = QAction(f"&{i + 1} {Path(p).name}", self.ui.window)
            act.setToolTip(p)
            act.setObjectName(f"actionRecent{i}")
            act.triggered.connect(lambda _=False, q=p: self.open_paths([q]))
            menu.addAction(act)
        if not files:
            act = menu.addAction("(none)")
            act.setEnabled(False)
        else:
            menu.addSeparator()
            clear = menu.addAction("Clear List")
            clear.triggered.connect(self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.setValue("recentFiles", [])
        self._rebuild_recent()

    def ask_open_paths(self) -> list[str]:
        folder = str(self.settings.value("lastFolder", str(Path.home())))
        paths, _ = QFileDialog.getOpenFileNames(self.ui.window, "Open images or .edms files",
                                                folder, IMAGE_FILTER)
        self.refocus()
        return paths

    def ask_save_path(self, title: str, suggested: str, filters: str) -> str:
        """A path to write to, starting in the folder last saved to (not the folder the
        image came from, often a dataset's); remembered for the next save."""
        folder = Path(str(self.settings.value("lastSaveFolder", str(Path.home()))))
        path, _ = QFileDialog.getSaveFileName(self.ui.window, title,
                                              str(folder / suggested), filters)
        self.refocus()
        if path:
            self.settings.setValue("lastSaveFolder", str(Path(path).parent))
        return path

    def open_dialog(self) -> None:
        paths = self.ask_open_paths()
        if paths:
            self.open_paths(paths)

    def open_paths(self, paths: list[str]) -> None:
        """Open images and ``.edms`` files; every failure becomes one dialog line."""
        from app.eval import find_images

        failures = []
        for p in paths:
            if Path(p).is_dir():
                # a folder is listed at once; its images are decoded when first shown
                found = [Path(q) for q in find_images([p])]
                if not found:  # a classification set: one folder per class (ImageNet's)
                    found = [Path(q) for d in sorted(Path(p).iterdir()) if d.is_dir()
                             for q in find_images([d])]
                edms = sorted(Path(p).glob("*.edms"))
                if not found and not edms:
                    failures.append(f"{Path(p).name}: no images in this folder")
                    continue
                first = self._list_folder(found)
                self.settings.setValue("lastFolder", str(Path(p)))
                self._add_recent(str(p))
                for path in edms:
                    failures += self._open_file(path, remember=False)
                if first is not None:
                    self._show_entry(first)
            else:
                failures += self._open_file(Path(p))
        if failures:
            self.show_error("Could not open:\n" + "\n".join(failures), "Open failed")

    def _open_file(self, path: Path, remember: bool = True) -> list[str]:
        """Open one file (or show it, if it is open already); the failures, as lines."""
        known = self.session.find_path(str(path))
        if known is not None:  # the same file again: show it, no second entry
            self._show_entry(known.id)
            self.model.notify(f"{path.name} is open already", 4000)
            return []
        try:
            if _is_edms(path):
                self._open_edms(path)
            else:
                self._open_image(path)
        except (EdmsError, OSError, ValueError) as exc:
            return [_pixel_hint(f"{path.name}: {exc}" if path.name not in str(exc)
                                else str(exc))]
        if remember:
            self.settings.setValue("lastFolder", str(path.parent))
            self._add_recent(str(path))
        return []

    def _show_entry(self, image_id: int) -> None:
        self.select_image(image_id)

    def on_image_selected(self) -> None:
        data = self.ui.image_combo.currentData()
        if data is not None:
            self.select_image(int(data))

    def select_image(self, image_id: int) -> None:
        """Make an image current (decoding a listed file first) and ask for its panes."""
        entry = self.session.images.get(image_id)
        if entry is not None and entry.pending and not self.load_pending(entry):
            return
        self.model.select(image_id)
        self.ui.compare.fit()
        self.jobs.request_both()
        if entry is not None and self.model.ready:
            self.jobs.analyse_truth(entry)

    def close_image(self) -> None:
        if self.model.current_id is None:
            return
        nxt = self.model.close_current()
        if nxt is not None:
            self.select_image(nxt)

    def next_image(self, step: int = 1) -> None:
        nxt = self.model.step(step)
        if nxt is not None:
            self.select_image(nxt)

    def _list_folder(self, paths: list[Path]) -> int | None:
        """List a folder's images without decoding them; the first new one's id."""
        first = None
        for path in paths:
            known = self.session.find_path(str(path))
            if known is not None:
                first = first or known.id
                continue
            entry = self.model.add_pending(path.name, str(path))
            first = first or entry.id
        return first

    def load_pending(self, entry: ImageEntry) -> bool:
        """Decode a listed image (when it is first shown); a failure is a dialog and the
        entry goes away."""
        from app.imageio import load_image

        try:
            loaded = load_image(entry.path or "", max_pixels=self.max_pixels())
            self.model.load_pending(entry.id, loaded.array, loaded.notes)
        except (EdmsError, OSError, ValueError) as exc:
            self.model.remove_image(entry.id)
            self.show_error(_pixel_hint(str(exc)), "Open failed")
            return False
        self._attach_truth(entry)
        if loaded.notes:
            self.model.notify(f"{entry.name}: " + "; ".join(loaded.notes), 8000)
        return True

    def _open_image(self, path: Path) -> None:
        from app.imageio import load_image

        loaded = load_image(path, max_pixels=self.max_pixels())
        entry = self.model.add_image(path.name, loaded.array, str(path), loaded.notes)
        self._attach_truth(entry)
        self.select_image(entry.id)
        if loaded.notes:
            self.model.notify(f"{path.name}: " + "; ".join(loaded.notes), 8000)

    def _attach_truth(self, entry: ImageEntry) -> None:
        """Give an opened image the ground truth lying beside it (CamVid's ``annot``
        folder, Cityscapes' ``gtFine``, an Imagenette class folder), if there is one; a
        label map that does not fit is a status message, not an error."""
        from app.tasks import find_truth, load_truth

        if not entry.path or entry.is_edms:
            return
        try:
            truth = find_truth(entry.path)
            if truth is not None:
                value = load_truth(truth, entry.array.shape[:2])
                self.model.set_truth(entry.id, truth.task, value, truth.source)
        except (EdmsError, OSError, ValueError) as exc:
            self.model.notify(f"{entry.name}: ground truth not used: {exc}", 8000)

    def open_label_map(self) -> None:
        """Choose the ground-truth label map of the current image by hand (a PNG of
        CamVid class indices, 11 or more for void, as the CamVid ``annot`` files)."""
        entry = self.current()
        if entry is None or entry.is_edms:
            self.show_error("Open an image first: a label map is the ground truth of the "
                            "current image (not of a decoded .edms file).")
            return
        start = str(Path(entry.path).parent) if entry.path else ""
        path, _ = QFileDialog.getOpenFileName(
            self.ui.window, f"Ground truth of {entry.name}", start,
            "Label maps (*.png *.bmp *.tif *.tiff);;All files (*)")
        self.refocus()
        if path:
            self.set_label_map(path)

    def set_label_map(self, path: str) -> bool:
        """Use the label map at ``path`` as the current image's ground truth."""
        from app.tasks import label_map_truth, load_truth

        entry = self.current()
        if entry is None:
            return False
        try:
            truth = label_map_truth(entry.path, path)
            self.model.set_truth(entry.id, truth.task,
                                 load_truth(truth, entry.array.shape[:2]), truth.source)
        except (EdmsError, OSError, ValueError) as exc:
            text = str(exc).replace(str(Path(path)), Path(path).name)
            self.show_error(text if Path(path).name in text else f"{Path(path).name}: {text}",
                            "Label map not used")
            return False
        self.jobs.truth_changed(entry)
        self.model.notify(f"{entry.name}: ground truth {entry.truth_source}", 6000)
        return True

    def _open_edms(self, path: Path) -> None:
        from app.container import describe

        data = path.read_bytes()
        header = describe(data)  # strict parse: a bad file raises EdmsFormatError here
        job = self.worker.submit(Job(kind="decode", data=data, name=path.name))
        self.pending_edms[job.id] = (str(path), header)
        self.model.notify(f"Decoding {path.name} ({header['pipeline']})…", 0)

    def open_sample(self, key: str) -> None:
        import skimage.data

        try:
            arr = np.ascontiguousarray(getattr(skimage.data, key)()[..., :3]).astype(np.uint8)
        except Exception as exc:  # noqa: BLE001 - a missing sample is a dialog
            self.show_error(f"sample {key!r} is not available: {exc}")
            return
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        self.select_image(self.model.add_image(f"{key} (scikit-image)", arr).id)

    def add_array(self, name: str, array: np.ndarray) -> ImageEntry:
        """Add an in-memory image (scripts, tests)."""
        entry = self.model.add_image(name, array)
        self.select_image(entry.id)
        return entry

    def on_decoded(self, job: Job, result: Result) -> None:
        """An opened ``.edms`` file was decoded: it is an image (A: as decoded, B: its
        result, with the file's header)."""
        if job.kind != "decode":
            return
        path, header = self.pending_edms.pop(job.id, ("", {}))
        entry = self.model.add_image(Path(path).name or job.name, result.decoded, path,
                                     header=header)
        result.image_id = entry.id
        self.session.add_result(result)
        self.model.set_pane("A", ORIGINAL)
        self.model.set_pane("B", result.pipeline, result.params)
        self.select_image(entry.id)
        self.model.notify(
            f"{Path(path).name}: {header.get('pipeline')} v{header.get('pipeline_version')}, "
            f"{header.get('width')}×{header.get('height')}, "
            f"{params_label(header.get('params', {}))}, {header.get('total_bytes')} bytes "
            f"({header.get('bpp', 0):.4f} bpp)", 10000)

    def on_decode_failed(self, job: Job, message: str) -> None:
        if job.kind == "decode":
            path, _ = self.pending_edms.pop(job.id, (job.name, {}))
            self.show_error(f"{Path(path).name}: {message}", "Cannot decode")

    def pane_menu(self, canvas, pos) -> None:  # noqa: ANN001
        """The context menu of a pane: save, export, copy, inspect, swap, zoom."""
        from PySide6.QtWidgets import QMenu

        side = self.ui.canvas_side(canvas, pos)
        menu = QMenu(self.ui.window)
        menu.addAction(f"Save pane {side} as shown…", lambda: self._save_pane(side))
        if self.model.panes[side].shown is not None:
            menu.addAction(f"Export pane {side} as .edms…", lambda: self._export_pane(side))
        menu.addAction(f"Copy pane {side} to clipboard", lambda: self._copy_pane(side))
        menu.addAction(f"Inspect layers of pane {side}", lambda: self.inspect(side))
        menu.addSeparator()
        menu.addAction("Swap A and B", self.jobs.swap_panes)
        menu.addAction("Zoom to fit", self.ui.compare.fit)
        menu.addAction("Actual pixels (1:1)", self.ui.compare.one_to_one)
        menu.exec(canvas.mapToGlobal(pos))

    def _export_pane(self, side: str) -> None:
        self.model.set_active(side)
        self.export_edms()

    def _save_pane(self, side: str) -> None:
        from app.imageio import save_image_atomic

        img = self.model.image_for(side, self.ui.heat_check.isChecked())
        if img is None:
            return
        shown = self.model.panes[side].shown
        name = shown.pipeline if shown else "original"
        path = self.ask_save_path(f"Save pane {side}", f"pane{side}-{name}.png",
                                  "PNG (*.png);;TIFF (*.tif *.tiff);;WebP lossless (*.webp)")
        if path:
            try:
                save_image_atomic(path, img)
            except EdmsError as exc:
                self.show_error(str(exc))

    def _copy_pane(self, side: str) -> None:
        from app.gui.canvas import to_pixmap

        img = self.model.image_for(side, self.ui.heat_check.isChecked())
        if img is not None:
            QApplication.clipboard().setPixmap(to_pixmap(img))
            self.model.notify(f"Pane {side} copied", 3000)

    def _export_result(self) -> Result | None:
        return self.model.export_result()

    def _export_side(self) -> str:
        """The pane Export and Save take (the active one, named in the menu)."""
        return self.model.export_side()

    def export_edms(self) -> None:
        r = self._export_result()
        entry = self.current()
        if r is None or entry is None:
            self.show_error("Nothing to export: compress the image first (pane B or A).")
            return
        side = self._export_side()
        stem = Path(entry.name).stem.split(" ")[0]
        suggested = f"{stem}-{r.pipeline}-{'-'.join(f'{k}{v}' for k, v in r.params.items())}.edms"
        path = self.ask_save_path(f"Export pane {side} ({r.pipeline} {params_label(r.params)}) as "
                                  ".edms", suggested, "EDMS files (*.edms)")
        if not path:
            return
        try:
            write_text_atomic(path, r.edms)
        except OSError as exc:
            self.show_error(f"Cannot write {path}: {exc}")
            return
        self.model.notify(f"Wrote pane {side} to {path} ({len(r.edms)} bytes)",
                                     6000)

    def save_decoded(self) -> None:
        from app.imageio import save_image_atomic

        r = self._export_result()
        entry = self.current()
        if r is None or entry is None:
            self.show_error("Nothing to save: compress the image first.")
            return
        side = self._export_side()
        stem = Path(entry.name).stem.split(" ")[0]
        path = self.ask_save_path(f"Save pane {side}'s decoded image ({r.pipeline} "
                                  f"{params_label(r.params)})", f"{stem}-{r.pipeline}-decoded.png",
                                  "PNG (*.png);;TIFF (*.tif *.tiff);;WebP lossless (*.webp);;"
                                  "PPM (*.ppm);;BMP (*.bmp)")
        if not path:
            return
        try:
            save_image_atomic(path, r.decoded)
        except EdmsError as exc:
            self.show_error(str(exc))
            return
        self.model.notify(f"Saved pane {side} to {path}", 6000)

    def ask_folder(self, title: str) -> str:
        """A folder to write into, starting in the folder last saved to."""
        folder = str(self.settings.value("lastSaveFolder", str(Path.home())))
        path = QFileDialog.getExistingDirectory(self.ui.window, title, folder)
        if path:
            self.settings.setValue("lastSaveFolder", path)
        return path

    def ask_reference_paths(self) -> list[str]:
        """Results files to add as reference curves; the dialog starts in the folder last
        used, else in the shipped published curves."""
        from app.refcurves import published_root

        folder = str(self.settings.value("lastReferenceFolder", str(published_root())))
        paths, _ = QFileDialog.getOpenFileNames(
            self.ui.window, "Add reference curves (CompressAI results files)", folder,
            "CompressAI results (*.json);;All files (*)")
        if paths:
            self.settings.setValue("lastReferenceFolder", str(Path(paths[0]).parent))
        return paths

    def add_reference_curves(self) -> None:
        """Data ▸ Add Reference Curve…: published curves (CompressAI results files) in the
        RD plot (dashed, "(published)"), the BD table and the anchor menu, as
        ``edms eval --reference-curves``. Unreadable files are one dialog, one line each;
        the readable ones of the same choice are still added."""
        from app.refcurves import ReferenceCurveError, read_curve

        curves, errors = [], []
        for path in self.ask_reference_paths():
            try:
                curves.append(read_curve(path))
            except ReferenceCurveError as exc:
                errors.append(str(exc))
        added = self.ui.rd_panel.add_references(curves)
        if added:
            self.model.notify(
                "Reference curve(s): " + ", ".join(c.label for c in added), 6000)
        if errors:
            self.show_error("\n".join(errors), "Reference curves")

    def clear_reference_curves(self) -> None:
        """Data ▸ Clear Reference Curves."""
        self.ui.rd_panel.clear_references()

    def export_rd(self, what: str) -> None:
        from app.eval import plot_rd

        entry = self.current()
        every = self.ui.rd_panel.scope() == "all"
        points = self.session.all_points() if every else (
            self.session.rd_points(entry.id) if entry else [])
        if entry is None or not points:
            self.show_error("No RD points yet: compress or sweep first.")
            return
        stem = "all-images" if every else Path(entry.name).stem.split(" ")[0]
        image_id = None if every else entry.id
        try:
            if what == "plot":
                path = self.ask_save_path("Export RD plot", f"{stem}-rd.png",
                                          "PNG (*.png);;PDF (*.pdf);;SVG (*.svg)")
                if path:
                    if Path(path).suffix.lower() not in (".png", ".pdf", ".svg"):
                        path += ".png"
                    from app.eval import aggregate

                    title = f"mean of {len(self.session.images)} images" if every else entry.name
                    plot_rd(aggregate(points), path, title=title,
                            references=self.ui.rd_panel.references)
            elif what == "csv":
                path = self.ask_save_path("Export RD data", f"{stem}-rd.csv", "CSV (*.csv)")
                if path:
                    write_text_atomic(path, self.session.csv_text(image_id))
            else:
                path = self._export_compressai(points)
        except (OSError, EdmsError, ValueError) as exc:
            self.show_error(f"Export failed: {exc}")
            return
        if path:
            self.model.notify(f"Wrote {path}", 6000)

    def _export_compressai(self, points: list) -> str:
        """One CompressAI results file per pipeline (``PIPELINE.json``, as ``edms eval
        --json-dir``) into a folder the user picks; asks before replacing files. Returns
        what was written, for the status bar ("" if nothing)."""
        from app.eval import aggregate
        from app.refcurves import file_name, write_results_dir

        folder = self.ask_folder("Export RD data as CompressAI results files (one per "
                                 "pipeline)")
        if not folder:
            return ""
        summary = aggregate(points)
        existing = [n for n in map(file_name, summary) if Path(folder, n).exists()]
        if existing and QMessageBox.question(
                self.ui.window, "Replace files?",
                f"{folder} already has {', '.join(existing)}. Replace?") \
                != QMessageBox.StandardButton.Yes:
            return ""
        written = write_results_dir(folder, summary)
        return f"{', '.join(p.name for p in written)} in {folder}"


def _pixel_hint(message: str) -> str:
    """The pixel-limit message points to the window's setting, not only the CLI flag."""
    return message.replace("raise it with --max-pixels",
                           "raise it in Settings ▸ Maximum Image Size… (or with --max-pixels)")


def _is_edms(path: Path) -> bool:
    if path.suffix.lower() == ".edms":
        return True
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"EDMS"
    except OSError:
        return False

