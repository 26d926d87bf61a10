"""Training data: CamVid, Cityscapes (mapped to the 11 CamVid classes) and plain image folders.

Everything is decoded once into memory as uint8 numpy arrays (CamVid train is ~190 MB), and
each ``__getitem__`` draws a random light scale jitter, a random crop and a random horizontal
flip. Labels use the CamVid convention: 0..10 = classes, :data:`VOID` = 11 (ignored).

Layouts understood by :func:`open_dataset`:

* CamVid (SegNet tutorial distribution): ``train/`` + ``trainannot/``, ``val/`` + ``valannot/``.
* Cityscapes: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` and
  ``gtFine/<split>/<city>/*_gtFine_labelTrainIds.png`` (or ``*_gtFine_labelIds.png``, mapped
  through the official id -> trainId table first). Train ids are mapped to CamVid classes by
  :data:`app.classes.CITYSCAPES_TRAINID_TO_CAMVID` (see there).
* A plain folder of images (no labels): labels come back as all-void.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

# the Cityscapes tables live in app.classes; re-exported here for the trainers
from app.classes import CITYSCAPES_TRAINID_TO_CAMVID as CITYSCAPES_TRAINID_TO_CAMVID
from app.classes import LABELID_LUT as LABELID_LUT
from app.classes import NUM_CLASSES, VOID
from app.classes import TRAINID_LUT as TRAINID_LUT

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


def _load_rgb(path: Path, max_side: int | None) -> np.ndarray:
    with Image.open(path) as f:
        im = f.convert("RGB")
        if max_side and max(im.size) > max_side:
            s = max_side / max(im.size)
            im = im.resize((round(im.width * s), round(im.height * s)),
                           Image.Resampling.BICUBIC)
        return np.asarray(im, dtype=np.uint8).copy()


def _load_label(path: Path, size: tuple[int, int], lut: np.ndarray | None) -> np.ndarray:
    with Image.open(path) as f:
        im: Image.Image = f
        if im.size != size:
            im = im.resize(size, Image.Resampling.NEAREST)
        lab = np.asarray(im, dtype=np.uint8)
    if lab.ndim == 3:
        lab = lab[..., 0]
    if lut is not None:
        lab = lut[lab]
    return np.minimum(lab, VOID).astype(np.uint8)


@dataclass
class Sample:
    """One in-memory frame: RGB uint8 (H, W, 3) and labels uint8 (H, W), 11 = void."""

    image: np.ndarray
    label: np.ndarray
    name: str


class SegDataset(Dataset):
    """In-memory frames with random scale jitter, crop and flip (``train=True``).

    Items are ``(image, label)``: image float32 (3, h, w) in [0, 1], label int64 (h, w).
    With ``train=False`` the whole frame is returned unchanged (for validation).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        crop: int | tuple[int, int] = 256,
        train: bool = True,
        scale: tuple[float, float] = (0.8, 1.25),
        epoch_len: int | None = None,
    ) -> None:
        if not samples:
            raise ValueError("empty dataset")
        self.samples = list(samples)
        self.crop = (crop, crop) if isinstance(crop, int) else tuple(crop)
        self.train = train
        self.scale = scale
        self.epoch_len = epoch_len

    def __len__(self) -> int:
        return self.epoch_len or len(self.samples)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.samples[idx % len(self.samples)]
        img = torch.from_numpy(s.image).permute(2, 0, 1).float().div_(255.0)
        lab = torch.from_numpy(s.label).long()
        if not self.train:
            return img, lab
        ch, cw = self.crop
        f = random.uniform(*self.scale)
        h, w = lab.shape
        # never scale below the crop size
        f = max(f, ch / h, cw / w)
        if abs(f - 1.0) > 1e-3:
            nh, nw = max(ch, round(h * f)), max(cw, round(w * f))
            img = F.interpolate(img[None], size=(nh, nw), mode="bilinear",
                                align_corners=False, antialias=f < 1)[0].clamp_(0, 1)
            lab = F.interpolate(lab[None, None].float(), size=(nh, nw), mode="nearest")[0, 0]
            lab = lab.long()
            h, w = nh, nw
        y = random.randint(0, h - ch)
        x = random.randint(0, w - cw)
        img = img[:, y:y + ch, x:x + cw]
        lab = lab[y:y + ch, x:x + cw]
        if random.random() < 0.5:
            img = img.flip(-1)
            lab = lab.flip(-1)
        return img.contiguous(), lab.contiguous()


