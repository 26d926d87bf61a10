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
The same holds for the transforms' width N: with N = 64 the lite synthesis, fed the
*unquantised* latent, saturated near 33.5 dB on validation photographs (the linear bound
of 64 channels at 1/8 resolution, PCA of 8x8 patches keeping 64 of 192 components, is
39.6 dB): widening N keeps what was learned and adds capacity.

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


def _input_dim(module: nn.Module | None, name: str) -> int | None:
    """The input-channel dimension of a weight (1 for Conv2d, 0 for ConvTranspose2d)."""
    if module is None or not name.endswith("weight"):
        return None
    if isinstance(module, nn.ConvTranspose2d):
        return 0
    if isinstance(module, nn.Conv2d):
        return 1
    return None


def _output_dim(module: nn.Module | None, name: str) -> int | None:
    inp = _input_dim(module, name)
    return None if inp is None else 1 - inp


@torch.no_grad()
def widen_state(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load ``state`` (trained with a narrower latent M and/or narrower transforms N: both
    read from g_a's convolutions) into ``model`` (``model.M``, ``model.N``),
    function-preservingly; returns the names widened.

    Tensors of equal shape are copied. A tensor whose dimensions differ by the latent's
    growth (mapped with :func:`_index_map`: MENet's semantic latent moves up) or by the
    transforms' growth (old channels first) gets the old values at their positions and
    keeps the fresh initialisation elsewhere, with two exceptions. A convolution reading a
    grown dimension gets zero weights from the new input channels into its old output
    channels (so the old channels compute what they did). The gain units' new channels
    take each quality's mean gain. GDN needs no exception: its fresh γ is zero off the
    diagonal (the re-parametrisation's lower bound), so no old channel is normalised by a
    new one.
    """
    new_m, new_n = int(model.M), int(model.N)  # type: ignore[arg-type]
    old_m = int(state["g_a.convs.3.weight"].shape[0])
    old_n = int(state["g_a.convs.0.weight"].shape[0])
    grow_m, grow_n = new_m - old_m, new_n - old_n
    if grow_m < 0 or grow_n < 0:
        raise ValueError(f"the model (N {new_n}, M {new_m}) is narrower than the state's "
                         f"(N {old_n}, M {old_m})")
    old_nh = int(state["h_a.4.weight"].shape[0])
    if old_nh != int(model.Nh):  # type: ignore[arg-type]
        # new hyper-latent channels would cost bits from the first step: not function-
        # preserving, so the hyper transforms keep their width
        raise ValueError(f"the hyper transforms' width does not widen ({old_nh} -> {model.Nh})")
    own = model.state_dict()
    modules = dict(model.named_modules())
    widened = []
    for key, target in own.items():
        if key not in state or key.startswith("checkerboard."):
            # the checkerboard context is not widened: it keeps its zero start, which is
            # the plain scale hyperprior (retrain it with --entropy-only afterwards)
            continue
        src = state[key].to(target.dtype)
        if src.shape == target.shape:
            target.copy_(src)
            continue
        if src.dim() != target.dim():
            raise ValueError(f"{key}: {tuple(src.shape)} does not widen to {tuple(target.shape)}")
        module = modules.get(key.rsplit(".", 1)[0])
        index = []
        for d in range(src.dim()):
            a, b = src.shape[d], target.shape[d]
            latent = grow_m > 0 and b - a == grow_m and a >= old_m
            width = grow_n > 0 and a == old_n and b == new_n
            if a == b:
                index.append(torch.arange(a))
            elif latent and not width:
                index.append(_index_map(a, b, old_m, new_m))
            elif width and not latent:
                index.append(torch.arange(a))
            else:
                raise ValueError(f"{key}: {tuple(src.shape)} does not widen to "
                                 f"{tuple(target.shape)} (N {old_n}->{new_n}, "
                                 f"M {old_m}->{new_m})")
        inp, out = _input_dim(module, key), _output_dim(module, key)
        if inp is not None and src.shape[inp] != target.shape[inp]:
            # the old output channels must not read the new input channels
            assert out is not None  # a convolution weight has both
            new_in = torch.ones(target.shape[inp], dtype=torch.bool)
            new_in[index[inp]] = False
            old_rows = target.index_select(out, index[out])
            old_rows.index_fill_(inp, new_in.nonzero().flatten(), 0.0)
            target.index_copy_(out, index[out], old_rows)
        elif key.startswith("gains."):
            # channels are dimension 1; a new channel starts with each quality's mean gain
            target.copy_(src.abs().mean(dim=1, keepdim=True).expand_as(target))
        target[torch.meshgrid(*index, indexing="ij")] = src
        widened.append(key)
    return widened


@torch.no_grad()
def extend_qualities(state: dict[str, torch.Tensor], old_lambdas: tuple[float, ...] | list[float],
                     new_lambdas: tuple[float, ...] | list[float]) -> dict[str, torch.Tensor]:
    """``state`` with its gain units re-indexed from the ``old_lambdas`` ladder to
    ``new_lambdas`` (one row of ``gains.gain`` / ``gains.inv_gain`` per λ).

    A λ on the old ladder keeps its trained row. Another gets, per channel, the row that is
    linear in log λ through the two nearest trained rows, on log |gain| (Cui et al. 2021,
    §3.3, interpolate gain vectors geometrically; beyond the ends it extrapolates the same
    way, which is what the λ-spread start does too: gain ∝ λ^1/2). The new rows then start
    near the rates they are meant for and training refines them. Everything else is
    returned as it was.
    """
    old = torch.tensor([float(v) for v in old_lambdas], dtype=torch.float64).log()
    if len(old) < 2 or bool((old[1:] <= old[:-1]).any()):
        raise ValueError(f"the old λ ladder must rise and have two rungs: {list(old_lambdas)}")
    out = dict(state)
    for key in ("gains.gain", "gains.inv_gain"):
        table = state[key]
        if table.shape[0] != len(old):
            raise ValueError(f"{key} has {table.shape[0]} rows for {len(old)} λ")
        logs = table.double().abs().clamp_min(1e-6).log()
        rows = []
        for lam in new_lambdas:
            x = torch.tensor(float(lam), dtype=torch.float64).log()
            hit = (old - x).abs() < 1e-9
            if bool(hit.any()):
                rows.append(table[int(hit.nonzero()[0])].double().abs())
                continue
            hi = int(torch.searchsorted(old, x).clamp(1, len(old) - 1))
            t = (x - old[hi - 1]) / (old[hi] - old[hi - 1])
            rows.append((logs[hi - 1] + t * (logs[hi] - logs[hi - 1])).exp())
        out[key] = torch.stack(rows).to(table.dtype)
    return out
