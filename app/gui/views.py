"""The window's views, subscribed to the model's events (:class:`app.workbench.WorkbenchEvents`).

Each view draws one part of the window from the :class:`app.workbench.Workbench` when
the model announces a change to it: :class:`PaneViews` the two panes (images, captions,
overlay, error scale, legend), the side panels' numbers and settings, File ▸ Export's
name and the layer inspector; :class:`DataViews` the RD curves and the results table
(batched, and only when on screen); :class:`ImageList` the image menu; the status bar
shows the model's messages. Nobody has to call a refresh after changing the model.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer

from app.gui.ui import WindowUI, on_screen
from app.session import ImageEntry, colorize_segmentation
from app.workbench import SIDES, Workbench

RD_BATCH_MS = 80  # results arriving together redraw the RD plot and the table once


class PaneViews:
    """Panes A and B, their side panels, File ▸ Export's name and the inspector."""

    def __init__(self, ui: WindowUI, model: Workbench) -> None:
        self.ui, self.model = ui, model
        ev = model.events
        ev.current.connect(self.refresh_all)
        ev.pane.connect(self.refresh_side)
        ev.info.connect(self.refresh_info)
        ev.setting.connect(self.show_setting)
        ev.setting.connect(self.set_caption)
        ev.active.connect(self.name_export_actions)
        ui.overlay_check.toggled.connect(self.refresh_overlay_and_captions)
        ui.overlay_mode.currentIndexChanged.connect(self.refresh_overlay_and_captions)
        ui.overlay_opacity.valueChanged.connect(
            lambda v: ui.compare.set_overlay_opacity(v / 100.0))
        ui.heat_check.toggled.connect(self.refresh_panes)
        for panel in ui.panels.values():  # the model's pane follows its controls
            panel.edited.connect(lambda side: model.set_pane(
                side, ui.panels[side].pipeline(), ui.panels[side].params(), announce=False))
        ui.inspector.side.currentIndexChanged.connect(self.refresh_inspector)
        ui.dock_inspector.visibilityChanged.connect(
            lambda v: self.refresh_inspector() if v else None)

    def refresh_all(self) -> None:
        self.refresh_panes()
        for side in SIDES:
            self.show_setting(side)
        self.ui.rd_panel.set_tasks({e.task for e in self.model.session.images.values()})

    def refresh_panes(self) -> None:
        for side in SIDES:
            self.refresh_side(side)
        self.refresh_error_scale()

    def show_setting(self, side: str) -> None:
        """The side panel shows the pane's setting; the model takes the panel's form of it
        (the parameters a pipeline has, with their defaults)."""
        pane, panel = self.model.panes[side], self.ui.panels[side]
        if (panel.pipeline(), panel.params()) != (pane.pipeline, pane.params):
            panel.set_source(pane.pipeline, pane.params, emit=False)
        self.model.set_pane(side, panel.pipeline(), panel.params(), announce=False)

    def image_for(self, side: str) -> np.ndarray | None:
        return self.model.image_for(side, self.ui.heat_check.isChecked())

    def caption_text(self, side: str) -> str:
        ui = self.ui
        carried = ui.overlay_check.isChecked() and ui.overlay_mode.currentData() == "carried"
        return self.model.caption(side, False, ui.heat_check.isChecked(), carried)

    def set_caption(self, side: str) -> None:
        compare = self.ui.compare
        if compare.mode() == "swipe":
            compare.swipe.set_captions(self.caption_text("A"), self.caption_text("B"))
        else:
            (compare.pane_a if side == "A" else compare.pane_b).set_caption(
                self.caption_text(side))

    def refresh_side(self, side: str) -> None:
        compare = self.ui.compare
        if compare.mode() == "swipe":
            compare.swipe.set_images(self.image_for("A"), self.image_for("B"))
        else:
            pane = compare.pane_a if side == "A" else compare.pane_b
            pane.set_image(self.image_for(side))
        self.refresh_info(side, True)
        self.refresh_error_scale()
        if self.ui.inspector.side.currentData() == side and on_screen(self.ui.inspector):
            self.refresh_inspector()

    def refresh_info(self, side: str, overlay: bool = False) -> None:
        """Caption and numbers of pane ``side`` (and the overlays)."""
        self.set_caption(side)
        why = self.model.fixed_setting()
        panel = self.ui.panels[side]
        panel.set_params_enabled(not why, why)
        panel.show_numbers(self.model.panes[side].shown, self.model.note(side),
                           self.model.accuracy_text(side))
        self.name_export_actions()
        if overlay:
            self.refresh_overlay()

    def refresh_error_scale(self) -> None:
        ui = self.ui
        heat = ui.heat_check.isChecked() and self.model.current() is not None
        ui.error_scale.setVisible(heat)
        if heat:
            ui.error_scale.set_peak(self.model.error_peak())
        if self.model.current() is None:
            for c in ui.compare.canvases():
                c.set_image(None)
                c.set_caption("")
            ui.compare.swipe.set_captions("", "")

    def name_export_actions(self) -> None:
        """File ▸ Export and Save name the pane (and result) they take."""
        what = self.model.export_label()
        self.ui.action_export.setText(f"&Export {what} as .edms…")
        self.ui.action_save.setText(f"&Save {what} Decoded Image…")

    def refresh_overlay(self) -> None:
        """Each pane overlays its own map in the chosen mode, or says why it cannot."""
        ui, entry = self.ui, self.model.current()
        truth = entry is not None and entry.task == "segmentation"
        mode = ui.overlay_mode.currentData() or "classes"
        on = ui.overlay_check.isChecked()
        maps: dict[str, np.ndarray | None] = {}
        notes: dict[str, str] = {}
        for side in SIDES:
            data, why = self.model.pane_overlay(side, mode)
            if data is not None and mode == "classes":
                data = colorize_segmentation(data)
            maps[side], notes[side] = data, why
        ok = any(m is not None for m in maps.values())
        compare = ui.compare
        compare.set_overlays(maps["A"] if on else None, maps["B"] if on else None)
        swipe = compare.mode() == "swipe"
        for side, canvas in (("A", compare.pane_a), ("B", compare.pane_b)):
            canvas.set_note(f"Overlay: {notes[side]}" if on and notes[side] and not swipe
                            else "")
        compare.swipe.set_note(" · ".join(f"{s}: {notes[s]}" for s in SIDES
                                          if notes[s]) if on and swipe else "")
        ui.overlay_check.setEnabled(entry is not None)
        ui.overlay_check.setToolTip(
            "Overlay the segmentation map each pane's result carries" if mode == "classes"
            else "Overlay, in red, the pixels each pane's segmentation gets wrong against "
                 "the ground truth" if truth else
            "This image has no ground-truth label map: the error modes cannot apply")
        compare.set_overlay_opacity(ui.overlay_opacity.value() / 100.0)
        ui.legend.setVisible(on and ok and mode == "classes")

    def refresh_overlay_and_captions(self) -> None:
        self.refresh_overlay()
        for side in SIDES:
            self.set_caption(side)

    def refresh_inspector(self) -> None:
        entry = self.model.current()
        side = self.ui.inspector.side.currentData() or "B"
        self.ui.inspector.set_result(entry.array if entry else None, self.model.shown.get(side))

    def inspect(self, side: str) -> None:
        """Show the layers of pane ``side`` in the Layers dock."""
        inspector = self.ui.inspector
        inspector.side.setCurrentIndex(inspector.side.findData(side))
        self.ui.dock_inspector.show()
        self.ui.dock_inspector.raise_()
        self.refresh_inspector()


