"""app.metrics.border_cost: what the outer rows and columns take off an image's PSNR."""

from __future__ import annotations

import numpy as np
import pytest

from app.metrics import border_cost, psnr_rgb


def test_uniform_error_costs_nothing() -> None:
    a = np.full((40, 60, 3), 100, np.uint8)
    b = a + 3
    r = border_cost(a, b, band=4)
    assert r["cost_db"] == pytest.approx(0.0, abs=1e-9)
    assert r["mse_ratio"] == pytest.approx(1.0)
    assert r["psnr"] == pytest.approx(psnr_rgb(a, b))


def test_error_on_the_last_row_is_the_border_cost() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
    b = a.astype(np.int16) + rng.integers(-2, 3, a.shape)
    b[-1] += 40  # a black scan row decoded badly
    b = np.clip(b, 0, 255).astype(np.uint8)
    r = border_cost(a, b, band=4)
    assert r["cost_db"] > 1.0
    assert r["mse_ratio"] > 20
    assert r["psnr_interior"] == pytest.approx(psnr_rgb(a[4:-4, 4:-4], b[4:-4, 4:-4]))


def test_too_small_for_a_border() -> None:
    a = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="no interior"):
        border_cost(a, a, band=4)


def test_eval_points_and_documents_carry_the_border_cost(tmp_path) -> None:
    """Every measured point records its border cost, and the results document gives the
    mean per setting (``border-cost-db``), read back by benchmarks/border_cost.py."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from app.eval import aggregate, evaluate_image

    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    image[-1] = 0  # a dark scan row
    points = list(evaluate_image(image, "a.png", "jpeg", [30, 80]))
    assert all(p.border_db is not None for p in points)
    tiny = list(evaluate_image(image[:6, :6].copy(), "t.png", "jpeg", [30]))
    assert tiny[0].border_db is None
    summary = aggregate(points)
    costs = summary["jpeg"]["results"]["border-cost-db"]
    assert len(costs) == 2 and all(np.isfinite(costs))
    by_bpp = sorted(points, key=lambda p: p.bpp)
    assert costs[0] == pytest.approx(by_bpp[0].border_db)
    assert "border-cost-db" not in aggregate(points + tiny)["jpeg"]["results"]
    doc = tmp_path / "r.json"
    from app.eval import results_document

    doc.write_text(json.dumps(results_document(points, None)))
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "border_cost.py"),
                          str(doc)], capture_output=True, text=True, cwd=root, check=True)
    assert "| `jpeg` |" in out.stdout
