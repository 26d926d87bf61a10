"""The window's menu actions and shortcuts, as a table (napari keeps its actions apart
from the widgets that trigger them the same way).

Each :class:`ActionSpec` row names a method of the window (a dotted path such as
``compare.fit`` reaches a child), the menu it sits in, its text and shortcut. Rows with
``kind="menu"`` make a sub-menu the window fills itself (samples, recent files, devices)
and ``kind="separator"`` a separator. :func:`build_menus` turns the table into menus.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

SK = QKeySequence.StandardKey

MENUS = ("&File", "&View", "&Compress", "&Data", "&Settings", "&Help")


@dataclass(frozen=True)
class ActionSpec:
    """One menu row: ``id`` is the object name (and, with ``attr``, where the window
    keeps it), ``callback`` the window method called with ``args`` (a checkable action
    passes its new state instead)."""

    id: str
    text: str
    menu: str
    callback: str = ""
    shortcut: str | QKeySequence.StandardKey | None = None
    args: tuple = ()
    checkable: bool = False
    attr: str = ""
    kind: str = "action"  # "action", "menu" or "separator"


def _sep(menu: str) -> ActionSpec:
    return ActionSpec("", "", menu, kind="separator")


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("actionOpen", "&Open…", "&File", "open_dialog", SK.Open, attr="action_open"),
    ActionSpec("menuSamples", "Open &Sample", "&File", kind="menu", attr="menu_samples"),
    ActionSpec("menuRecent", "Open &Recent", "&File", kind="menu", attr="menu_recent"),
    ActionSpec("actionOpenLabels", "Open &Ground Truth Label Map…", "&File",
               "open_label_map", attr="action_open_labels"),
    _sep("&File"),
    ActionSpec("actionExportEdms", "&Export .edms…", "&File", "export_edms", "Ctrl+E",
               attr="action_export"),
    ActionSpec("actionSaveDecoded", "&Save Decoded Image…", "&File", "save_decoded", SK.Save,
               attr="action_save"),
    _sep("&File"),
    ActionSpec("actionNextImage", "&Next Image", "&File", "next_image", "Ctrl+PgDown", (1,)),
    ActionSpec("actionPreviousImage", "&Previous Image", "&File", "next_image", "Ctrl+PgUp",
               (-1,)),
    ActionSpec("actionCloseImage", "&Close Image", "&File", "close_image", SK.Close,
               attr="action_close_image"),
    ActionSpec("actionQuit", "&Quit", "&File", "close", SK.Quit),
    ActionSpec("actionFit", "Zoom to &Fit", "&View", "compare.fit", "Ctrl+0"),
    ActionSpec("actionOneToOne", "&Actual Pixels (1:1)", "&View", "compare.one_to_one",
               "Ctrl+1"),
    ActionSpec("actionZoomIn", "Zoom &In", "&View", "compare.zoom_by", SK.ZoomIn, (1.25,)),
    ActionSpec("actionZoomOut", "Zoom &Out", "&View", "compare.zoom_by", SK.ZoomOut, (0.8,)),
    _sep("&View"),
    ActionSpec("actionSwipe", "&Swipe Compare", "&View", "swipe_check.setChecked",
               "Ctrl+Shift+W", checkable=True, attr="action_swipe"),
    ActionSpec("actionOverlay", "Segmentation &Overlay", "&View", "overlay_check.setChecked",
               "Ctrl+Shift+O", checkable=True, attr="action_overlay"),
    ActionSpec("actionHeat", "Error &Heat Map", "&View", "heat_check.setChecked",
               "Ctrl+Shift+H", checkable=True, attr="action_heat"),
    _sep("&View"),
    ActionSpec("menuDocks", "", "&View", kind="menu", attr="menu_docks"),
    ActionSpec("actionMatch", "&Match Bitrate (B to A)", "&Compress", "match_bitrate",
               "Ctrl+M"),
    ActionSpec("actionRerun", "&Re-run Both Panes", "&Compress", "rerun", "Ctrl+R"),
    ActionSpec("actionSwap", "S&wap A and B", "&Compress", "swap_panes", "Ctrl+Shift+X"),
    ActionSpec("actionSweep", "&Sweep Checked Pipelines", "&Compress", "sweep_checked",
               "Ctrl+Shift+R"),
    ActionSpec("actionCancel", "&Cancel", "&Compress", "cancel", "Esc"),
    _sep("&Compress"),
    ActionSpec("menuDevice", "&Device", "&Compress", kind="menu", attr="menu_device"),
    ActionSpec("actionExportPlot", "Export RD &Plot (PNG/PDF/SVG)…", "&Data", "export_rd",
               args=("plot",)),
    ActionSpec("actionExportCsv", "Export RD Data as &CSV…", "&Data", "export_rd",
               args=("csv",)),
    ActionSpec("actionExportJson", "Export RD Data as &JSON (CompressAI)…", "&Data",
               "export_rd", args=("json",)),
    _sep("&Data"),
    ActionSpec("actionAddReference", "Add &Reference Curve…", "&Data",
               "add_reference_curves", attr="action_add_reference"),
    ActionSpec("actionClearReferences", "C&lear Reference Curves", "&Data",
               "clear_reference_curves", attr="action_clear_references"),
    ActionSpec("actionMaxPixels", "&Maximum Image Size…", "&Settings", "ask_max_pixels"),
    ActionSpec("actionShortcuts", "&Keyboard Shortcuts", "&Help", "show_shortcuts",
               SK.HelpContents),
    ActionSpec("actionFormat", "File &Format", "&Help", "open_format_spec"),
    ActionSpec("actionAbout", "&About", "&Help", "about"),
)


def shortcut_rows(actions: tuple[ActionSpec, ...] = ACTIONS) -> list[tuple[str, str, str]]:
    """(menu, command, keys) of every action with a shortcut, in menu order, with the keys
    as this platform writes them."""
    rows = []
    for spec in actions:
        if spec.kind != "action" or spec.shortcut is None:
            continue
        keys = QKeySequence(spec.shortcut).toString(QKeySequence.SequenceFormat.NativeText)
        if keys:
            rows.append((spec.menu.replace("&", ""), spec.text.replace("&", "").rstrip("…"),
                         keys))
    return rows


def _resolve(window: object, path: str):  # noqa: ANN202 - a bound method
    target = window
    for part in path.split("."):
        target = getattr(target, part)
    return target


def _call(window: object, spec: ActionSpec, checked: bool = False) -> None:
    fn = _resolve(window, spec.callback)
    if spec.checkable:
        fn(checked)
    else:
        fn(*spec.args)


def build_menus(window: QMainWindow, actions: tuple[ActionSpec, ...] = ACTIONS,
                holder: object = None) -> dict[str, QAction | QMenu]:
    """Menus of ``window``'s menu bar from the table; returns every action and sub-menu by
    id, and sets the ``attr`` rows as attributes of ``holder`` (the window by default).
    A sub-menu row without text (``menuDocks``) adds its entries straight into the parent
    menu later."""
    bar = window.menuBar()
    menus = {name: bar.addMenu(name) for name in MENUS}
    made: dict[str, QAction | QMenu] = {}
    for spec in actions:
        menu = menus[spec.menu]
        if spec.kind == "separator":
            menu.addSeparator()
            continue
        if spec.kind == "menu":
            item: QAction | QMenu = menu.addMenu(spec.text) if spec.text else menu
            if spec.text:
                item.setObjectName(spec.id)
        else:
            item = QAction(spec.text, window)
            item.setObjectName(spec.id)
            if spec.shortcut is not None:
                item.setShortcut(QKeySequence(spec.shortcut))
            item.setCheckable(spec.checkable)
            item.triggered.connect(functools.partial(_call, window, spec))
            menu.addAction(item)
        made[spec.id] = item
        if spec.attr:
            setattr(window if holder is None else holder, spec.attr, item)
    return made