class DataViews:
    """The RD curves (with their BD table) and the results table of the current image,
    or of every image; redrawn in batches, and only when on screen (a hidden one is
    redrawn when it is shown)."""

    def __init__(self, ui: WindowUI, model: Workbench, parent: QObject) -> None:
        self.ui, self.model = ui, model
        self.force = False  # draw hidden views too (screenshots, tests)
        self.timer = QTimer(parent)
        self.timer.setSingleShot(True)
        self.timer.setInterval(RD_BATCH_MS)
        self.timer.timeout.connect(self.refresh)
        ev = model.events
        ev.current.connect(self.refresh)
        ev.results.connect(lambda _id: self.timer.start())
        ev.pane.connect(lambda _side: self.timer.start())  # the shown points are marked
        for dock in (ui.dock_results, ui.dock_rd):
            dock.visibilityChanged.connect(lambda v: self.refresh() if v else None)
        rd = ui.rd_panel
        for combo in (rd.metric_combo, rd.scope_combo, rd.anchor):
            combo.currentIndexChanged.connect(self.refresh_rd)
        rd.references_changed.connect(self.refresh_rd)

    def refresh(self) -> None:
        """Results table and RD curves; hidden ones are redrawn when they are shown."""
        entry = self.model.current()
        if on_screen(self.ui.results_table) or self.force:
            self.ui.results_table.set_results(
                self.model.session.results_for(entry.id) if entry else [])
        if on_screen(self.ui.rd_panel) or self.force:
            self.refresh_rd()

    def refresh_rd(self) -> None:
        rd, session, entry = self.ui.rd_panel, self.model.session, self.model.current()
        anchor = rd.anchor.currentData() or ""
        if rd.scope() == "all":
            rd.update_curves(session.rd_series_mean(rd.metric_key()), [])
            try:
                rd.set_bd(session.bd_table_all(anchor, rd.metric_key(), rd.references), anchor)
            except Exception:  # noqa: BLE001 - too few points etc.: leave the table empty
                rd.set_bd({}, anchor)
            return
        if entry is None:
            rd.update_curves({}, [])
            rd.set_bd({}, "")
            return
        rd.update_curves(session.rd_series(entry.id, rd.metric_key()),
                         [r for r in self.model.shown.values() if r])
        try:
            rd.set_bd(session.bd_table(entry.id, anchor, rd.references), anchor)
        except Exception:  # noqa: BLE001 - too few points etc.: leave the table empty
            rd.set_bd({}, anchor)


class ImageList:
    """The tool bar's image menu: the open images, in order, the current one chosen."""

    def __init__(self, ui: WindowUI, model: Workbench) -> None:
        self.combo, self.model = ui.image_combo, model
        model.events.images.connect(self.refresh)
        model.events.current.connect(self.show_current)

    def refresh(self) -> None:
        combo, images = self.combo, self.model.session.images
        combo.blockSignals(True)
        for i in reversed(range(combo.count())):
            if combo.itemData(i) not in images:
                combo.removeItem(i)
        for entry in images.values():
            i = combo.findData(entry.id)
            if i < 0:
                combo.addItem(entry_label(entry), entry.id)
                i = combo.count() - 1
                combo.setItemData(i, entry.path or entry.name, Qt.ItemDataRole.ToolTipRole)
            elif combo.itemText(i) != entry_label(entry):
                combo.setItemText(i, entry_label(entry))
        self.show_current()
        combo.blockSignals(False)

    def show_current(self) -> None:
        i = self.combo.findData(self.model.current_id)
        if i >= 0 and i != self.combo.currentIndex():
            blocked = self.combo.blockSignals(True)
            self.combo.setCurrentIndex(i)
            self.combo.blockSignals(blocked)


def entry_label(entry: ImageEntry) -> str:
    if entry.pending:
        return entry.name
    return f"{entry.name}  ({entry.width}×{entry.height})"

