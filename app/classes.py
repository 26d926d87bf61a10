"""The 11 CamVid classes (Brostow et al. 2009) our segmentation networks predict.

Index order is CamVid's as distributed with the SegNet tutorial; 11 is void. The colours
are the standard CamVid palette. Also the tables that map Cityscapes labels to those
classes (read by the evaluation's data sets and by the trainers) and the Imagenette
classes of the classifiers.
"""

from __future__ import annotations

import numpy as np

CAMVID_CLASSES: tuple[str, ...] = (
    "Sky", "Building", "Pole", "Road", "Pavement", "Tree",
    "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist",
)
NUM_CLASSES = len(CAMVID_CLASSES)  # what the networks predict
VOID = NUM_CLASSES  # the label of unlabelled pixels (ignored in training)
CAMVID_PALETTE: np.ndarray = np.array(
    [
        (128, 128, 128),  # Sky
        (128, 0, 0),  # Building
        (192, 192, 128),  # Pole
        (128, 64, 128),  # Road
        (0, 0, 192),  # Pavement
        (128, 128, 0),  # Tree
        (192, 128, 128),  # SignSymbol
        (64, 64, 128),  # Fence
        (64, 0, 128),  # Car
        (64, 64, 0),  # Pedestrian
        (0, 128, 192),  # Bicyclist
    ],
    dtype=np.uint8,
)


def colorize(labels: np.ndarray) -> np.ndarray:
    """HxW class map -> HxWx3 uint8 colours (void and out-of-range: black)."""
    lut = np.zeros((256, 3), np.uint8)
    lut[: len(CAMVID_PALETTE)] = CAMVID_PALETTE
    return lut[labels.astype(np.uint8)]


# Cityscapes trainId (0..18, 255 = ignore) -> CamVid 11-class index. This follows how the
# 32 original CamVid labels are merged into the 11 SegNet classes: Building absorbs Wall,
# SignSymbol absorbs traffic lights, Tree absorbs all vegetation (terrain included), Car
# absorbs truck/bus/train, Bicyclist absorbs rider, motorcycle and bicycle.
CITYSCAPES_TRAINID_TO_CAMVID: dict[int, int] = {
    0: 3,    # road -> Road
    1: 4,    # sidewalk -> Pavement
    2: 1,    # building -> Building
    3: 1,    # wall -> Building
    4: 7,    # fence -> Fence
    5: 2,    # pole -> Pole
    6: 6,    # traffic light -> SignSymbol
    7: 6,    # traffic sign -> SignSymbol
    8: 5,    # vegetation -> Tree
    9: 5,    # terrain -> Tree
    10: 0,   # sky -> Sky
    11: 9,   # person -> Pedestrian
    12: 10,  # rider -> Bicyclist
    13: 8,   # car -> Car
    14: 8,   # truck -> Car
    15: 8,   # bus -> Car
    16: 8,   # train -> Car
    17: 10,  # motorcycle -> Bicyclist
    18: 10,  # bicycle -> Bicyclist
}
# Official Cityscapes labelId -> trainId (labels.py of cityscapesScripts); others -> 255.
_CITYSCAPES_ID_TO_TRAINID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
    24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}


def _lut(mapping: dict[int, int], default: int) -> np.ndarray:
    lut = np.full(256, default, dtype=np.uint8)
    for k, v in mapping.items():
        lut[k] = v
    return lut


TRAINID_LUT = _lut(CITYSCAPES_TRAINID_TO_CAMVID, VOID)
LABELID_LUT = TRAINID_LUT[_lut(_CITYSCAPES_ID_TO_TRAINID, 255)]


# The 10 Imagenette classes (a subset of ImageNet/ILSVRC 2012) DeepSIC's semantic head
# predicts, indexed in sorted WordNet-id order: (wnid, name).
IMAGENETTE_CLASSES: tuple[tuple[str, str], ...] = (
    ("n01440764", "tench"),
    ("n02102040", "English springer"),
    ("n02979186", "cassette player"),
    ("n03000684", "chain saw"),
    ("n03028079", "church"),
    ("n03394916", "French horn"),
    ("n03417042", "garbage truck"),
    ("n03425413", "gas pump"),
    ("n03445777", "golf ball"),
    ("n03888257", "parachute"),
)
IMAGENETTE_NAMES: tuple[str, ...] = tuple(name for _, name in IMAGENETTE_CLASSES)