def infinite_batches(ds: SegDataset, batch: int, seed: int = 0):
    """Endless stream of collated random batches (reshuffled each pass over the frames).

    Hand-written instead of a DataLoader: no worker processes (the CPU budget is one
    thread) and no huge sampler permutation for an "infinite" epoch.
    """
    rng = random.Random(seed)
    order: list[int] = []
    while True:
        items = []
        for _ in range(batch):
            if not order:
                order = list(range(len(ds.samples)))
                rng.shuffle(order)
            items.append(ds[order.pop()])
        yield torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)


def load_camvid(root: Path, split: str, limit: int | None = None) -> list[Sample]:
    """CamVid ``<split>/`` + ``<split>annot/`` pairs, matched by file name."""
    img_dir, lab_dir = root / split, root / f"{split}annot"
    out = []
    for p in _list_images(img_dir)[:limit]:
        lp = lab_dir / p.name
        if not lp.exists():
            raise FileNotFoundError(f"missing label {lp}")
        im = _load_rgb(p, None)
        out.append(Sample(im, _load_label(lp, (im.shape[1], im.shape[0]), None), p.stem))
    return out


def load_cityscapes(root: Path, split: str, limit: int | None = None,
                    max_side: int | None = 1024) -> list[Sample]:
    """Cityscapes ``leftImg8bit``/``gtFine`` pairs, resized to ``max_side``, CamVid labels."""
    out = []
    for p in sorted((root / "leftImg8bit" / split).rglob("*_leftImg8bit.png"))[:limit]:
        base = p.name[: -len("_leftImg8bit.png")]
        gdir = root / "gtFine" / split / p.parent.name
        im = _load_rgb(p, max_side)
        size = (im.shape[1], im.shape[0])
        if (g := gdir / f"{base}_gtFine_labelTrainIds.png").exists():
            lab = _load_label(g, size, TRAINID_LUT)
        elif (g := gdir / f"{base}_gtFine_labelIds.png").exists():
            lab = _load_label(g, size, LABELID_LUT)
        else:
            raise FileNotFoundError(f"no gtFine label for {p}")
        out.append(Sample(im, lab, base))
    return out


def load_folder(root: Path, limit: int | None = None,
                max_side: int | None = 1024) -> list[Sample]:
    """A plain folder of images; labels are all void."""
    out = []
    for p in _list_images(root)[:limit]:
        im = _load_rgb(p, max_side)
        out.append(Sample(im, np.full(im.shape[:2], VOID, np.uint8), p.stem))
    return out


def detect_layout(root: Path) -> str:
    """``"camvid"``, ``"cityscapes"`` or ``"folder"``."""
    if (root / "train").is_dir() and (root / "trainannot").is_dir():
        return "camvid"
    if (root / "leftImg8bit").is_dir() and (root / "gtFine").is_dir():
        return "cityscapes"
    return "folder"


def load_split(root: str | Path, split: str, limit: int | None = None) -> list[Sample]:
    """Load ``split`` ("train" or "val") of a dataset in any supported layout.

    A plain folder has no split: "train" returns all of it and "val" returns nothing.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    layout = detect_layout(root)
    if layout == "camvid":
        return load_camvid(root, split, limit) if (root / split).is_dir() else []
    if layout == "cityscapes":
        return load_cityscapes(root, split, limit)
    return load_folder(root, limit) if split == "train" else []


def class_weights(samples: Sequence[Sample], c: float = 1.02) -> torch.Tensor:
    """ENet-style class weights ``1 / ln(c + p_class)`` over the non-void pixels."""
    counts = np.zeros(NUM_CLASSES + 1, np.int64)
    for s in samples:
        counts += np.bincount(s.label.ravel(), minlength=NUM_CLASSES + 1)[: NUM_CLASSES + 1]
    p = counts[:NUM_CLASSES] / max(1, counts[:NUM_CLASSES].sum())
    return torch.tensor(1.0 / np.log(c + p), dtype=torch.float32)
