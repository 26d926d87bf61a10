"""Starting MENet's compression branch from a trained scale hyperprior.

MENet's base network *is* the hyperprior's (Chen et al. 2021, §3.1: g_a, g_s, h_a, h_s of
Ballé et al. 2018); the two differ only in that MENet's hyperprior also codes the semantic
latent z_s, concatenated after y. So the hyperprior's CPU-hours need not be spent twice:
:func:`graft_hyperprior` copies g_a, g_s, the factorized prior of the hyper-latent and the
y-part of h_a's first convolution, h_s's last convolution and the gain units into MENet,
and keeps MENet's own weights for everything of z_s (the aggregation module, the semantic
decoder, the enhancement module, and z_s's slices of h_s and the gains; its slice of h_a's
first convolution is zeroed, so the hyper-latent starts as the hyperprior's). A short joint
training (``edms train menet --init MENET --graft HYPERPRIOR``) then re-fits z_s's scales
to the new hyper-latent and the enhancement module to the new x̂.
"""

from __future__ import annotations

import torch
from torch import nn

# tensors whose channel dimension is MENet's concatenated latent [y, z_s]
_LATENT_DIM = {"h_a.0.weight": 1, "h_s.4.weight": 0, "h_s.4.bias": 0,
               "gains.gain": 1, "gains.inv_gain": 1}
_PREFIXES = ("g_a.", "g_s.", "h_a.", "h_s.", "entropy_bottleneck.", "gains.")


@torch.no_grad()
def graft_hyperprior(menet: nn.Module, hyper: dict[str, torch.Tensor]) -> list[str]:
    """Copy the hyperprior state ``hyper`` into ``menet``'s compression branch (in place);
    returns the names copied. Both must have the same N and M."""
    own = menet.state_dict()
    m = int(menet.M)  # type: ignore[arg-type]
    copied = []
    for key, src in hyper.items():
        if not key.startswith(_PREFIXES) or key not in own:
            continue
        target = own[key]
        src = src.to(target.dtype)
        if key in _LATENT_DIM:
            d = _LATENT_DIM[key]
            if src.shape[d] != m:
                raise ValueError(f"{key}: the hyperprior's latent has {src.shape[d]} channels, "
                                 f"MENet's y has {m}")
            target.narrow(d, 0, m).copy_(src)
            if key == "h_a.0.weight":
                # z starts as the hyperprior's own: z_s's old weights into h_a fitted
                # features the grafted g_a no longer gives
                target.narrow(d, m, target.shape[d] - m).zero_()
        elif src.shape == target.shape:
            target.copy_(src)
        else:
            raise ValueError(f"{key}: {tuple(src.shape)} does not fit {tuple(target.shape)}")
        copied.append(key)
    return copied


def freeze_base(menet: nn.Module) -> list[str]:
    """Keep the grafted image path fixed while MENet's semantic side trains.

    g_a and g_s stop learning, and so do the y-slices of the tensors shared with z_s (h_a's
    first convolution, h_s's last, the gain units: their gradients are masked to z_s's
    part), so the image x̂ stays the hyperprior's; the hyper transforms, the hyper-latent's
    prior, the aggregation module, the semantic decoder and the enhancement module learn.
    Returns the names of the parameters that still learn (the y-masked ones included).
    """
    m = int(menet.M)  # type: ignore[arg-type]
    params = dict(menet.named_parameters())
    for name, p in params.items():
        if name.startswith(("g_a.", "g_s.")):
            p.requires_grad_(False)
    for name, d in _LATENT_DIM.items():
        mask = torch.ones_like(params[name])
        mask.narrow(d, 0, m).zero_()
        params[name].register_hook(lambda g, mask=mask: g * mask)
    return [n for n, p in params.items() if p.requires_grad]
