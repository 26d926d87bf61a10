"""A third-party pipeline package written into a folder (for the plug-in tests).

``write_plugins(root)`` makes two distributions that declare
``edms_workbench.pipelines`` entry points exactly as an installed wheel would (a
``.dist-info`` folder with ``METADATA`` and ``entry_points.txt`` next to the package):

* ``edms-toy-plugin`` with the pipeline ``toy-quant`` (colour quantisation with step
  ``q``, coded with the lossless PNG codec in a layer of its own kind, ``toy image``,
  which no table of the project names) and ``toy-ref``, a reference network of the
  classification task (it ranks classes by the image's mean brightness); nothing of
  it lives in the project;
* ``edms-broken-plugin`` whose module raises on import, so it must be listed with its
  error while every other pipeline keeps working.

Putting ``root`` on ``sys.path`` (or ``PYTHONPATH``) is all it takes to install them.
"""

from __future__ import annotations

from pathlib import Path

TOY_NAME = "toy-quant"
TOY_KIND, TOY_KIND_NAME = 200, "toy image"
TOY_REFERENCE, TOY_REFERENCE_LABEL = "toy-ref", "Toy ranker"
BROKEN_ENTRY = "broken-toy"
BROKEN_MESSAGE = "this plug-in needs libnothing"

_TOY_MODULE = '''
"""A toy third-party pipeline: quantise the colours with step q, code the result losslessly."""

import numpy as np

from app.codecs import decode_layer, png
from app.pipelines.base import Encoded, Layer, Pipeline
from app.pipelines.spec import ParamSpec, PipelineSpec, ReferenceSpec

TOY_KIND = 200  # a layer kind of its own, in the range the project leaves to pipelines
SPEC = PipelineSpec(
    "toy-quant", 3, "Toy plug-in: colours quantised with step q, PNG-coded",
    (ParamSpec("q", "quantiser step", 1, 64, 16, (8, 32), False),),
    "extension", "edms_toy_plugin:ToyPipeline", layer_kinds={TOY_KIND: "toy image"},
    display_names={"toyq": "ToyQ"})
REFERENCE = ReferenceSpec(
    "toy-ref", "classification", "Toy ranker", "ranks the classes by mean brightness",
    "edms_toy_plugin:toy_reference")
SPECS = [SPEC, REFERENCE]


def toy_reference(config):
    def top5(image):
        first = int(image.mean()) % 10
        return [(first + i) % 10 for i in range(5)]
    return top5


class ToyPipeline(Pipeline):
    spec = SPEC

    def encode_prepared(self, prepared, params):
        step = params["q"]
        recon = (prepared // step * step + step // 2).clip(0, 255).astype(np.uint8)
        codec = png()
        h, w = prepared.shape[:2]
        return Encoded(self.name, self.version, b"", w, h, dict(params),
                       [Layer(TOY_KIND, codec.codec_id, codec.encode(recon))], recon)

    def decode(self, encoded):
        return decode_layer(encoded.layers[0].codec_id, encoded.layers[0].data)
'''


def _dist(root: Path, name: str, entry_points: str) -> None:
    info = root / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[edms_workbench.pipelines]\n{entry_points}\n")


def write_plugins(root: Path) -> Path:
    """Write both plug-in distributions into ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "edms_toy_plugin.py").write_text(_TOY_MODULE)
    _dist(root, "edms-toy-plugin", "toy = edms_toy_plugin:SPECS")
    (root / "edms_broken_plugin.py").write_text(f"raise ImportError({BROKEN_MESSAGE!r})\n")
    _dist(root, "edms-broken-plugin", f"{BROKEN_ENTRY} = edms_broken_plugin:SPECS")
    return root
