"""Rate and quality metrics: bpp, PSNR-RGB, MS-SSIM, HaarPSI, mIoU, BD-rate / BD-PSNR.

Every image metric takes two ``HxWx3`` ``uint8`` RGB arrays (original first) and computes
in float64. Conventions used throughout the workbench:

- **bpp** is bits per pixel of the original image. The honest number, and the one the
  CLI, the GUI and ``eval`` report as ``bpp``, counts the whole ``.edms`` file, header
  included; ``eval`` also reports ``bpp_payload``, the layer bytes only (what a paper
  that ignores container overhead would report).
- **PSNR-RGB** is one PSNR over all R, G and B samples (peak 255), not an average of
  per-channel PSNRs. Identical images give ``math.inf``; callers print ``"inf"``.
- **MS-SSIM** (Wang, Simoncelli, Bovik 2003) comes from ``pytorch-msssim`` on the RGB
  channels (mean over channels), ``data_range=255``, Gaussian window 11 / sigma 1.5.
- **HaarPSI** (Reisenhofer et al. 2018) is implemented here, see :func:`haarpsi`.
- **BD-rate / BD-PSNR** (Bjontegaard, VCEG-M33) come from the ``bjontegaard`` package.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

__all__ = [
    "bd_psnr",
    "bd_rate",
    "bpp",
    "confusion_matrix",
    "haarpsi",
    "miou",
    "ms_ssim_rgb",
    "psnr_rgb",
]


# ----------------------------------------------------------------------------- rate


def bpp(num_bytes: int, width: int, height: int) -> float:
    """Bits per pixel: ``8 * num_bytes / (width * height)``."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if num_bytes < 0:
        raise ValueError(f"byte count must be >= 0, got {num_bytes}")
    return 8.0 * num_bytes / (width * height)


# ----------------------------------------------------------------------------- checks


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    for name, x in (("original", a), ("decoded", b)):
        if not isinstance(x, np.ndarray) or x.dtype != np.uint8:
            raise ValueError(f"{name} image must be a uint8 numpy array")
        if x.ndim != 3 or x.shape[2] != 3:
            raise ValueError(f"{name} image must be HxWx3 RGB, got shape {x.shape}")
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"empty image: shape {a.shape}")


# ----------------------------------------------------------------------------- PSNR


def psnr_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB over all RGB samples, peak 255: ``10 log10(255^2 / MSE)``.

    Identical images have MSE 0 and give ``math.inf`` (callers print ``"inf"``).
    """
    _check_pair(a, b)
    diff = a.astype(np.float64) - b.astype(np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)


# ----------------------------------------------------------------------------- MS-SSIM

# Wang et al. 2003, Table/Eq. (7) exponents as used by pytorch-msssim.
_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_MS_SSIM_WIN = 11


def ms_ssim_levels(short_side: int) -> int:
    """Number of MS-SSIM scales usable for an image whose shorter side is ``short_side``.

    Each scale halves the image (rounding up, as pytorch-msssim pads odd sizes), and the
    11-tap Gaussian window must fit in the coarsest scale. That gives the standard 5
    scales from 161 px up (pytorch-msssim's own requirement), fewer below, and 0 under
    11 px (no SSIM window fits at all).
    """
    levels = 0
    for k in range(len(_MS_SSIM_WEIGHTS)):
        if math.ceil(short_side / 2**k) >= _MS_SSIM_WIN:
            levels = k + 1
    return levels


def ms_ssim_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM of two RGB images (``pytorch_msssim.ms_ssim``, ``data_range=255``).

    Computed in float32 on the three RGB channels and averaged over them (float64
    differs by about 3e-7 and is 2-4 times slower).

    Small images: with the standard 5 scales and an 11-tap window, pytorch-msssim needs
    a shorter side above 160 px. Below that we keep the window and use only the scales
    that fit (:func:`ms_ssim_levels`), with the first weights of the standard set
    renormalised to sum to 1 -- the same computation as the library's, truncated. So
    the value is still 1 for identical images and comparable in spirit, but *not*
    numerically comparable with 5-scale MS-SSIM. Under 11 px no window fits and the
    result is ``nan``.
    """
    _check_pair(a, b)
    import torch
    from pytorch_msssim import ms_ssim

    levels = ms_ssim_levels(min(a.shape[:2]))
    if levels == 0:
        return math.nan
    x = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).to(torch.float32)[None]
    y = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1))).to(torch.float32)[None]
    with torch.no_grad():
        if levels == len(_MS_SSIM_WEIGHTS):
            value = ms_ssim(x, y, data_range=255, size_average=True, win_size=_MS_SSIM_WIN)
        else:
            w = np.asarray(_MS_SSIM_WEIGHTS[:levels], dtype=np.float64)
            value = _ms_ssim_truncated(x, y, list(w / w.sum()))
    return float(value)


