"""File handling of the main window: open (dialog, drop, samples, recent), export.

A mixin of :class:`app.gui.main_window.MainWindow`, kept apart so each module stays
small. Every write is atomic (temporary file + rename); every failure is a dialog.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QMenu,
    QMessageBox,
    QStatusBar,
    QWidget,
)

from app.errors import EdmsError
from app.gui.rdplot import RDPanel
from app.gui.worker import Job, Worker
from app.session import ImageEntry, Result, Session, write_text_atomic
from app.workbench import Workbench

IMAGE_FILTER = "Images and .edms files (*.png *.jpg *.jpeg *.ppm *.pgm *.bmp *.tif *.tiff " \
    "*.webp *.edms);;All files (*)"
SAMPLES = {
    "astronaut": "Astronaut (NASA, 512×512)",
    "chelsea": "Chelsea the cat (451×300)",
    "coffee": "Coffee cup (600×400)",
    "rocket": "Rocket launch (NASA, 640×427)",
}
MAX_RECENT = 10


class FileActions:
    """Open / drop / recent files / export; mixed into the main window.

    What it uses of the window is declared here; the window defines it.
    """

    settings: QSettings
    model: Workbench
    worker: Worker
    menu_recent: QMenu
    rd_panel: RDPanel
    _pending_edms: dict[int, tuple[str, dict]]

    if TYPE_CHECKING:  # the window's methods this mixin calls
        def show_error(self, message: str, title: str = ...) -> None: ...
        def max_pixels(self) -> int: ...
        def _select_image(self, image_id: int) -> None: ...
        image_combo: QComboBox
        def statusBar(self) -> QStatusBar: ...  # noqa: N802 - Qt's name
        def current(self) -> ImageEntry | None: ...
        def _add_entry(self, entry: ImageEntry, select: bool = ...) -> None: ...
        def _image_for(self, side: str) -> np.ndarray | None: ...
        def _truth_changed(self, entry: ImageEntry) -> None: ...

    @property
    def session(self) -> Session:
        return self.model.session

    def _as_widget(self) -> QWidget:
        """The window this is mixed into (a QMainWindow): the parent of dialogs and
        actions."""
        return cast(QWidget, self)

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
        if not hasattr(self, "menu_recent"):  # settings restored before the menus exist
            return
        self.menu_recent.clear()
        files = self.recent_files()
        for i, p in enumerate(files):
            act = QAction(f"&{i + 1} {Path(p).name}", self._as_widget())
            act.setToolTip(p)
            act.setObjectName(f"actionRecent{i}")
            act.triggered.connect(lambda _=False, q=p: self.open_paths([q]))
            self.menu_recent.addAction(act)
        if not files:
            act = self.menu_recent.addAction("(none)")
            act.setEnabled(False)
        else:
            self.menu_recent.addSeparator()
            clear = self.menu_recent.addAction("Clear List")
            clear.triggered.connect(self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.setValue("recentFiles", [])
        self._rebuild_recent()

    def refocus(self) -> None:
        """Give the keyboard back to the window after a modal dialog (without a window
        manager nobody else does, and the shortcuts would wait for a click)."""
        w = self._as_widget()
        w.activateWindow()
        w.raise_()
        w.setFocus(Qt.FocusReason.ActiveWindowFocusReason)

    def ask_open_paths(self) -> list[str]:
        folder = str(self.settings.value("lastFolder", str(Path.home())))
        paths, _ = QFileDialog.getOpenFileNames(self._as_widget(), "Open images or .edms files",
                                                folder, IMAGE_FILTER)
        self.refocus()
        return paths

    def ask_save_path(self, title: str, suggested: str, filters: str) -> str:
        """A path to write to, starting in the folder last saved to (not the folder the
        image came from, often a dataset's); remembered for the next save."""
        folder = Path(str(self.settings.value("lastSaveFolder", str(Path.home()))))
        path, _ = QFileDialog.getSaveFileName(self._as_widget(), title,
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
            self.statusBar().showMessage(f"{path.name} is open already", 4000)
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
        i = self.image_combo.findData(image_id)
        if i == self.image_combo.currentIndex():
            self._select_image(image_id)
        else:
            self.image_combo.setCurrentIndex(i)  # selects it

    def _list_folder(self, paths: list[Path]) -> int | None:
        """List a folder's images without decoding them; the first new one's id."""
        first = None
        for path in paths:
            known = self.session.find_path(str(path))
            if known is not None:
                first = first or known.id
                continue
            entry = self.session.add_pending(path.name, str(path))
            self._add_entry(entry, select=False)
            first = first or entry.id
        return first

    def _load_pending(self, entry: ImageEntry) -> bool:
        """Decode a listed image (when it is first shown); a failure is a dialog and the
        entry goes away."""
        from app.imageio import load_image

        try:
            loaded = load_image(entry.path or "", max_pixels=self.max_pixels())
            self.session.load_pending(entry.id, loaded.array, loaded.notes)
        except (EdmsError, OSError, ValueError) as exc:
            self.session.remove_image(entry.id)
            i = self.image_combo.findData(entry.id)
            self.image_combo.blockSignals(True)
            self.image_combo.removeItem(i)
            self.image_combo.blockSignals(False)
            self.show_error(_pixel_hint(str(exc)), "Open failed")
            return False
        i = self.image_combo.findData(entry.id)
        if i >= 0:
            self.image_combo.setItemText(i, f"{entry.name}  ({entry.width}×{entry.height})")
        self._attach_truth(entry)
        if loaded.notes:
            self.statusBar().showMessage(f"{entry.name}: " + "; ".join(loaded.notes), 8000)
        return True

    def _open_image(self, path: Path) -> None:
        from app.imageio import load_image

        loaded = load_image(path, max_pixels=self.max_pixels())
        entry = self.model.add_image(path.name, loaded.array, str(path), loaded.notes)
        self._attach_truth(entry)
        self._add_entry(entry)
        if loaded.notes:
            self.statusBar().showMessage(f"{path.name}: " + "; ".join(loaded.notes), 8000)

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
                self.session.set_truth(entry.id, truth.task, value, truth.source)
        except (EdmsError, OSError, ValueError) as exc:
            self.statusBar().showMessage(f"{entry.name}: ground truth not used: {exc}", 8000)

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
            self._as_widget(), f"Ground truth of {entry.name}", start,
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
            self.session.set_truth(entry.id, truth.task,
                                   load_truth(truth, entry.array.shape[:2]), truth.source)
        except (EdmsError, OSError, ValueError) as exc:
            text = str(exc).replace(str(Path(path)), Path(path).name)
            self.show_error(text if Path(path).name in text else f"{Path(path).name}: {text}",
                            "Label map not used")
            return False
        self._truth_changed(entry)
        return True

    def _open_edms(self, path: Path) -> None:
        from app.container import describe

        data = path.read_bytes()
        header = describe(data)  # strict parse: a bad file raises EdmsFormatError here
        job = self.worker.submit(Job(kind="decode", data=data, name=path.name))
        self._pending_edms[job.id] = (str(path), header)
        self.statusBar().showMessage(f"Decoding {path.name} ({header['pipeline']})…")

    def open_sample(self, key: str) -> None:
        import skimage.data

        try:
            arr = np.ascontiguousarray(getattr(skimage.data, key)()[..., :3]).astype(np.uint8)
        except Exception as exc:  # noqa: BLE001 - a missing sample is a dialog
            self.show_error(f"sample {key!r} is not available: {exc}")
            return
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        self._add_entry(self.model.add_image(f"{key} (scikit-image)", arr))

    def add_array(self, name: str, array: np.ndarray) -> ImageEntry:
        """Add an in-memory image (scripts, tests)."""
        entry = self.model.add_image(name, array)
        self._add_entry(entry)
        return entry

    def dragEnterEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.open_paths(paths))

    def _save_pane(self, side: str) -> None:
        from app.imageio import save_image_atomic

        img = self._image_for(side)
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

        img = self._image_for(side)
        if img is not None:
            QApplication.clipboard().setPixmap(to_pixmap(img))
            self.statusBar().showMessage(f"Pane {side} copied", 3000)

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
        path = self.ask_save_path(f"Export pane {side} ({r.pipeline} {_plabel(r.params)}) as "
                                  ".edms", suggested, "EDMS files (*.edms)")
        if not path:
            return
        try:
            write_text_atomic(path, r.edms)
        except OSError as exc:
            self.show_error(f"Cannot write {path}: {exc}")
            return
        self.statusBar().showMessage(f"Wrote pane {side} to {path} ({len(r.edms)} bytes)",
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
                                  f"{_plabel(r.params)})", f"{stem}-{r.pipeline}-decoded.png",
                                  "PNG (*.png);;TIFF (*.tif *.tiff);;WebP lossless (*.webp);;"
                                  "PPM (*.ppm);;BMP (*.bmp)")
        if not path:
            return
        try:
            save_image_atomic(path, r.decoded)
        except EdmsError as exc:
            self.show_error(str(exc))
            return
        self.statusBar().showMessage(f"Saved pane {side} to {path}", 6000)

    def ask_folder(self, title: str) -> str:
        """A folder to write into, starting in the folder last saved to."""
        folder = str(self.settings.value("lastSaveFolder", str(Path.home())))
        path = QFileDialog.getExistingDirectory(self._as_widget(), title, folder)
        if path:
            self.settings.setValue("lastSaveFolder", path)
        return path

    def ask_reference_paths(self) -> list[str]:
        """Results files to add as reference curves; the dialog starts in the folder last
        used, else in the shipped published curves."""
        from app.refcurves import published_root

        folder = str(self.settings.value("lastReferenceFolder", str(published_root())))
        paths, _ = QFileDialog.getOpenFileNames(
            self._as_widget(), "Add reference curves (CompressAI results files)", folder,
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
        added = self.rd_panel.add_references(curves)
        if added:
            self.statusBar().showMessage(
                "Reference curve(s): " + ", ".join(c.label for c in added), 6000)
        if errors:
            self.show_error("\n".join(errors), "Reference curves")

    def clear_reference_curves(self) -> None:
        """Data ▸ Clear Reference Curves."""
        self.rd_panel.clear_references()

    def export_rd(self, what: str) -> None:
        from app.eval import plot_rd

        entry = self.current()
        every = self.rd_panel.scope() == "all"
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
                            references=self.rd_panel.references)
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
            self.statusBar().showMessage(f"Wrote {path}", 6000)

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
                self._as_widget(), "Replace files?",
                f"{folder} already has {', '.join(existing)}. Replace?") \
                != QMessageBox.StandardButton.Yes:
            return ""
        written = write_results_dir(folder, summary)
        return f"{', '.join(p.name for p in written)} in {folder}"

    dragMoveEvent = dragEnterEvent


def _plabel(params: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))


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

