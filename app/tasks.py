"""Machine-vision accuracy per bit: labelled data sets, scores, carried and analysed semantics.

Semantic codecs claim their bitstream serves machines (DSSLIC and SMIC send a map, EDMS
recomputes one, MENet decodes one from its latent, DeepSIC carries a class). This module
measures that claim for ``edms eval --task segmentation|classification``:

- *data sets with ground truth*: CamVid's layout (``X/`` + ``Xannot/``), Cityscapes'
  (``leftImg8bit/<split>/<city>/`` + ``gtFine/<split>/<city>/``; train ids are mapped to
  the 11 CamVid classes our networks predict, see :mod:`app.classes`), a text file list
  (``image label`` per line), or class folders (ImageNet layout) for classification;
- *scores*: confusion-matrix mIoU, per-class IoU and pixel accuracy (void ignored), and
  top-1 / top-5 accuracy;
- *carried* semantics: what the file itself delivers, declared by the pipeline through its
  views (``segmentation``: an HxW class map; ``classes``: class indices, most likely
  first); *analysed* semantics: a fixed reference network run on the decoded image (the
  shipped SegNet; the shipped Imagenette classifier), the row every codec gets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.classes import (
    CAMVID_CLASSES,
    IMAGENETTE_CLASSES,
    LABELID_LUT,
    NUM_CLASSES,
    TRAINID_LUT,
    VOID,
)
from app.errors import EdmsError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff", ".webp"}
TASKS = ("segmentation", "classification")


class TaskDataError(EdmsError, ValueError):
    """A labelled data set cannot be read (one line for the user)."""


@dataclass(frozen=True)
class LabelledImage:
    """An image and its ground truth: a label-map path (segmentation) or a class index."""

    image: Path
    label: Path | int
    #: ``cityscapes-train`` / ``cityscapes-id`` when the label map needs mapping
    label_format: str = "camvid"


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def segmentation_set(root: str | Path) -> list[LabelledImage]:
    """Image/label pairs of a CamVid-layout folder, a Cityscapes root, or a file list."""
    root = Path(root)
    if root.is_file():
        return _file_list(root)
    if not root.is_dir():
        raise TaskDataError(f"{root}: no such folder or file list")
    if (root / "leftImg8bit").is_dir() and (root / "gtFine").is_dir():
        return _cityscapes(root)
    annot = root.parent / f"{root.name}annot"
    if annot.is_dir():  # DATA is the image folder itself (camvid/val)
        return _pairs(root, annot)
    splits = [d for d in sorted(root.iterdir())
              if d.is_dir() and (root / f"{d.name}annot").is_dir()]
    if not splits:
        raise TaskDataError(
            f"{root}: not a labelled segmentation set (expected X/ + Xannot/ as CamVid, "
            "leftImg8bit/ + gtFine/ as Cityscapes, or a file list)")
    # prefer the validation split of a whole data set
    pick = next((d for d in splits if d.name in ("val", "test")), splits[0])
    return _pairs(pick, root / f"{pick.name}annot")


def _pairs(images: Path, labels: Path) -> list[LabelledImage]:
    out = []
    for p in _images(images):
        cands = [labels / p.name, labels / f"{p.stem}.png"]
        lab = next((c for c in cands if c.exists()), None)
        if lab is None:
            raise TaskDataError(f"{p.name}: no label map in {labels}")
        out.append(LabelledImage(p, lab))
    if not out:
        raise TaskDataError(f"{images}: no images")
    return out


def _cityscapes(root: Path) -> list[LabelledImage]:
    split = "val" if (root / "leftImg8bit" / "val").is_dir() else "train"
    out = []
    for p in sorted((root / "leftImg8bit" / split).glob("*/*_leftImg8bit.png")):
        stem = p.name[: -len("_leftImg8bit.png")]
        gt = root / "gtFine" / split / p.parent.name
        train_ids = gt / f"{stem}_gtFine_labelTrainIds.png"
        ids = gt / f"{stem}_gtFine_labelIds.png"
        if train_ids.exists():
            out.append(LabelledImage(p, train_ids, "cityscapes-train"))
        elif ids.exists():
            out.append(LabelledImage(p, ids, "cityscapes-id"))
        else:
            raise TaskDataError(f"{p.name}: no gtFine label map")
    if not out:
        raise TaskDataError(f"{root}: no Cityscapes images in leftImg8bit/{split}")
    return out


def _file_list(path: Path) -> list[LabelledImage]:
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != 2:
            raise TaskDataError(f"{path}:{n}: expected 'IMAGE LABEL'")
        img, lab = (Path(v) if Path(v).is_absolute() else path.parent / v for v in parts)
        out.append(LabelledImage(img, lab))
    if not out:
        raise TaskDataError(f"{path}: empty file list")
    return out


def classification_set(root: str | Path) -> tuple[list[LabelledImage], list[str]]:
    """Class folders (ImageNet layout): ``root/<class>/*.JPEG``, classes in sorted order."""
    root = Path(root)
    if not root.is_dir():
        raise TaskDataError(f"{root}: no such folder")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    items = [LabelledImage(p, i) for i, c in enumerate(classes) for p in _images(root / c)]
    if not items:
        raise TaskDataError(f"{root}: no class folders with images (ImageNet layout)")
    return items, classes


def read_label_map(item: LabelledImage, size: tuple[int, int] | None = None) -> np.ndarray:
    """The ground-truth class map as HxW uint8 CamVid indices (void = 11)."""
    from PIL import Image

    assert isinstance(item.label, Path)
    try:
        with Image.open(item.label) as im:
            lab = np.asarray(im)
    except OSError as exc:
        raise TaskDataError(f"{item.label}: unreadable label map ({exc})") from exc
    if lab.ndim == 3:
        lab = lab[..., 0]
    if item.label_format == "cityscapes-train":
        lab = TRAINID_LUT[lab]
    elif item.label_format == "cityscapes-id":
        lab = LABELID_LUT[lab]
    lab = np.minimum(lab, VOID).astype(np.uint8)
    if size is not None and lab.shape != size:
        raise TaskDataError(f"{item.label}: label map is {lab.shape[1]}x{lab.shape[0]}, "
                            f"the image {size[1]}x{size[0]}")
    return lab


class SegmentationScore:
    """Confusion matrix over the 11 CamVid classes, void ignored.

    A prediction outside the classes (void) at a counted pixel is a miss: it is in the
    ground truth's count of its class but in no column (as :func:`app.metrics.miou`).
    """

    def __init__(self, num_classes: int = NUM_CLASSES, ignore: int = VOID) -> None:
        self.n, self.ignore = num_classes, ignore
        self.cm = np.zeros((num_classes, num_classes), dtype=np.int64)
        self.target_count = np.zeros(num_classes, dtype=np.int64)

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        if pred.shape != target.shape:
            raise ValueError("prediction and ground truth differ in size")
        t = target.ravel().astype(np.int64)
        p = pred.ravel().astype(np.int64)
        keep = (t != self.ignore) & (t >= 0) & (t < self.n)
        t, p = t[keep], p[keep]
        self.target_count += np.bincount(t, minlength=self.n)
        ok = (p >= 0) & (p < self.n)
        self.cm += np.bincount(t[ok] * self.n + p[ok], minlength=self.n ** 2
                               ).reshape(self.n, self.n)

    def result(self) -> dict[str, Any]:
        tp = np.diag(self.cm).astype(np.float64)
        union = self.target_count + self.cm.sum(axis=0) - tp
        present = union > 0
        iou = np.full(self.n, np.nan)
        iou[present] = tp[present] / union[present]
        total = int(self.target_count.sum())
        names = CAMVID_CLASSES if self.n == NUM_CLASSES else [str(i) for i in range(self.n)]
        return {
            "miou": float(iou[present].mean()) if present.any() else float("nan"),
            "pixel_acc": float(tp.sum() / total) if total else float("nan"),
            "per_class_iou": {names[i]: (None if np.isnan(v) else float(v))
                              for i, v in enumerate(iou)},
        }


class ClassificationScore:
    """Top-1 and top-5 accuracy from ranked class predictions."""

    def __init__(self) -> None:
        self.n = self.top1 = self.top5 = 0

    def update(self, ranked: Sequence[int], target: int) -> None:
        ranked = list(ranked)
        self.n += 1
        self.top1 += int(bool(ranked) and ranked[0] == target)
        self.top5 += int(target in ranked[:5])

    def result(self) -> dict[str, float]:
        if not self.n:
            return {"top1": float("nan"), "top5": float("nan")}
        return {"top1": self.top1 / self.n, "top5": self.top5 / self.n}


def carried(task: str, views: dict[str, Any]) -> Any | None:
    """The semantics a decoded file delivers itself, if its pipeline carries them."""
    if task == "segmentation":
        v = views.get("segmentation")
        return None if v is None else np.asarray(v)
    v = views.get("classes")
    return None if v is None else [int(c) for c in np.asarray(v).ravel()]


# ------------------------------------------------------------------ one image's truth


@dataclass(frozen=True)
class Truth:
    """The ground truth found for one image: a label map (segmentation) or a class."""

    task: str  # "segmentation" or "classification"
    item: LabelledImage
    source: str  # for people: the label map's file name, or the class folder

    @property
    def class_index(self) -> int | None:
        return self.item.label if isinstance(self.item.label, int) else None


def _class_of_folder(name: str) -> int | None:
    """The Imagenette class index of a folder named after it (WordNet id or name)."""
    key = name.strip().lower().replace("_", " ").replace("-", " ")
    for i, (wnid, label) in enumerate(IMAGENETTE_CLASSES):
        if key in (wnid.lower(), label.lower()):
            return i
    return None


def find_truth(path: str | Path) -> Truth | None:
    """The ground truth that lies beside an image file, if any (only file names are
    looked at, nothing is read):

    - CamVid's layout: ``X/name.png`` with ``Xannot/name.png`` (or ``Xannot/stem.png``);
    - Cityscapes': ``leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png`` with
      ``gtFine/<split>/<city>/<stem>_gtFine_labelTrainIds.png`` (or ``labelIds``);
    - ImageNet's: an image in a folder named after an Imagenette class (its WordNet id, as
      ``imagenette/val/n03028079/``, or its name, ``church/``): that class.
    """
    p = Path(path)
    folder = p.parent
    annot = folder.parent / f"{folder.name}annot"
    for cand in (annot / p.name, annot / f"{p.stem}.png"):
        if cand.is_file():
            return Truth("segmentation", LabelledImage(p, cand), cand.name)
    if p.name.endswith("_leftImg8bit.png") and len(p.parents) >= 4 \
            and p.parents[2].name == "leftImg8bit":
        stem = p.name[: -len("_leftImg8bit.png")]
        gt = p.parents[3] / "gtFine" / p.parents[1].name / folder.name
        for suffix, fmt in (("labelTrainIds", "cityscapes-train"), ("labelIds", "cityscapes-id")):
            cand = gt / f"{stem}_gtFine_{suffix}.png"
            if cand.is_file():
                return Truth("segmentation", LabelledImage(p, cand, fmt), cand.name)
    index = _class_of_folder(folder.name)
    if index is not None:
        from app.classes import IMAGENETTE_NAMES

        # people read the class ("church"), the folder id (n03028079) is the detail
        name = IMAGENETTE_NAMES[index]
        same = folder.name.lower().replace("_", " ") == name.lower()
        source = name if same else f"{name} ({folder.name})"
        return Truth("classification", LabelledImage(p, index), source)
    return None


def label_map_truth(image_path: str | Path | None, label_path: str | Path) -> Truth:
    """A label map chosen by hand (CamVid class indices, void 11 or more)."""
    lab = Path(label_path)
    return Truth("segmentation", LabelledImage(Path(image_path or lab), lab), lab.name)


def load_truth(truth: Truth, size: tuple[int, int]) -> np.ndarray | int:
    """The ground truth's value for an image of ``size`` (H, W): an HxW uint8 class map
    (void = 11; raises :class:`TaskDataError` when it has another size) or a class."""
    if truth.task == "classification":
        assert isinstance(truth.item.label, int)
        return truth.item.label
    return read_label_map(truth.item, size)
