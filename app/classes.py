"""The 11 CamVid classes (Brostow et al. 2009) our segmentation networks predict.

Index order is CamVid's as distributed with the SegNet tutorial; 11 is void. The colours
are the standard CamVid palette.
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
