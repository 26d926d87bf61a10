"""MENet as ``menet`` and ``menet-noenh`` (Chen, Yao, Liu, Zhao, PRCV 2021).

The bitstream of :mod:`app.pipelines.endtoend` with two LATENT layers: the compression
latent z_x (ŷ) and the semantic latent ẑ_s, both coded under the one hyperprior. The
decoder returns the image **and** the class map from the same bits (§3.2): the semantic
decoder turns the decoded latent into the CamVid class map (the ``segmentation`` view;
the shipped weights read the whole latent [ŷ, ẑ_s], the paper's decoder ẑ_s alone, see
:mod:`app.nets.menet`), ŷ goes through
the synthesis transform to x̂, and the post-enhancement module (§3.3) turns x̂ and the
class map into x̂_e, the decoded image of ``menet``. ``menet-noenh`` decodes the same
bitstream without the enhancement module (x̂ is its decoded image): the ablation of
§3.3's module.
"""

from __future__ import annotations

import numpy as np
import torch

from app.pipelines.base import View, ViewKind
from app.pipelines.endtoend import LATENT_SCALE, EndToEndPipeline, tiled_latent, to_uint8
from app.pipelines.menet_spec import MENET, MENET_NOENH


class MenetPipeline(EndToEndPipeline):
    spec = MENET
    weights = "menet"
    enhance = True

    def part_channels(self) -> tuple[int, ...]:
        return (int(self.model.M), int(self.model.Ms))

    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        return self._analysis_model().analyse(x.to(self._device)).cpu()

    def _synth_tile(self, lat: torch.Tensor) -> torch.Tensor:
        x_hat, seg = self.model.synthesise(lat)
        if self.enhance:
            x_hat = self.model.enhance(x_hat, seg)
        return torch.cat([x_hat, seg.argmax(1, keepdim=True).to(x_hat.dtype)], dim=1)

    def synthesise(self, lat: torch.Tensor, h: int, w: int,
                   views: dict[str, View] | None, quality: torch.Tensor | None = None
                   ) -> np.ndarray:
        hl, wl = lat.shape[-2:]
        out = tiled_latent(self._synth_tile, [(lat, 1)], LATENT_SCALE, hl, wl)
        if views is not None:
            views["segmentation"] = View(ViewKind.SEGMENTATION, np.ascontiguousarray(
                out[0, 3, :h, :w].to(torch.uint8).numpy()), overlay=True)
        return to_uint8(out[:, :3], h, w)


class MenetNoEnhancePipeline(MenetPipeline):
    spec = MENET_NOENH
    enhance = False
