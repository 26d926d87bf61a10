"""The anchors' encoder settings: HEVC and AVIF PSNR-tuned by default, visual tuning as a
non-rate parameter, and the older bitstream versions of the re-tuned pipelines still
decoded (their decoders did not change). The full calibration against the published
Kodak curves is ``benchmarks/published_bd.py`` (docs/codecs.md, "Calibration")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app import api, metrics
from app.cli import main as cli_main
from app.codecs.hevc import TUNINGS, HevcCodec
from app.eval import aggregate, evaluate_image
from app.pipelines import registry
from tests.images import synthetic_image

KODAK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kodak"


def test_tune_is_a_named_non_rate_parameter_of_the_anchors() -> None:
    for name in ("hevc", "hevc-420", "avif"):
        tune = {p.name: p for p in registry.params(name)}["tune"]
        assert tune.choices == ("psnr", "visual") and not tune.rate
        assert tune.default == 0 and tune.sweep == (0,)
        assert tune.parse("visual") == 1 and tune.parse("0") == 0
        assert tune.format(1) == "visual"
        with pytest.raises(ValueError, match="one of psnr, visual"):
            tune.parse("fast")


def test_hevc_psnr_tuning_turns_off_x265_psycho_visual_options() -> None:
    assert TUNINGS["psnr"] == {"x265:psy-rd": "0", "x265:psy-rdoq": "0"}
    assert TUNINGS["visual"] == {}
    assert HevcCodec(32).tune == "psnr"
    assert HevcCodec(32, tune="visual").name.endswith("-visual")


@pytest.mark.parametrize("name", ["hevc", "avif"])
def test_both_tunings_round_trip_and_differ(name: str) -> None:
    image = synthetic_image(96, 130, seed=3)
    knob = registry.params(name)[0]
    out = {}
    for tune in (0, 1):
        enc, data = api.encode(image, name, {knob.name: knob.default, "tune": tune})
        decoded = api.decode(data)
        assert np.array_equal(decoded.image, enc.reconstruction)
        assert decoded.encoded.params["tune"] == tune
        out[tune] = data
    assert out[0] != out[1]


def test_a_sweep_keeps_the_default_tune_and_stays_one_curve() -> None:
    image = synthetic_image(48, 64, seed=5)
    points = list(evaluate_image(image, "x", "hevc", values=[32, 42]))
    assert [p.params["tune"] for p in points] == [0, 0]
    summary = aggregate(points)
    assert summary["hevc"]["params"] == ["qp"]  # tune does not make it multi-parameter


def test_cli_takes_a_tuning_by_name(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "a.png"
    from PIL import Image

    Image.fromarray(synthetic_image(40, 56, seed=2)).save(src)
    out = tmp_path / "a.edms"
    assert cli_main(["encode", str(src), "-p", "hevc", "-q", "37", "--param", "tune=visual",
                     "-o", str(out)]) == 0
    assert api.decode(out).encoded.params == {"qp": 37, "tune": 1}
    with pytest.raises(SystemExit) as stop:  # argparse's one-line usage error, exit 2
        cli_main(["encode", str(src), "-p", "hevc", "--param", "tune=sharp",
                  "-o", str(tmp_path / "b.edms")])
    assert stop.value.code == 2
    assert "tune" in capsys.readouterr().err
    assert not (tmp_path / "b.edms").exists()


@pytest.mark.skipif(not KODAK.is_dir(), reason="Kodak images not found in ../shared/data")
def test_psnr_tuning_saves_bits_at_equal_psnr_on_kodak() -> None:
    """On two Kodak images, QP 27-42: the PSNR-tuned anchor needs clearly fewer bits for
    the same PSNR-RGB than x265's psycho-visual defaults (about 10 % over all 24)."""
    from app.imageio import load_image

    curves: dict[int, tuple[list[float], list[float]]] = {0: ([], []), 1: ([], [])}
    images = [load_image(KODAK / f"kodim{i:02d}.png").array for i in (5, 19)]
    for tune in (0, 1):
        for qp in (27, 32, 37, 42):
            bpp, psnr = [], []
            for image in images:
                enc, data = api.encode(image, "hevc", {"qp": qp, "tune": tune})
                bpp.append(len(data) * 8 / (image.shape[0] * image.shape[1]))
                psnr.append(metrics.psnr_rgb(image, enc.reconstruction))
            curves[tune][0].append(float(np.mean(bpp)))
            curves[tune][1].append(float(np.mean(psnr)))
    saving = metrics.bd_rate(*curves[1], *curves[0])
    assert saving < -4.0, f"PSNR tuning saved only {saving:.1f} % against visual tuning"


def test_labels_name_the_tuning_only_where_it_is_not_the_default() -> None:
    from app.session import params_label

    assert params_label({"qp": 32, "tune": 0}) == "qp=32"
    assert params_label({"qp": 32, "tune": 1}) == "qp=32, tune=visual"
    assert params_label({"q": 75, "s": 2}) == "q=75, s=2"


def test_a_file_of_the_old_hevc_pf_is_refused_with_the_weights_message() -> None:
    """hevc-pf's PostNet was retrained on the PSNR-tuned HEVC: a file written with the
    previous weights cannot be rebuilt and says so in one line."""
    from app.errors import EdmsError

    old = Path(__file__).resolve().parent / "data" / "old" / "hevc-pf-v2.edms"
    with pytest.raises(EdmsError, match="version 2|weights"):
        api.decode(old)
