"""The window's files: open (drop, folders, samples, recent), bad inputs, opened .edms
files, ground truth, save and export.

Driven headless with pytest-qt (QT_QPA_PLATFORM=offscreen); the window, its fakes
and helpers are in :mod:`tests.guikit`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox  # noqa: E402

from app.codecs import raw  # noqa: E402
from app.imageio import load_image  # noqa: E402
from app.pipelines.base import (  # noqa: E402
    Encoded,
    Layer,
    LayerKind,
)
from tests.badinputs import READABLE, UNREADABLE, make_bad_input_matrix  # noqa: E402
from tests.guikit import (  # noqa: E402
    _add,
    _drop,
    _idle,
    _set,
    _wait,
    synthetic,
)


def test_drop_folder_opens_its_images(win, tmp_path) -> None:
    from PIL import Image

    for i in range(2):
        Image.fromarray(synthetic(16, 24, 20 + i)).save(tmp_path / f"f{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    n = win.image_combo.count()
    win.panel_b.set_source("", emit=False)
    _drop(win, [tmp_path])
    _wait(lambda: win.image_combo.count() == n + 2)
    # listed at once, the first shown (and decoded), the others decoded when shown
    assert win.current().name == "f0.png" and not win.current().pending
    f1 = win.session.find_path(str(tmp_path / "f1.png"))
    assert f1 is not None and f1.pending and f1.array.size == 0
    assert win.image_combo.itemText(win.image_combo.findData(f1.id)) == "f1.png"
    win.next_image(1)
    assert win.current() is f1 and not f1.pending and f1.array.shape == (16, 24, 3)
    assert "16" in win.image_combo.itemText(win.image_combo.findData(f1.id))
    # the same folder (or file) again adds nothing
    _drop(win, [tmp_path])
    _drop(win, [tmp_path / "f0.png"])
    QApplication.processEvents()
    assert win.image_combo.count() == n + 2
    assert win.current().name == "f0.png"


def test_drop_opens_images(win, tmp_path) -> None:
    arrays = [synthetic(48, 64, 1), synthetic(40, 56, 2)]
    paths = []
    for i, a in enumerate(arrays):
        p = tmp_path / f"dropped{i}.png"
        from PIL import Image

        Image.fromarray(a).save(p)
        paths.append(p)
    n = win.image_combo.count()
    win.panel_b.set_source("", emit=False)
    _drop(win, paths)
    _wait(lambda: win.image_combo.count() == n + 2)
    entry = win.current()
    assert entry.name == "dropped1.png"
    np.testing.assert_array_equal(entry.array, arrays[1])
    assert win.compare.pane_a.image_item.pixmap().width() == 56
    assert str(paths[1]) in win.recent_files()


def test_export_edms_and_decoded_then_reopen_identical(win, tmp_path, monkeypatch) -> None:
    _add(win, "export", synthetic(72, 88, 7))
    result = _set(win, "B", "hevc", qp=33)
    target = tmp_path / "out.edms"
    monkeypatch.setattr(win.files, "ask_save_path", lambda *a: str(target))
    win.export_edms()
    assert target.read_bytes() == result.edms
    png = tmp_path / "decoded.png"
    monkeypatch.setattr(win.files, "ask_save_path", lambda *a: str(png))
    win.save_decoded()
    np.testing.assert_array_equal(load_image(png).array, result.decoded)
    n = win.image_combo.count()
    win.open_paths([str(target)])
    _wait(lambda: win.image_combo.count() == n + 1, 60)
    _idle(win)
    entry = win.current()
    assert entry.is_edms and entry.header["pipeline"] == "hevc"
    np.testing.assert_array_equal(entry.array, result.decoded)
    shown = win.compare.pane_a.image_item.pixmap().toImage()
    c = shown.pixelColor(5, 7)
    assert (c.red(), c.green(), c.blue()) == tuple(int(v) for v in result.decoded[7, 5])
    # RD exports
    for what, suffix in (("csv", ".csv"), ("plot", ".svg")):
        out = tmp_path / f"rd{suffix}"
        monkeypatch.setattr(win.files, "ask_save_path", lambda *a, o=out: str(o))
        win.current_id = result.image_id
        win.export_rd(what)
        assert out.stat().st_size > 0
    assert "hevc" in (tmp_path / "rd.csv").read_text()
    # JSON: one CompressAI results file per pipeline, into a folder
    monkeypatch.setattr(win.files, "ask_folder", lambda *a: str(tmp_path / "caj"))
    win.export_rd("json")
    doc = json.loads((tmp_path / "caj" / "hevc.json").read_text())
    assert set(doc) == {"name", "description", "results"} and doc["name"] == "hevc"
    assert result.bpp in doc["results"]["bpp"]
    assert len({len(v) for v in doc["results"].values()}) == 1
    # files already there are replaced only when the user says so
    asked: list[str] = []
    for answer, expected in ((QMessageBox.StandardButton.No, "old"),
                             (QMessageBox.StandardButton.Yes, None)):
        (tmp_path / "caj" / "hevc.json").write_text("old")
        monkeypatch.setattr(QMessageBox, "question",
                            staticmethod(lambda *a, r=answer: asked.append(a[2]) or r))
        win.export_rd("json")
        text = (tmp_path / "caj" / "hevc.json").read_text()
        assert "hevc.json" in asked[-1]
        assert text == expected if expected else json.loads(text)["name"] == "hevc"


def test_an_opened_menet_file_is_verified_and_shows_what_it_carries(win, tmp_path) -> None:
    """An .edms file whose decoder runs networks is decoded as the CLI decodes it: checked
    against its reconstruction hash, with the class map its bitstream carries as the
    overlay and the inspector's view. A wrong hash is a dialog, never a wrong image."""
    import dataclasses

    from app import api
    from app.container import from_bytes, to_bytes

    image = synthetic(40, 56, 35)
    enc, data = api.encode(image, "menet", {"quality": 2})
    good = tmp_path / "menet.edms"
    good.write_bytes(data)
    n, dialogs = win.image_combo.count(), len(win.dialogs)
    win.open_paths([str(good)])
    _wait(lambda: win.image_combo.count() == n + 1, 60)
    _idle(win)
    b = win.shown["B"]
    assert len(win.dialogs) == dialogs, win.dialogs[dialogs:]
    assert b is not None and b.from_file and b.pipeline == "menet"
    np.testing.assert_array_equal(b.decoded, enc.reconstruction)
    np.testing.assert_array_equal(b.views["segmentation"].array,
                                  enc.views["segmentation"].array)
    assert "segmentation" in b.carried
    assert [la.kind for la in b.layers] == ["side info", "image latent", "semantic latent",
                                            "check"]
    # the inspector lists what the file carries; no "original" nor error map (it has none)
    win.inspector.set_result(win.current().array, b)
    names = win.inspector.names()
    assert "segmentation" in names and "decoded" in names
    assert "original" not in names and not any(n.startswith("error map") for n in names)
    assert "layer 2: semantic latent" in win.model.note("A")
    # the same file with another reconstruction hash
    parsed = from_bytes(data)
    layers = [dataclasses.replace(la, data=bytes(len(la.data))) if la.kind == LayerKind.CHECK
              else la for la in parsed.layers]
    bad = tmp_path / "menet-bad-hash.edms"
    bad.write_bytes(to_bytes(dataclasses.replace(parsed, layers=layers)))
    win.open_paths([str(bad)])
    _wait(lambda: len(win.dialogs) > dialogs, 60)
    _idle(win)
    assert "decoded differently from the encoder" in win.dialogs[-1]


