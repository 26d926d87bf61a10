"""Growing a trained end-to-end codec's latent without losing what it learned.

A latent of M channels at 1/16 resolution caps what the synthesis can rebuild: with M =
128 the lite hyperprior saturated near 30 dB on validation photographs, however many bits
it spent (the linear bound, PCA of 16x16 RGB patches keeping 128 of 768 components, is
31 dB there; 256 components give 41 dB). Retraining a wider network from scratch would
throw away CPU-hours, so :func:`widen_state` maps trained weights into a network with more
latent channels, the way Net2Net (Chen, Goodfellow, Shlens, ICLR 2016) widens a layer
while keeping its function: the new channels' *producers* (the last convolution of g_a,
the last of h_s, the gain units) get the wider network's fresh initialisation, and every
*consumer* of the latent (g_s's first deconvolution, h_a's first convolution, MENet's
aggregation) gets zero weights from them. The wider network therefore starts out decoding
exactly what the narrow one did, and gradient descent then puts the new channels to use.

Written by hand: no library widens a convolutional codec's latent (Net2Net's reference code
handles dense and plain convolutional layers, not GDN codecs with gain units).
"""

from __future__ import annotations

import torch
from torch import nn


def _index_map(old: int, new: int, old_m: int, new_m: int) -> torch.Tensor:
    """Where each of ``old`` channels of a latent-shaped dimension lands among ``new``.

    The first ``old_m`` (the image latent y) stay in place; the rest (MENet's semantic
    latent, after y) move up by the growth of y."""
    idx = torch.arange(old)
    if new - old != new_m - old_m:
        raise ValueError(f"cannot map {old} channels to {new} (latent {old_m} -> {new_m})")
    return torch.where(idx < old_m, idx, idx + (new_m - old_m))


def _consumer_dim(module: nn.Module, name: str) -> int | None:
    """The input-channel dimension of a weight (1 for Conv2d, 0 for ConvTranspose2d)."""
    if not name.endswith("weight"):
        return None
    if isinstance(module, nn.ConvTranspose2d):
        return 0
    if isinstance(module, nn.Conv2d):
        return 1
    return None


@torch.no_grad()
def widen_state(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load ``state`` (trained with a narrower latent: its width is read from g_a's last
    convolution) into ``model`` (``model.M`` channels), function-preservingly; returns the
    names widened.

    Tensors of equal shape are copied. A tensor that differs in one dimension by exactly the
    latent's growth gets the old values at their mapped positions (:func:`_index_map`);
    if that dimension is a convolution's input, the new positions are zeroed; otherwise
    (an output, a bias, a gain vector) they keep the fresh initialisation, except the gain
    units, whose new channels take the mean gain of each quality.
    """
    new_m = int(model.M)  # type: ignore[arg-type]
    old_m = int(state["g_a.convs.3.weight"].shape[0])
    grow = new_m - old_m
    if grow < 0:
        raise ValueError(f"the model's latent ({new_m}) is narrower than the state's ({old_m})")
    own = model.state_dict()
    modules = dict(model.named_modules())
    widened = []
    for key, target in own.items():
        if key not in state:
            continue
        src = state[key].to(target.dtype)
        if src.shape == target.shape:
            target.copy_(src)
            continue
        diff = [d for d in range(src.dim()) if src.shape[d] != target.shape[d]]
        if len(diff) != 1 or target.shape[diff[0]] - src.shape[diff[0]] != grow:
            raise ValueError(f"{key}: {tuple(src.shape)} does not widen to {tuple(target.shape)}")
        d = diff[0]
        idx = _index_map(src.shape[d], target.shape[d], old_m, new_m)
        module = modules.get(key.rsplit(".", 1)[0])
        if module is not None and _consumer_dim(module, key) == d:
            target.zero_()
        elif key.startswith("gains."):
            # d == 1 (channels); a new channel starts with each quality's mean gain
            target.copy_(src.abs().mean(dim=1, keepdim=True).expand_as(target))
        target.index_copy_(d, idx, src)
        widened.append(key)
    return widened