def _ms_ssim_truncated(x, y, weights: list[float]):  # torch tensors
    """pytorch-msssim's ``ms_ssim`` loop with fewer scales.

    The library asserts a 5-scale minimum size even when given fewer weights, so the loop
    (a dozen lines) is repeated here around the library's own per-scale ``_ssim`` and
    Gaussian window. A test checks that with all 5 weights this equals ``ms_ssim``.
    """
    import torch
    import torch.nn.functional as F
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    win = _fspecial_gauss_1d(_MS_SSIM_WIN, 1.5).repeat([x.shape[1], 1, 1, 1])
    w = x.new_tensor(weights)
    mcs = []
    ssim_per_channel = None
    for i in range(len(weights)):
        ssim_per_channel, cs = _ssim(x, y, data_range=255, win=win, size_average=False)
        if i < len(weights) - 1:
            mcs.append(torch.relu(cs))
            padding = [s % 2 for s in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=padding)
            y = F.avg_pool2d(y, kernel_size=2, padding=padding)
    assert ssim_per_channel is not None  # weights has five scales
    stack = torch.stack([*mcs, torch.relu(ssim_per_channel)], dim=0)
    return torch.prod(stack ** w.view(-1, 1, 1), dim=0).mean()


# ----------------------------------------------------------------------------- HaarPSI
#
# Hand-written because the maintained implementation (piq) pulls torchvision and, through
# it, a CUDA build of torch of several GB, which this CPU-only project cannot depend on.
# Written from Reisenhofer, Bosse, Kutyniok, Wiegand, "A Haar wavelet-based perceptual
# similarity index for image quality assessment", Signal Processing: Image Communication
# 61 (2018) 33-43, Sec. 3 (Eqs. 9-14), following the authors' reference implementation
# (MATLAB HaarPSI.m and its NumPy port) for the constants and boundary handling.

_HAARPSI_C = 30.0  # Sec. 3, fitted on LIVE/TID2008/TID2013/CSIQ
_HAARPSI_ALPHA = 4.2
_HAARPSI_SCALES = 3


