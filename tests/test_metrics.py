"""Tests for app.metrics."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app import metrics

KODAK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kodak"


def synth(h: int, w: int) -> np.ndarray:
    """Deterministic test image from integers only (identical on every platform)."""
    y, x = np.mgrid[0:h, 0:w]
    checker = ((x // 16 + y // 16) % 2) * 90
    ch = [(x * 7 + y * 13 + c * 50 + (x * y) % 37 + checker) % 256 for c in range(3)]
    return np.stack(ch, axis=2).astype(np.uint8)


def box4(a: np.ndarray) -> np.ndarray:
    """4x4 block average (integer floor), i.e. pixelation; sides must be multiples of 4."""
    h, w, _ = a.shape
    b = a.astype(np.int64).reshape(h // 4, 4, w // 4, 4, 3).sum(axis=(1, 3)) // 16
    return np.repeat(np.repeat(b, 4, 0), 4, 1).astype(np.uint8)


def lcg_noise(a: np.ndarray, amp: int) -> np.ndarray:
    """Uniform integer noise in [-amp, amp] from a fixed 64-bit LCG (platform independent)."""
    n = np.arange(a.size, dtype=np.uint64)
    s = (n * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)) >> np.uint64(33)
    d = (s % np.uint64(2 * amp + 1)).astype(np.int64) - amp
    return np.clip(a.astype(np.int64) + d.reshape(a.shape), 0, 255).astype(np.uint8)


def gaussian_noise(a: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, sigma, a.shape)
    return np.clip(np.rint(a + noise), 0, 255).astype(np.uint8)


def jpeg(a: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synth(96, 128)


# --------------------------------------------------------------------------- rate


def test_bpp_variants() -> None:
    assert metrics.bpp(1000, 100, 80) == pytest.approx(1.0)
    assert metrics.bpp(49152, 768, 512) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        metrics.bpp(10, 0, 5)
    with pytest.raises(ValueError):
        metrics.bpp(-1, 5, 5)


# --------------------------------------------------------------------------- PSNR


def test_psnr_known_values(image: np.ndarray) -> None:
    assert metrics.psnr_rgb(image, image) == math.inf
    b = image.copy()
    b[0, 0, 0] ^= 1  # one sample off by one: MSE = 1 / (H W 3)
    expected = 10 * math.log10(255**2 * image.size)
    assert metrics.psnr_rgb(image, b) == pytest.approx(expected, abs=1e-9)
    flat0 = np.zeros((4, 4, 3), np.uint8)
    assert metrics.psnr_rgb(flat0, flat0 + 10) == pytest.approx(20 * math.log10(25.5))


def test_psnr_is_over_all_samples_not_per_channel_mean() -> None:
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[..., 0] = 10  # only R differs: MSE over all samples = 100 / 3
    assert metrics.psnr_rgb(a, b) == pytest.approx(10 * math.log10(255**2 * 3 / 100))


def test_image_checks(image: np.ndarray) -> None:
    for fn in (metrics.psnr_rgb, metrics.ms_ssim_rgb, metrics.haarpsi):
        with pytest.raises(ValueError, match="shapes differ"):
            fn(image, image[:-1])
        with pytest.raises(ValueError, match="uint8"):
            fn(image, image.astype(np.float32))
        with pytest.raises(ValueError, match="HxWx3"):
            fn(image[..., 0], image[..., 0])


# --------------------------------------------------------------------------- MS-SSIM


def test_ms_ssim_levels() -> None:
    assert [metrics.ms_ssim_levels(s) for s in (1, 10, 11, 21, 41, 81, 160, 161, 512)] == [
        0, 0, 1, 2, 3, 4, 4, 5, 5,
    ]  # fmt: skip


def test_ms_ssim_identical_and_monotonic() -> None:
    a = synth(168, 168)
    assert metrics.ms_ssim_rgb(a, a) == pytest.approx(1.0, abs=1e-12)
    scores = [metrics.ms_ssim_rgb(a, gaussian_noise(a, s)) for s in (2, 8, 20, 50)]
    assert all(x > y for x, y in zip(scores, scores[1:], strict=False)), scores
    assert 0 < scores[-1] < scores[0] < 1


def test_ms_ssim_matches_library_call() -> None:
    from pytorch_msssim import ms_ssim

    a = synth(164, 170)
    b = gaussian_noise(a, 12)
    x = torch.from_numpy(a.transpose(2, 0, 1)[None].astype(np.float64))
    y = torch.from_numpy(b.transpose(2, 0, 1)[None].astype(np.float64))
    lib = float(ms_ssim(x, y, data_range=255, size_average=True))
    assert metrics.ms_ssim_rgb(a, b) == pytest.approx(lib, abs=1e-5)  # ours runs in float32
    # our reduced-scale loop, given all 5 weights, is the library's computation
    own = float(metrics._ms_ssim_truncated(x, y, list(metrics._MS_SSIM_WEIGHTS)))
    assert own == pytest.approx(lib, abs=1e-12)


def test_ms_ssim_small_images() -> None:
    a = synth(64, 100)  # 3 scales
    b = gaussian_noise(a, 10)
    value = metrics.ms_ssim_rgb(a, b)
    assert 0 < value < 1
    assert metrics.ms_ssim_rgb(a, a) == pytest.approx(1.0, abs=1e-12)
    tiny = synth(8, 8)
    assert math.isnan(metrics.ms_ssim_rgb(tiny, tiny))


# --------------------------------------------------------------------------- HaarPSI

# Scores of the authors' reference implementation (rgcda/haarpsi, haarPsi.py, NumPy path:
# C=30, alpha=4.2, subsampling on) on the integer-only inputs above, computed once
# outside this repository. Our implementation agreed to 1e-14 on these and on Kodak
# images under JPEG q=5..90.
HAARPSI_REFERENCE = {
    "box4": 0.4914238037777247,
    "noise20": 0.9715136859888652,
    "noise60": 0.839403705900783,
    "odd_37x29_noise30": 0.9729570747236418,
}


def test_haarpsi_matches_reference_implementation(image: np.ndarray) -> None:
    pairs = {
        "box4": (image, box4(image)),
        "noise20": (image, lcg_noise(image, 20)),
        "noise60": (image, lcg_noise(image, 60)),
        "odd_37x29_noise30": (synth(37, 29), lcg_noise(synth(37, 29), 30)),
    }
    for name, (a, b) in pairs.items():
        assert metrics.haarpsi(a, b) == pytest.approx(HAARPSI_REFERENCE[name], abs=1e-9), name


def test_haarpsi_identical_is_one(image: np.ndarray) -> None:
    assert metrics.haarpsi(image, image) == 1.0
    black = np.zeros((5, 6, 3), np.uint8)  # every weight 0: reference gives NaN, we give 1
    assert metrics.haarpsi(black, black) == 1.0
    one = synth(1, 1)
    assert metrics.haarpsi(one, one) == 1.0


def test_haarpsi_monotonic_in_noise(image: np.ndarray) -> None:
    scores = [metrics.haarpsi(image, gaussian_noise(image, s)) for s in (1, 4, 10, 25, 60)]
    assert all(x > y for x, y in zip(scores, scores[1:], strict=False)), scores
    assert all(0 < s <= 1 for s in scores)


def test_haarpsi_monotonic_in_jpeg_quality(image: np.ndarray) -> None:
    scores = [metrics.haarpsi(image, jpeg(image, q)) for q in (95, 75, 40, 15, 3)]
    assert all(x > y for x, y in zip(scores, scores[1:], strict=False)), scores


def test_haarpsi_symmetric_and_in_range(image: np.ndarray) -> None:
    b = gaussian_noise(image, 15)
    assert metrics.haarpsi(image, b) == pytest.approx(metrics.haarpsi(b, image), abs=1e-12)
    flat = np.full_like(image, 128)  # all structure gone
    assert 0 < metrics.haarpsi(image, flat) < 0.2


def test_haarpsi_tiny_and_odd_sizes() -> None:
    for h, w in ((1, 1), (7, 13), (2, 3), (13, 7)):
        a = synth(h, w)
        value = metrics.haarpsi(a, lcg_noise(a, 25))
        assert 0 < value <= 1 and math.isfinite(value)


def test_conv_same_matches_matlab_alignment() -> None:
    from scipy.signal import convolve2d

    x = np.random.default_rng(1).random((9, 11))
    for col, row in (
        (np.array([-1.0, 1.0]), np.ones(2)),
        (np.r_[-np.ones(4), np.ones(4)] / 8, np.ones(8)),
        (np.array([0.5, 0.5]), np.array([0.5, 0.5])),
        (np.ones(4), np.r_[-np.ones(2), np.ones(2)]),
    ):
        full = convolve2d(x, np.outer(col, row), mode="full")
        r0, c0 = len(col) // 2, len(row) // 2  # MATLAB conv2 'same' keeps full[k//2 :]
        expected = full[r0 : r0 + 9, c0 : c0 + 11]
        np.testing.assert_allclose(metrics._conv_same(x, col, row), expected, atol=1e-12)


@pytest.mark.skipif(not KODAK.is_dir(), reason="Kodak images not found in ../shared/data")
def test_haarpsi_and_ms_ssim_on_kodak_jpeg() -> None:
    a = np.asarray(Image.open(KODAK / "kodim23.png").convert("RGB"))[:256, :384]
    out = {q: {"psnr-rgb": metrics.psnr_rgb(a, b), "ms-ssim-rgb": metrics.ms_ssim_rgb(a, b),
               "haarpsi": metrics.haarpsi(a, b)} for q in (10, 50, 90) for b in [jpeg(a, q)]}
    for key in ("psnr-rgb", "ms-ssim-rgb", "haarpsi"):
        assert out[10][key] < out[50][key] < out[90][key], key
    assert 0.5 < out[10]["haarpsi"] < out[90]["haarpsi"] < 1



def test_miou_hand_computed() -> None:
    target = np.array([[0, 0, 1, 1], [2, 2, 1, 9]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 1, 0]])
    cm = metrics.confusion_matrix(pred, target, 3, ignore_index=9)
    assert cm.tolist() == [[1, 1, 0], [0, 3, 0], [1, 0, 1]]
    mean, iou = metrics.miou(pred, target, 3, ignore_index=9)
    # class 0: tp 1, target 2, pred 2 -> 1/3; class 1: 3/(3+4-3) = 3/4; class 2: 1/2
    np.testing.assert_allclose(iou, [1 / 3, 3 / 4, 1 / 2])
    assert mean == pytest.approx((1 / 3 + 3 / 4 + 1 / 2) / 3)


def test_miou_absent_classes_are_nan_and_skipped() -> None:
    target = np.array([0, 0, 1, 1])
    pred = np.array([0, 0, 1, 3])
    mean, iou = metrics.miou(pred, target, 5)
    assert iou[2] != iou[2] and iou[4] != iou[4]  # NaN: in neither map
    assert iou[3] == 0.0  # predicted but absent from target: present, IoU 0
    assert mean == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    all_void = np.full(4, 11)
    mean, iou = metrics.miou(all_void, all_void, 11, ignore_index=11)
    assert math.isnan(mean) and np.isnan(iou).all()


def test_miou_void_prediction_is_a_miss() -> None:
    target = np.array([3, 3, 3, 3])
    pred = np.array([3, 3, 11, 11])  # the network said "void" on half of class 3
    cm = metrics.confusion_matrix(pred, target, 11, ignore_index=11)
    assert cm.sum() == 2
    mean, iou = metrics.miou(pred, target, 11, ignore_index=11)
    assert iou[3] == pytest.approx(0.5) and mean == pytest.approx(0.5)


def test_miou_rejects_bad_labels() -> None:
    with pytest.raises(ValueError, match="target holds class 12"):
        metrics.miou(np.zeros(3, int), np.array([0, 12, 1]), 11, ignore_index=11)
    with pytest.raises(ValueError, match="pred holds class 200"):
        metrics.miou(np.array([0, 200, 1]), np.zeros(3, int), 11, ignore_index=11)
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.miou(np.zeros(3, int), np.zeros(4, int), 11)
    with pytest.raises(ValueError, match="integer"):
        metrics.miou(np.zeros(3), np.zeros(3), 11)


def test_confusion_matrix_matches_naive_count_on_camvid_sized_maps() -> None:
    rng = np.random.default_rng(5)
    target = rng.integers(0, 12, size=(360, 480), dtype=np.uint8)  # 11 = void
    pred = rng.integers(0, 11, size=(360, 480), dtype=np.uint8)
    cm = metrics.confusion_matrix(pred, target, 11, ignore_index=11)
    keep = target != 11
    naive = np.zeros((11, 11), np.int64)
    np.add.at(naive, (target[keep].astype(int), pred[keep].astype(int)), 1)
    assert np.array_equal(cm, naive) and cm.dtype == np.int64
    mean, iou = metrics.miou(pred, target, 11, ignore_index=11)
    tp = np.diag(naive)
    np.testing.assert_allclose(iou, tp / (naive.sum(0) + naive.sum(1) - tp))
    assert mean == pytest.approx(iou.mean())


# --------------------------------------------------------------------------- BD

ANCHOR_RATE = [0.188, 0.386, 0.712, 1.194, 1.872]  # Kodak HEVC, ../shared/data/README.md
ANCHOR_PSNR = [28.55, 31.42, 34.51, 37.69, 40.73]


def test_bd_rate_exact_for_scaled_rates() -> None:
    test_rate = [r * 0.9 for r in ANCHOR_RATE]  # same quality with 10 % fewer bits
    for method in ("akima", "pchip"):
        got = metrics.bd_rate(ANCHOR_RATE, ANCHOR_PSNR, test_rate, ANCHOR_PSNR, method=method)
        assert got == pytest.approx(-10.0, abs=1e-9)
    assert metrics.bd_rate(ANCHOR_RATE, ANCHOR_PSNR, ANCHOR_RATE, ANCHOR_PSNR) == pytest.approx(0)


def test_bd_psnr_exact_for_shifted_psnr() -> None:
    better = [p + 0.5 for p in ANCHOR_PSNR]
    assert metrics.bd_psnr(ANCHOR_RATE, ANCHOR_PSNR, ANCHOR_RATE, better) == pytest.approx(0.5)
    assert metrics.bd_rate(ANCHOR_RATE, ANCHOR_PSNR, ANCHOR_RATE, better) < 0


def test_bd_order_and_point_counts_do_not_matter() -> None:
    test_rate = [0.2, 0.45, 0.8, 1.3]
    test_psnr = [28.0, 31.5, 34.2, 37.0]
    ref = metrics.bd_rate(ANCHOR_RATE, ANCHOR_PSNR, test_rate, test_psnr)
    shuffled = metrics.bd_rate(
        ANCHOR_RATE[::-1], ANCHOR_PSNR[::-1], test_rate[::-1], test_psnr[::-1]
    )
    assert shuffled == pytest.approx(ref) and ref > 0  # the test curve is worse


def test_bd_refuses_bad_curves() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        metrics.bd_rate(ANCHOR_RATE[:3], ANCHOR_PSNR[:3], ANCHOR_RATE, ANCHOR_PSNR)
    bumpy = [28.55, 31.42, 31.0, 37.69, 40.73]
    with pytest.raises(ValueError, match="not monotonic"):
        metrics.bd_rate(ANCHOR_RATE, ANCHOR_PSNR, ANCHOR_RATE, bumpy)
    with pytest.raises(ValueError, match="not monotonic"):
        metrics.bd_psnr(ANCHOR_RATE, bumpy, ANCHOR_RATE, ANCHOR_PSNR)
    with pytest.raises(ValueError, match="do not overlap in PSNR"):
        metrics.bd_rate(ANCHOR_RATE, ANCHOR_PSNR, ANCHOR_RATE, [p + 20 for p in ANCHOR_PSNR])
    with pytest.raises(ValueError, match="do not overlap in rate"):
        metrics.bd_psnr(ANCHOR_RATE, ANCHOR_PSNR, [r * 100 for r in ANCHOR_RATE], ANCHOR_PSNR)
    with pytest.raises(ValueError, match="non-finite"):
        metrics.bd_rate(ANCHOR_RATE, [*ANCHOR_PSNR[:-1], math.inf], ANCHOR_RATE, ANCHOR_PSNR)
    with pytest.raises(ValueError, match="same rate"):
        metrics.bd_rate([0.1, 0.1, 0.3, 0.4], [30, 31, 32, 33], ANCHOR_RATE, ANCHOR_PSNR)
    with pytest.raises(ValueError, match="rates but"):
        metrics.bd_psnr(ANCHOR_RATE, ANCHOR_PSNR[:4], ANCHOR_RATE, ANCHOR_PSNR)
    with pytest.raises(ValueError, match="rate <= 0"):
        metrics.bd_rate([0, 1, 2, 3], [30, 31, 32, 33], ANCHOR_RATE, ANCHOR_PSNR)
