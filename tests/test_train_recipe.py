"""The end-to-end trainers' recipe knobs (no training here: the draws only)."""

from __future__ import annotations

import random
from collections import Counter
from itertools import pairwise

import pytest

pytest.importorskip("torch")

from app.train.e2e import quality_weights  # noqa: E402


def test_no_emphasis_draws_the_qualities_uniformly() -> None:
    assert quality_weights(10, 0.0) == [1.0] * 10


def test_emphasis_grows_linearly_to_one_plus_e_at_the_top() -> None:
    w = quality_weights(10, 1.0)
    assert w[0] == 1.0 and w[-1] == pytest.approx(2.0)
    steps = [b - a for a, b in pairwise(w)]
    assert all(s == pytest.approx(1 / 9) for s in steps)
    assert quality_weights(1, 3.0) == [1.0]


def test_draws_follow_the_weights() -> None:
    rng = random.Random(0)
    counts = Counter(rng.choices(range(10), quality_weights(10, 1.0), k=30000))
    low, high = sum(counts[q] for q in range(3)), sum(counts[q] for q in range(7, 10))
    # expected ratio (1 + 1.0 + 1.111 + 1.222) / (1.778 + 1.889 + 2.0) = 3.33 / 5.67
    assert low / high == pytest.approx(3.333 / 5.667, rel=0.05)


def test_negative_emphasis_is_refused() -> None:
    with pytest.raises(ValueError, match="rate emphasis"):
        quality_weights(10, -0.5)


def test_the_recipe_options_refuse_bad_values_as_usage_errors(capsys) -> None:  # noqa: ANN001
    import argparse

    from app.train.e2e import add_args

    p = argparse.ArgumentParser(prog="train")
    add_args(p)
    assert p.parse_args(["--rate-emphasis", "1", "--camvid-every", "4"]).camvid_every == 4
    for bad, message in ((["--rate-emphasis", "-1"], "at least 0"),
                         (["--camvid-every", "0"], "at least 1"),
                         (["--camvid-every", "x"], "expected a number")):
        with pytest.raises(SystemExit):
            p.parse_args(bad)
        assert message in capsys.readouterr().err