def _conv_same(x: np.ndarray, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """MATLAB ``conv2(x, col * row', 'same')`` with zero padding, for a separable kernel.

    MATLAB's ``'same'`` keeps the full convolution from index ``floor(k / 2)`` on; for the
    even-sized Haar kernels that is one sample off SciPy's ``signal.convolve2d('same')``,
    and the reference implementation is defined by MATLAB's alignment.
    ``ndimage.convolve1d`` with ``origin=0`` has exactly that alignment (a test checks it
    against the full convolution) and is several times faster than ``convolve2d``.
    """
    from scipy.ndimage import convolve1d

    y = convolve1d(x, col, axis=0, mode="constant", cval=0.0, origin=0)
    return convolve1d(y, row, axis=1, mode="constant", cval=0.0, origin=0)


_MEAN2 = np.array([0.5, 0.5])  # 2x2 mean filter = outer(_MEAN2, _MEAN2)


def _haar_responses(y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """|Haar wavelet high-pass responses| at scales 1..3: (vertical, horizontal) per scale.

    The scale-j filter is the 2^j x 2^j Haar high-pass, ``2^-j`` times +-1 (Eq. 9).
    """
    out = []
    for scale in range(1, _HAARPSI_SCALES + 1):
        k = 2**scale
        hp = np.concatenate([-np.ones(k // 2), np.ones(k // 2)]) * 2.0**-scale
        lp = np.ones(k)
        out.append((np.abs(_conv_same(y, hp, lp)), np.abs(_conv_same(y, lp, hp))))
    return out


def _yiq(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r, g, b = (img[..., c].astype(np.float64) for c in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    i = 0.596 * r - 0.274 * g - 0.322 * b
    q = 0.211 * r - 0.523 * g + 0.312 * b
    return y, i, q


def _subsample(x: np.ndarray) -> np.ndarray:
    """2x2 mean filter then dyadic subsampling (zero-padded at the bottom/right edge)."""
    return _conv_same(x, _MEAN2, _MEAN2)[::2, ::2]


def haarpsi(a: np.ndarray, b: np.ndarray) -> float:
    """HaarPSI similarity of two RGB images, in (0, 1]; 1 means identical.

    As in the reference implementation: the images are converted to YIQ and, to model
    the viewing distance of the subjective studies, always subsampled by 2 after a 2x2
    mean filter (the reference's default ``preprocess_with_subsampling=True``, applied
    at every size). Local similarities use the Haar responses of Y at scales 1 and 2 and
    are weighted by the larger scale-3 response of either image (Eqs. 10-12); the colour
    term compares 2x2-mean-filtered I and Q, weighted by the mean of the two luminance
    weight maps (Eq. 13). The score is ``(logit(sum(sigmoid(S) W) / sum(W)) / alpha)^2``
    (Eq. 14) with C = 30, alpha = 4.2. Convolutions zero-pad as MATLAB ``conv2('same')``.
    The formula is symmetric in ``a`` and ``b``.

    Identical images get exactly 1.0 (the formula gives 1 up to rounding; this includes
    two all-black images, where every weight is 0 and the reference returns NaN).
    HaarPSI compares magnitudes of Haar responses, so it hardly penalises a contrast
    inversion (``255 - a`` scores about 0.94 on the test image).
    """
    _check_pair(a, b)
    if np.array_equal(a, b):
        return 1.0
    c, alpha = _HAARPSI_C, _HAARPSI_ALPHA
    ya, ia, qa = (_subsample(ch) for ch in _yiq(a))
    yb, ib, qb = (_subsample(ch) for ch in _yiq(b))

    def sim(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return (2.0 * u * v + c) / (u * u + v * v + c)

    ha, hb = _haar_responses(ya), _haar_responses(yb)
    sims, weights = [], []
    for o in range(2):  # 0: vertical (horizontal edges), 1: horizontal
        weights.append(np.maximum(ha[2][o], hb[2][o]))
        sims.append((sim(ha[0][o], hb[0][o]) + sim(ha[1][o], hb[1][o])) / 2.0)
    mean2 = (_MEAN2, _MEAN2)
    ia, ib, qa, qb = (np.abs(_conv_same(ch, *mean2)) for ch in (ia, ib, qa, qb))
    sims.append((sim(ia, ib) + sim(qa, qb)) / 2.0)
    weights.append((weights[0] + weights[1]) / 2.0)

    s = np.stack(sims)
    w = np.stack(weights)
    total = float(w.sum())
    if total == 0.0:  # only for two all-black images, which are equal: unreachable here
        return 1.0
    sig = 1.0 / (1.0 + np.exp(-alpha * s))
    m = float((sig * w).sum()) / total
    score = (math.log(m / (1.0 - m)) / alpha) ** 2
    return min(score, 1.0)  # float rounding can land a hair above 1 for near-identical images


# ----------------------------------------------------------------------------- mIoU


def _labels(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {x.dtype}")
    return x.astype(np.int64, copy=False).ravel()


def _valid_labels(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Flattened (pred, target) over the pixels whose target is not ``ignore_index``."""
    if num_classes <= 0:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    if np.shape(pred) != np.shape(target):
        raise ValueError(f"shapes differ: pred {np.shape(pred)} vs target {np.shape(target)}")
    p, t = _labels(pred, "pred"), _labels(target, "target")
    if ignore_index is not None:
        keep = t != ignore_index
        p, t = p[keep], t[keep]
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        bad = t[(t < 0) | (t >= num_classes)][0]
        raise ValueError(f"target holds class {bad}, outside 0..{num_classes - 1}")
    outside = (p < 0) | (p >= num_classes)
    if ignore_index is not None:
        outside &= p != ignore_index
    if outside.any():
        raise ValueError(f"pred holds class {p[outside][0]}, outside 0..{num_classes - 1}")
    return p, t


def confusion_matrix(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    """``num_classes x num_classes`` int64 counts, rows = target class, columns = predicted.

    Pixels whose target is ``ignore_index`` are skipped. A prediction equal to
    ``ignore_index`` (e.g. "void") at a counted pixel is no class: it is left out of the
    matrix (so a row can sum to less than that class's pixel count) and :func:`miou`
    counts it as a miss. Any other value outside ``0..num_classes-1`` raises ValueError.
    One ``np.bincount`` over the flattened maps.
    """
    p, t = _valid_labels(pred, target, num_classes, ignore_index)
    return _count_pairs(p, t, num_classes)


def _count_pairs(p: np.ndarray, t: np.ndarray, num_classes: int) -> np.ndarray:
    inside = (p >= 0) & (p < num_classes)
    counts = np.bincount(t[inside] * num_classes + p[inside], minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes)


def miou(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int | None = None
) -> tuple[float, np.ndarray]:
    """Mean intersection-over-union and the per-class IoU.

    ``IoU_c = TP_c / (|target == c| + |pred == c| - TP_c)`` over the pixels whose target
    is not ``ignore_index``. Classes absent from both target and prediction get NaN and
    are left out of the mean (the mean is over classes present in either). If no class
    is present at all the mean is NaN.
    """
    p, t = _valid_labels(pred, target, num_classes, ignore_index)
    cm = _count_pairs(p, t, num_classes)
    tp = np.diag(cm).astype(np.float64)
    target_count = np.bincount(t, minlength=num_classes).astype(np.float64)
    union = target_count + cm.sum(axis=0) - tp
    iou = np.full(num_classes, np.nan)
    present = union > 0
    iou[present] = tp[present] / union[present]
    mean = float(iou[present].mean()) if present.any() else math.nan
    return mean, iou


# ----------------------------------------------------------------------------- BD

# Akima interpolation: the bjontegaard package's authors (Herglotz et al., "Beyond
# Bjontegaard", ICIP 2022, and the 2024 tutorial) found it the most accurate and stable
# of cubic / PCHIP / Akima. PCHIP is what the JCT-VC/JVET CTC Excel sheet uses; with 5
# points per curve the two usually agree within a fraction of a percent. Pass
# ``method="pchip"`` to reproduce CTC numbers exactly.
BD_METHOD = "akima"
BD_MIN_POINTS = 4


def _rd_curve(rates: Sequence[float], psnr: Sequence[float], label: str):
    r = np.asarray(rates, dtype=np.float64).ravel()
    d = np.asarray(psnr, dtype=np.float64).ravel()
    if r.size != d.size:
        raise ValueError(f"{label} curve has {r.size} rates but {d.size} PSNR values")
    if r.size < BD_MIN_POINTS:
        raise ValueError(f"{label} curve has {r.size} points; BD needs at least {BD_MIN_POINTS}")
    if not (np.isfinite(r).all() and np.isfinite(d).all()):
        raise ValueError(f"{label} curve has a non-finite rate or PSNR (lossless point?)")
    if (r <= 0).any():
        raise ValueError(f"{label} curve has a rate <= 0")
    order = np.argsort(r, kind="stable")
    r, d = r[order], d[order]
    if (np.diff(r) <= 0).any():
        raise ValueError(f"{label} curve has two points at the same rate")
    if (np.diff(d) <= 0).any():
        raise ValueError(f"{label} curve is not monotonic: PSNR must rise with the rate")
    return r, d


def _bd(
    which: str,
    anchor_rates: Sequence[float],
    anchor_psnr: Sequence[float],
    test_rates: Sequence[float],
    test_psnr: Sequence[float],
    method: str,
) -> float:
    ra, da = _rd_curve(anchor_rates, anchor_psnr, "anchor")
    rt, dt = _rd_curve(test_rates, test_psnr, "test")
    # BD-rate integrates over the common PSNR range, BD-PSNR over the common rate range.
    axis = "PSNR" if which == "rate" else "rate"
    lo_a, hi_a, lo_t, hi_t = (
        (da[0], da[-1], dt[0], dt[-1]) if which == "rate" else (ra[0], ra[-1], rt[0], rt[-1])
    )
    if min(hi_a, hi_t) <= max(lo_a, lo_t):
        raise ValueError(
            f"the RD curves do not overlap in {axis} (anchor {lo_a:.4g}..{hi_a:.4g}, "
            f"test {lo_t:.4g}..{hi_t:.4g})"
        )
    import bjontegaard as bd  # imports matplotlib.pyplot: keep it out of module import

    fn = bd.bd_rate if which == "rate" else bd.bd_psnr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = fn(ra, da, rt, dt, method=method, require_matching_points=False, min_overlap=0)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"BD-{which} is not finite for these curves")
    return value


def bd_rate(
    anchor_rates: Sequence[float],
    anchor_psnr: Sequence[float],
    test_rates: Sequence[float],
    test_psnr: Sequence[float],
    method: str = BD_METHOD,
) -> float:
    """Bjontegaard delta rate in percent (negative = the test needs fewer bits).

    Average log-rate difference over the PSNR range both curves cover. Each curve needs
    at least 4 points, positive finite rates, and PSNR strictly rising with the rate
    (points may come in any order); the curves may have different numbers of points.
    Anything else, or curves that do not overlap, raises ValueError.
    """
    return _bd("rate", anchor_rates, anchor_psnr, test_rates, test_psnr, method)


def bd_psnr(
    anchor_rates: Sequence[float],
    anchor_psnr: Sequence[float],
    test_rates: Sequence[float],
    test_psnr: Sequence[float],
    method: str = BD_METHOD,
) -> float:
    """Bjontegaard delta PSNR in dB (positive = the test is better), same rules as bd_rate."""
    return _bd("psnr", anchor_rates, anchor_psnr, test_rates, test_psnr, method)


# ----------------------------------------------------------------------------- borders


def border_cost(a: np.ndarray, b: np.ndarray, band: int = 4) -> dict[str, float]:
    """What an image's border costs a codec: the PSNR-RGB of the whole image, of the
    interior (everything at least ``band`` pixels from every edge), their difference
    ``cost_db`` (dB the outer ``band`` rows and columns take off the image's PSNR) and
    ``mse_ratio``, the border ring's MSE over the interior's."""
    _check_pair(a, b)
    h, w = a.shape[:2]
    if h <= 2 * band or w <= 2 * band:
        raise ValueError(f"image {w}x{h} has no interior inside a {band}-pixel border")
    d = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    if d.ndim == 3:
        d = d.mean(axis=2)
    total = float(d.mean())
    inner = float(d[band:-band, band:-band].mean())
    ring = (float(d.sum()) - float(d[band:-band, band:-band].sum())) / (
        h * w - (h - 2 * band) * (w - 2 * band))

    def db(mse: float) -> float:
        return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)

    return {"psnr": db(total), "psnr_interior": db(inner),
            "cost_db": db(inner) - db(total) if total and inner else 0.0,
            "mse_ratio": ring / inner if inner else math.inf}
