"""Rate-accuracy building blocks: scores against hand-computed cases, data-set layouts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import metrics
from app.tasks import (
    ClassificationScore,
    LabelledImage,
    SegmentationScore,
    TaskDataError,
    carried,
    classification_set,
    read_label_map,
    segmentation_set,
)


def test_miou_hand_computed() -> None:
    # 2x4 ground truth with one void pixel (11)
    t = np.array([[0, 0, 1, 1], [2, 2, 11, 1]], dtype=np.uint8)
    p = np.array([[0, 1, 1, 1], [2, 0, 5, 11]], dtype=np.uint8)
    s = SegmentationScore()
    s.update(p, t)
    r = s.result()
    # class 0: TP 1, target 2, pred 2 -> 1/3; class 1: TP 2, target 3 (one predicted void),
    # pred 3 -> 2/4; class 2: TP 1, target 2, pred 1 -> 1/2; class 5 only predicted on the
    # void pixel: not counted; others absent
    assert r["per_class_iou"]["Sky"] == pytest.approx(1 / 3)
    assert r["per_class_iou"]["Building"] == pytest.approx(1 / 2)
    assert r["per_class_iou"]["Pole"] == pytest.approx(1 / 2)
    assert r["per_class_iou"]["Road"] is None
    assert r["miou"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 2) / 3)
    assert r["pixel_acc"] == pytest.approx(4 / 7)
    # the same as the metrics module's single-image mIoU
    assert r["miou"] == pytest.approx(metrics.miou(p, t, 11, ignore_index=11)[0])


def test_miou_accumulates_over_images() -> None:
    rng = np.random.default_rng(0)
    s = SegmentationScore()
    ps, ts = [], []
    for _ in range(3):
        t = rng.integers(0, 12, (20, 30)).astype(np.uint8)
        p = rng.integers(0, 11, (20, 30)).astype(np.uint8)
        s.update(p, t)
        ps.append(p)
        ts.append(t)
    whole = metrics.miou(np.concatenate(ps), np.concatenate(ts), 11, ignore_index=11)[0]
    assert s.result()["miou"] == pytest.approx(whole)


def test_topk_hand_computed() -> None:
    s = ClassificationScore()
    s.update([3, 1, 2, 0, 4], 3)  # top-1 hit
    s.update([1, 3, 2, 0, 4], 3)  # top-5 hit only
    s.update([1, 2, 0, 4, 5, 3], 3)  # 6th: miss
    s.update([], 3)
    assert s.result() == {"top1": 0.25, "top5": 0.5}
    assert math.isnan(ClassificationScore().result()["top1"])


def _png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_camvid_layout_and_file_list(tmp_path: Path) -> None:
    img = np.zeros((6, 8, 3), np.uint8)
    lab = np.full((6, 8), 3, np.uint8)
    for n in ("a", "b"):
        _png(tmp_path / "val" / f"{n}.png", img)
        _png(tmp_path / "valannot" / f"{n}.png", lab)
    items = segmentation_set(tmp_path)
    assert [i.image.name for i in items] == ["a.png", "b.png"]
    assert segmentation_set(tmp_path / "val") == items
    assert read_label_map(items[0], (6, 8)).max() == 3
    with pytest.raises(TaskDataError, match="label map is 8x6"):
        read_label_map(items[0], (5, 8))
    (tmp_path / "list.txt").write_text("val/a.png valannot/a.png\n# comment\n")
    assert [i.image for i in segmentation_set(tmp_path / "list.txt")] == [items[0].image]
    with pytest.raises(TaskDataError, match="not a labelled segmentation set"):
        segmentation_set(tmp_path / "valannot")


def test_cityscapes_train_ids_map_to_camvid(tmp_path: Path) -> None:
    _png(tmp_path / "leftImg8bit" / "val" / "x" / "f_leftImg8bit.png",
         np.zeros((2, 3, 3), np.uint8))
    # road (0) -> Road (3); sky (10) -> Sky (0); ignore (255) -> void
    _png(tmp_path / "gtFine" / "val" / "x" / "f_gtFine_labelTrainIds.png",
         np.array([[0, 10, 255], [0, 0, 0]], np.uint8))
    (item,) = segmentation_set(tmp_path)
    assert read_label_map(item).tolist() == [[3, 0, 11], [3, 3, 3]]


def test_class_folders(tmp_path: Path) -> None:
    for c in ("n2", "n1"):
        _png(tmp_path / c / "x.png", np.zeros((4, 4, 3), np.uint8))
    items, classes = classification_set(tmp_path)
    assert classes == ["n1", "n2"]
    assert [i.label for i in items] == [0, 1]
    with pytest.raises(TaskDataError):
        classification_set(tmp_path / "missing")


def test_carried_reads_the_views() -> None:
    seg = np.zeros((2, 2), np.uint8)
    assert carried("segmentation", {"segmentation": seg}) is not None
    assert carried("segmentation", {}) is None
    assert carried("classification", {"classes": np.array([4, 1, 0])}) == [4, 1, 0]
    assert isinstance(LabelledImage(Path("a"), 1).label, int)


def test_rising_front_keeps_only_points_that_buy_accuracy() -> None:
    from app.eval import rising_front

    rates, acc = rising_front([0.8, 0.1, 0.4, 1.2, 0.2], [0.61, 0.47, 0.60, 0.612, None])
    assert rates == [0.1, 0.4, 0.8, 1.2] and acc == [0.47, 0.60, 0.61, 0.612]
    assert rising_front([0.1, 0.5, 1.0], [0.35, 0.35, 0.35]) == ([0.1], [0.35])