def test_bad_inputs_give_dialogs_never_crash(win, tmp_path) -> None:
    matrix = make_bad_input_matrix(tmp_path)
    win.panel_b.set_source("hevc", {"qp": 40}, emit=False)
    for name, path in matrix.items():
        before_dialogs, before_images = len(win.dialogs), win.image_combo.count()
        win.open_paths([str(path)])
        _idle(win)
        if name in UNREADABLE:
            assert len(win.dialogs) == before_dialogs + 1, name
            assert path.name in win.dialogs[-1]
            assert win.image_combo.count() == before_images
        else:
            assert name in READABLE
            assert win.image_combo.count() == before_images + 1, (name, win.dialogs[-1:])
            # and it compresses (1x1 and 7x13 included) without an error
            _wait(lambda: win.shown["B"] is not None, 60)
            _idle(win)
            assert len(win.dialogs) == before_dialogs, (name, win.dialogs[-1:])
    # corrupt .edms: refused while parsing, before the worker
    bad = tmp_path / "broken.edms"
    bad.write_bytes(b"EDMS\x01\x05garbage")
    n = len(win.dialogs)
    win.open_paths([str(bad)])
    assert len(win.dialogs) == n + 1 and "broken.edms" in win.dialogs[-1]
    # valid container naming an unknown pipeline: the worker's error becomes a dialog
    from app.container import to_bytes

    enc = Encoded("no-such-pipeline", 1, b"", 4, 4, {"qp": 1},
                  [Layer(LayerKind.IMAGE, raw().codec_id, raw().encode(synthetic(4, 4)))])
    alien = tmp_path / "alien.edms"
    alien.write_bytes(to_bytes(enc))
    win.open_paths([str(alien)])
    _wait(lambda: len(win.dialogs) == n + 2)
    assert "no-such-pipeline" in win.dialogs[-1]
    # a bad file dropped on the window
    _drop(win, [matrix["truncated_png"]])
    _wait(lambda: len(win.dialogs) == n + 3)


