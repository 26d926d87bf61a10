"""Ground truth beside an image, and the workbench model's per-image machine accuracy
(:func:`app.tasks.find_truth`, :meth:`app.session.Session.set_truth`, the RD series of
mIoU and top-1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from app.eval import aggregate, task_accuracy
from app.session import (
    ERROR_RGBA,
    LayerInfo,
    Result,
    Session,
    segmentation_errors,
    task_data,
    task_metric,
)
from app.tasks import TaskDataError, find_truth, label_map_truth, load_truth


def _png(path, array) -> None:  # noqa: ANN001
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_find_truth_camvid_cityscapes_and_class_folders(tmp_path) -> None:
    img = np.zeros((6, 8, 3), np.uint8)
    lab = np.full((6, 8), 3, np.uint8)
    _png(tmp_path / "val" / "a.png", img)
    _png(tmp_path / "valannot" / "a.png", lab)
    _png(tmp_path / "val" / "b.jpg", img)
    _png(tmp_path / "valannot" / "b.png", lab)  # the stem, as a PNG
    _png(tmp_path / "val" / "c.png", img)  # no label map
    t = find_truth(tmp_path / "val" / "a.png")
    assert t is not None and t.task == "segmentation" and t.source == "a.png"
    np.testing.assert_array_equal(load_truth(t, (6, 8)), lab)
    assert find_truth(tmp_path / "val" / "b.jpg").item.label == tmp_path / "valannot" / "b.png"
    assert find_truth(tmp_path / "val" / "c.png") is None
    # a label map of another size is refused in one line
    with pytest.raises(TaskDataError, match="label map is 8x6"):
        load_truth(t, (7, 8))
    # Cityscapes: train ids, mapped to the CamVid classes
    city = tmp_path / "cs" / "leftImg8bit" / "val" / "ulm"
    _png(city / "ulm_000001_000019_leftImg8bit.png", img)
    gt = tmp_path / "cs" / "gtFine" / "val" / "ulm"
    _png(gt / "ulm_000001_000019_gtFine_labelTrainIds.png", np.full((6, 8), 255, np.uint8))
    t = find_truth(city / "ulm_000001_000019_leftImg8bit.png")
    assert t is not None and t.item.label_format == "cityscapes-train"
    assert int(np.asarray(load_truth(t, (6, 8))).max()) == 11  # 255 -> void
    # class folders: a WordNet id or a name of an Imagenette class
    _png(tmp_path / "imagenette" / "n03028079" / "x.png", img)
    _png(tmp_path / "mine" / "golf_ball" / "y.png", img)
    _png(tmp_path / "mine" / "cats" / "z.png", img)
    t = find_truth(tmp_path / "imagenette" / "n03028079" / "x.png")
    assert t is not None and (t.task, t.class_index) == ("classification", 4)  # church
    assert t.source == "church (n03028079)"  # the class people read, then the folder id
    assert find_truth(tmp_path / "mine" / "golf_ball" / "y.png").class_index == 8
    assert find_truth(tmp_path / "mine" / "golf_ball" / "y.png").source == "golf ball"
    assert find_truth(tmp_path / "mine" / "cats" / "z.png") is None
    # chosen by hand
    assert label_map_truth(None, tmp_path / "valannot" / "a.png").task == "segmentation"


def _result(image_id: int, qp: int, nbytes: int, analysed, carried=None) -> Result:  # noqa: ANN001
    return Result(image_id=image_id, pipeline="p", params={"qp": qp},
                  decoded=np.zeros((4, 4, 3), np.uint8), edms=b"x" * nbytes, width=4,
                  height=4, layers=[LayerInfo("image", "raw", nbytes)], psnr=30.0,
                  ms_ssim=0.9, haarpsi=0.8, metrics_done=True, analysed=analysed,
                  carried=carried or {})


def test_per_image_miou_carried_and_analysed() -> None:
    s = Session()
    e = s.add_image("a", np.zeros((4, 4, 3), np.uint8))
    truth = np.array([[0, 0, 1, 1]] * 2 + [[2, 2, 11, 11]] * 2, np.uint8)  # void at 11
    pred = np.array([[0, 0, 1, 0]] * 2 + [[2, 2, 2, 2]] * 2, np.uint8)
    r = s.add_result(_result(e.id, 30, 10, pred, {"segmentation": truth.copy()}))
    assert r.task == {} and math.isnan(r.accuracy("miou"))  # no truth yet
    with pytest.raises(ValueError, match="label map is 3×4, the image 4×4"):
        s.set_truth(e.id, "segmentation", np.zeros((4, 3), np.uint8))
    s.set_truth(e.id, "segmentation", truth, "a.png")
    # by hand: class 0: tp 4, fp 2 (two 1s predicted 0) -> 4/6; class 1: tp 2, fn 2 -> 2/4;
    # class 2: 4/4; void pixels ignored
    assert r.accuracy("miou") == pytest.approx((4 / 6 + 2 / 4 + 1) / 3)
    assert r.accuracy("miou_carried") == 1.0
    assert math.isnan(r.accuracy("top1"))
    # the reference network's output on the original: the ceiling
    e.reference = truth
    assert s.reference_accuracy(e.id)["miou"] == 1.0
    # the error overlay marks exactly the two wrong, non-void pixels of each row pair
    over = segmentation_errors(pred, truth)
    assert over.shape == (4, 4, 4)
    assert (over[..., 3] > 0).sum() == 2 and tuple(over[0, 3]) == ERROR_RGBA
    # RD series by mIoU
    series = s.rd_series(e.id, "miou")
    assert series["p"][0][1] == pytest.approx(r.accuracy("miou"))
    assert s.rd_series(e.id, "miou_carried")["p"][0][1] == 1.0


def test_mean_curve_sums_confusion_matrices_over_images() -> None:
    """Over a folder the curve's mIoU is that of the summed confusion matrices (as edms
    eval --task), not a mean of per-image mIoUs."""
    s = Session()
    truths = [np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8)]
    preds = [np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8)]
    for i, (t, p) in enumerate(zip(truths, preds, strict=True)):
        e = s.add_image(f"i{i}", np.zeros((4, 4, 3), np.uint8))
        s.set_truth(e.id, "segmentation", t)
        s.add_result(_result(e.id, 30, 10 + i, p))
    row = s.rd_series_mean("miou")["p"][0]
    data = [task_data("segmentation", t, p, {}) for t, p in zip(truths, preds, strict=True)]
    want = task_accuracy("segmentation", data, "analysed")["miou"]
    assert row[1] == pytest.approx(want) == pytest.approx((16 / 32 + 0) / 2)
    per_image = np.mean([task_metric(d, "miou") for d in data])
    assert want != pytest.approx(per_image)  # (1 + 0) / 2 per image: a different number
    summary = aggregate(s.all_points())
    assert summary["p"]["results"]["miou"][0] == pytest.approx(want)


def test_classification_truth_gives_top1() -> None:
    s = Session()
    e = s.add_image("x", np.zeros((4, 4, 3), np.uint8))
    s.set_truth(e.id, "classification", 4, "folder n03028079")
    right = s.add_result(_result(e.id, 30, 10, [4, 1, 2, 3, 5], {"classification": [1, 4]}))
    wrong = s.add_result(_result(e.id, 40, 5, [1, 4, 2, 3, 5]))
    assert right.accuracy("top1") == 1.0 and right.accuracy("top1_carried") == 0.0
    assert wrong.accuracy("top1") == 0.0 and math.isnan(wrong.accuracy("top1_carried"))
    assert math.isnan(right.accuracy("miou"))
    # another task: the reference outputs are stale and dropped
    s.set_truth(e.id, "segmentation", np.zeros((4, 4), np.uint8))
    assert right.analysed is None and s.unanalysed(e.id) == [wrong, right]
