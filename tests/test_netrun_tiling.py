"""netrun.tiled at image sides that are not multiples of the 8-pixel unit (issue: 1436x730
photos crashed because the last tile's output was padded to the unit)."""

import pytest
import torch

from app.pipelines import netrun
from app.pipelines.netrun import UNIT, tiled


def _padded_identity(x: torch.Tensor) -> torch.Tensor:
    """Like the networks: pad the tile to the unit, process, return the padded size."""
    h, w = x.shape[-2:]
    ph, pw = -h % UNIT, -w % UNIT
    return torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")


@pytest.mark.parametrize("height,width", [(730, 1436), (850, 1276), (536, 1724),
                                          (936, 1404), (1025, 1031), (9, 1033)])
def test_tiled_matches_whole_image_at_odd_sizes(height: int, width: int) -> None:
    x = torch.arange(height * width, dtype=torch.float32).reshape(1, 1, height, width)
    out = tiled(_padded_identity, [(x, UNIT)], UNIT, height, width, tile=256, halo=16)
    assert out.shape == (1, 1, height, width)
    assert torch.equal(out, x)


def test_tiled_compact_output_at_odd_sizes() -> None:
    height, width = 730, 1436
    hu, wu = -(-height // UNIT), -(-width // UNIT)
    c = torch.arange(hu * wu, dtype=torch.float32).reshape(1, 1, hu, wu)
    out = tiled(lambda t: t, [(c, 1)], 1, height, width, tile=256, halo=16)
    assert torch.equal(out, c)
    assert netrun.TILE % UNIT == 0