def test_open_sample_recent_menu_and_tooltips(win) -> None:
    n = win.image_combo.count()
    win.findChild(type(win.action_open), "actionSample_chelsea").trigger()
    _idle(win)
    assert win.image_combo.count() == n + 1 and win.current().width == 451
    assert win.menu_recent.actions()  # at least "(none)" or the files opened before
    entry = win.current()
    _set(win, "B", "jpeg", q=50)
    _idle(win)
    tip = win.rd_panel.scatter_items["jpeg"].opts["tip"]
    text = tip(x=0, y=0, data=win.rd_panel.scatter_items["jpeg"].data["data"][0])
    assert "jpeg" in text and "bpp" in text and "PSNR" in text
    assert win.session.results_for(entry.id, "jpeg")


def test_an_opened_edms_is_the_result(win, tmp_path, monkeypatch) -> None:
    _add(win, "edmsfile", synthetic(56, 72, 34))
    result = _set(win, "B", "test-layered", qp=20, s=2)
    target = tmp_path / "file.edms"
    monkeypatch.setattr(win.files, "ask_save_path", lambda *a: str(target))
    win.export_edms()
    n = win.image_combo.count()
    win.open_paths([str(target)])
    _wait(lambda: win.image_combo.count() == n + 1, 60)
    _idle(win)
    entry = win.current()
    b = win.shown["B"]
    assert entry.is_edms and b is not None and b.from_file and b.image_id == entry.id
    assert b.file_bytes == len(result.edms) and math.isnan(b.psnr)
    assert win.panels["B"].value_labels["psnr"].text() == "—"
    # the results table says "—" for what a file has no original for, never "…"
    win.results_table.set_results(win.session.results_for(entry.id))
    cells = [win.results_table.item(0, j).text() for j in (4, 5, 6)]
    assert cells == ["—", "—", "—"], cells
    # the file's setting is fixed: the parameter controls are disabled, saying why
    assert not win.panel_b.params_box.isEnabled()
    assert "decoded .edms" in win.panel_b.params_box.toolTip()
    # another setting is not encoded from the decoded image
    jobs = []
    win.worker.job_started.connect(jobs.append)
    win.panel_b.set_params({"qp": 30})
    win.request("B")
    _idle(win)
    assert not [j for j in jobs if j.kind == "encode"]
    assert win.shown["B"] is None and "no original" in win.status.currentMessage()
    assert win.session.rd_series(entry.id) == {} and win.session.rd_points(entry.id) == []
    # both panes name the layers' codecs the same way
    note_a = win.model.note("A")
    assert "(raw)" in note_a and all(la.codec == "raw" for la in b.layers)
    # the same file again adds no entry
    win.open_paths([str(target)])
    _idle(win)
    assert win.image_combo.count() == n + 1
    win.next_image(-1)  # an image with an original: the controls are enabled again
    _idle(win)
    assert not win.current().is_edms and win.panel_b.params_box.isEnabled()
    win.panel_b.set_source("", emit=False)


