"""Golden files: one small ``.edms`` per built-in pipeline at its current version, decoded
to the stored sha256 of the pixels (CompressAI keeps expected bitstream checksums the same
way). A change that would break files already written fails here; when the bitstream is
meant to change, bump the pipeline's version and run ``python -m tests.make_golden``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app import api
from app.pipelines import registry
from tests.make_golden import DATA, INDEX, builtin_pipelines, golden_image, pixels_sha256

GOLDEN = json.loads(INDEX.read_text())


@pytest.mark.parametrize("file", sorted(GOLDEN))
def test_golden_file_decodes_to_its_hash(file: str) -> None:
    entry = GOLDEN[file]
    decoded = api.decode(DATA / file)
    assert decoded.encoded.pipeline == entry["pipeline"]
    assert decoded.encoded.pipeline_version == entry["version"]
    assert decoded.encoded.params == entry["params"]
    assert decoded.image.shape == golden_image().shape
    assert pixels_sha256(decoded.image) == entry["sha256"], (
        f"{file} no longer decodes to the same image: existing files would break")


def test_every_builtin_pipeline_has_a_golden_file_at_its_version() -> None:
    have = {(e["pipeline"], e["version"]) for e in GOLDEN.values()}
    for name in builtin_pipelines():
        spec = registry.spec(name)
        assert spec is not None
        assert (name, spec.version) in have, (
            f"no golden file for {name} v{spec.version}: run python -m tests.make_golden {name}")


@pytest.mark.parametrize("name", builtin_pipelines())
@pytest.mark.parametrize("size", [(1, 1), (13, 7), (40, 72)])
def test_every_builtin_pipeline_round_trips_bit_exactly(name: str, size: tuple[int, int]) -> None:
    """Every registered pipeline, with the shipped weights and its default parameters:
    the decoder of the bytes rebuilds the encoder's reconstruction exactly (a new
    pipeline is covered without being named here)."""
    from tests.images import synthetic_image

    image = synthetic_image(*size, seed=7)
    enc, data = api.encode(image, name, {})
    decoded = api.decode(data).image
    assert decoded.shape == image.shape and decoded.dtype == image.dtype
    if enc.reconstruction is not None:
        assert np.array_equal(decoded, enc.reconstruction)


@pytest.mark.parametrize("file", sorted(p.name for p in (DATA / "old").glob("*.edms")))
def test_files_of_superseded_versions_are_refused_in_one_line(file: str) -> None:
    """Files written by a pipeline version this build no longer reads (new weights, a
    changed decoder) are refused with the version message, not decoded wrongly."""
    from app import api
    from app.errors import EdmsError

    with pytest.raises(EdmsError, match=r"version \d+; this build has version \d+") as exc:
        api.decode(DATA / "old" / file)
    assert "\n" not in str(exc.value)