def test_export_and_save_name_the_pane_and_use_the_last_save_folder(win, tmp_path,
                                                                   monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    _add(win, "namepane", synthetic(40, 48, 36))
    _set(win, "B", "hevc", qp=40)
    win.settings.setValue("lastFolder", "/dataset/images")
    win.settings.setValue("lastSaveFolder", str(tmp_path))
    asked: list[tuple[str, str]] = []

    def fake(parent, title, start, filters):  # noqa: ANN001, ANN202
        asked.append((title, start))
        return str(tmp_path / "sub" / "x.edms"), ""

    (tmp_path / "sub").mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake))
    win.export_edms()
    assert "pane B" in asked[-1][0] and "hevc qp=40" in asked[-1][0]
    assert Path(asked[-1][1]).parent == tmp_path
    win.save_decoded()
    assert "pane B" in asked[-1][0]
    assert Path(asked[-1][1]).parent == tmp_path / "sub"  # the last folder saved to
    # the menu names the pane (and result) Export and Save take: the active one
    assert "Pane B (hevc qp=40)" in win.action_export.text()
    assert "Pane B (hevc qp=40)" in win.action_save.text()
    win.panel_a.set_source("jpeg", {"q": 30})  # the user works with pane A now
    _wait(lambda: win.shown["A"] is not None and win.shown["A"].pipeline == "jpeg", 60)
    _idle(win)
    assert "Pane A (jpeg q=30)" in win.action_export.text()
    win.action_export.trigger()
    assert "pane A" in asked[-1][0] and "jpeg q=30" in asked[-1][0]
    # after the dialog the window has the keyboard again (Ctrl+E works at once)
    QApplication.processEvents()
    assert QApplication.activeWindow() is win
    win.panel_a.set_source("", emit=False)
    win.request("A")
    assert "Pane B (hevc qp=40)" in win.action_export.text()  # A shows no result now
    win.panel_b.set_source("", emit=False)


def test_over_the_pixel_limit_points_to_the_setting(win, tmp_path, monkeypatch) -> None:
    from PIL import Image

    path = tmp_path / "big.png"
    Image.fromarray(synthetic(1100, 1000, 37)).save(path)
    win.settings.setValue("maxPixels", 1_000_000)
    try:
        n = len(win.dialogs)
        win.open_paths([str(path)])
        _wait(lambda: len(win.dialogs) > n)
        assert "Settings ▸ Maximum Image Size" in win.dialogs[-1]
        monkeypatch.setattr(QInputDialog, "getInt", staticmethod(lambda *a, **k: (2, True)))
        win.ask_max_pixels()
        assert win.max_pixels() == 2_000_000
        win.open_paths([str(path)])
        _idle(win)
        assert win.current().name == "big.png"
    finally:
        win.settings.remove("maxPixels")
    win.close_image()


def test_label_map_chosen_by_hand_and_class_folders(win, tmp_path) -> None:
    from PIL import Image

    img = synthetic(48, 64, 5)
    entry = _add(win, "unlabelled", img)
    _set(win, "B", "jpeg", q=50)
    assert entry.task == "" and win.panel_b.accuracy_label.text() == ""
    bad = tmp_path / "small.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(bad)
    n = len(win.dialogs)
    assert not win.set_label_map(str(bad))
    assert len(win.dialogs) == n + 1
    assert win.dialogs[-1] == "small.png: label map is 8x8, the image 64x48"
    good = tmp_path / "gt.png"
    Image.fromarray(np.full((48, 64), 5, np.uint8)).save(good)
    assert win.set_label_map(str(good))
    r = win.shown["B"]
    _wait(lambda: r.analysed is not None and entry.reference is not None, 60)
    QApplication.processEvents()
    assert "mIoU of SegNet on the decoded image: " in win.panel_b.accuracy_label.text()
    # an image in a folder named after an Imagenette class: top-1
    cls = tmp_path / "n03028079"
    cls.mkdir()
    Image.fromarray(img).save(cls / "church.png")
    _drop(win, [cls / "church.png"])
    _wait(lambda: win.current().name == "church.png")
    c = win.current()
    assert (c.task, c.truth) == ("classification", 4)
    r = _set(win, "B", "jpeg", q=50)
    _wait(lambda: r.analysed is not None and c.reference is not None, 60)
    QApplication.processEvents()
    assert "Classifier on the decoded image: top-1 " in win.panel_b.accuracy_label.text()
    assert win.rd_panel.metric_combo.findData("top1") >= 0
    # a classification set opened as a folder (one folder per class) lists every image
    root = tmp_path / "set"
    for wnid in ("n01440764", "n03888257"):
        (root / wnid).mkdir(parents=True)
        for j in range(2):
            Image.fromarray(synthetic(32, 40, j)).save(root / wnid / f"{wnid}_{j}.png")
    n = len(win.session.images)
    _drop(win, [root])
    _wait(lambda: len(win.session.images) == n + 4)
    listed = list(win.session.images.values())[-4:]
    for e in listed:  # decoded when shown; the class comes from the folder name
        win.files.select_image(e.id)
        QApplication.processEvents()
    assert [(e.task, e.truth) for e in listed] == [("classification", 0)] * 2 + \
        [("classification", 9)] * 2

