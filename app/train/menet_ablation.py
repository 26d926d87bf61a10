"""MENet's segmentation ablation (Chen, Yao, Liu, Zhao, PRCV 2021, §4.3 and Table 1):
``edms train menet-ablation --variant B|B+Q|B+A|B+Q+A``.

Table 1 compares the semantic branch in four settings: the baseline B (the semantic
latent z_s computed from y alone and used as floats), B+Q (z_s quantised, as it must be
to be coded), B+A (with the multi-scale aggregation module of HFFB blocks that feeds the
base network's features f_x^1..f_x^3 into the semantic path, not quantised) and B+Q+A
(the full MENet). The paper's claim: quantisation costs about 1 point of mIoU and the
aggregation module wins it back (Cityscapes, 19 classes; here CamVid, 11).

A comparison that fits a CPU: every variant starts from the same shipped ``menet``
network, whose compression branch (g_a, the gains) is frozen, so each variant sees the
same base features f_x^i and y; the semantic path (the aggregation module, or its plain
replacement ``aggregate=False``, and the semantic decoder) is re-initialised with the
same seed and trained with the class-weighted cross-entropy alone, with the same data,
steps and learning rate. Quantisation is that of the codec: z_s is scaled by the gain of
a quality drawn per sample, rounded (additive uniform noise in training, as the
Gaussian conditional's), and scaled back by the inverse gain before the decoder.

Validation: mIoU over the CamVid val frames (``--val-frames``, all 101 by default),
confusion matrices summed over the frames, void ignored, at qualities 1, 4 and 8 (the
quality only matters for the quantised variants). The exported weights are a complete
``menet`` state dict with the variant's switches in the manifest's config.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from app.classes import NUM_CLASSES, VOID
from app.nets import hyperprior as hp
from app.nets import menet as mn
from app.train import common
from app.train.data import SegDataset, class_weights, infinite_batches, load_split
from app.train.registry import trainer

VARIANTS = {"B": (False, False), "B+Q": (False, True), "B+A": (True, False),
            "B+Q+A": (True, True)}  # (aggregate, quantise)
SEMANTIC_PREFIXES = ("aggregation.", "seg_decoder.")
# the λ of the qualities 1, 4 and 8 of the eight-rung ladder Table 1 was measured on
VAL_QUALITIES = hp.VALIDATION_QUALITIES
DEFAULTS = common.Schedule(iters=3000, batch=8, crop=128, lr=1e-3)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--variant", choices=tuple(VARIANTS), default="B+Q+A",
                   help="B: no quantisation, no aggregation; Q: z_s quantised; A: the "
                   "aggregation module (Table 1)")
    p.add_argument("--init", default="models/menet-lite.safetensors",
                   help="the menet weights whose compression branch is frozen")
    p.add_argument("--val-frames", type=int, default=101, help="CamVid val frames (all: 101)")
    p.add_argument("--seed", type=int, default=0, help="seed of the semantic path's init")
    p.add_argument("--rate-weight", type=float, default=0.0,
                   help="add this times the bpp of the coded latent (z_s and the "
                   "hyper-latent, under the frozen hyperprior) to the loss: 0 is Table 1's "
                   "CE alone; 1 is MENet's Eq. 2 weighting of R against CE")
    common.add_schedule_args(p, val_every=1000)


def build(variant: str, cfg: str, init: str, seed: int) -> mn.MENet:
    """The variant's network: the shipped compression branch, a fresh semantic path."""
    from safetensors.torch import load_file

    aggregate, quantise = VARIANTS[variant]
    torch.manual_seed(seed)
    model = mn.MENet.from_config({**mn.CONFIGS[cfg], "aggregate": aggregate,
                                  "quantise_semantic": quantise})
    state = {k: v.float() for k, v in load_file(init).items()
             if not k.startswith(SEMANTIC_PREFIXES)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    left = [k for k in missing if not k.startswith(SEMANTIC_PREFIXES)
            and not k.endswith("num_batches_tracked")]
    if left or unexpected:
        raise SystemExit(f"{init} does not fit menet: missing {left[:3]}, "
                         f"unexpected {unexpected[:3]}")
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith(SEMANTIC_PREFIXES))
    return model


def latent_bits(model: mn.MENet, y: torch.Tensor, z_s: torch.Tensor, gain: torch.Tensor
                ) -> torch.Tensor:
    """Bits per sample of the coded latent [y, z_s] and its hyper-latent under the frozen
    hyperprior (noise quantisation, as in training); differentiable in z_s."""
    return hp.code_latent(model, torch.cat([y, z_s], dim=1) * gain)[1].per_sample_bits()


def semantic_logits(model: mn.MENet, x: torch.Tensor, q: torch.Tensor, training: bool,
                    bits: list[torch.Tensor] | None = None) -> torch.Tensor:
    """x -> class logits through the frozen base network and the semantic path, the
    semantic latent quantised at quality q (noise in training) when the variant says so;
    with ``bits``, the latent's bits per sample are appended to it."""
    with torch.no_grad():
        y, feats = model.g_a(x)
        gain, inv_gain = model.gains(q)
    z_s = model.aggregation(y, feats)
    if bits is not None:
        bits.append(latent_bits(model, y, z_s, gain))
    if model.quantise_semantic:
        g, ig = gain[:, model.M:], inv_gain[:, model.M:]
        v = z_s * g
        v = v + torch.empty_like(v).uniform_(-0.5, 0.5) if training else torch.round(v)
        z_s = v * ig
    return model.seg_decoder(z_s)


@torch.no_grad()
def evaluate(model: mn.MENet, frames: list) -> dict[str, Any]:
    """mIoU (and per-class IoU) of the val frames at each validation quality."""
    from app.tasks import SegmentationScore

    model.eval()
    out: dict[str, Any] = {}
    for qi in VAL_QUALITIES:
        sc = SegmentationScore()
        for s in frames:
            x = torch.from_numpy(s.image).permute(2, 0, 1)[None].float().div(255)
            h, w = x.shape[-2:]
            logits = semantic_logits(model, hp.pad_to(x, hp.MULTIPLE),
                                     torch.tensor([float(qi)]), training=False)
            sc.update(logits[0, :, :h, :w].argmax(0).numpy(), s.label)
        r = sc.result()
        out[f"quality{qi + 1}"] = {"miou": r["miou"], "pixel_acc": r["pixel_acc"],
                                   "per_class_iou": r["per_class_iou"]}
    out["miou_mean"] = float(np.mean([out[f"quality{q + 1}"]["miou"]
                                      for q in VAL_QUALITIES]))
    return out


@trainer("menet-ablation", "MENet's Table 1: the semantic path as B, B+Q, B+A or B+Q+A "
         "on a frozen compression branch", add_args)
def run(args: argparse.Namespace) -> int:
    cfg = args.config
    iters, batch, crop, lr0 = common.schedule(args, DEFAULTS)
    env = common.setup(args)
    device = env.device
    frames = load_split(args.data, "train", args.limit)
    val = load_split(args.data, "val", None)
    val = val[:: max(1, len(val) // max(1, args.val_frames))][: args.val_frames]
    weights = class_weights(frames).to(device)
    tag = args.variant.replace("+", "") + (f"-r{args.rate_weight:g}" if args.rate_weight else "")
    name = f"menet-ablation-{tag}"
    if args.run_dir is None:
        args.run_dir = f"runs/{name}-{cfg}"
    model = build(args.variant, cfg, args.init, args.seed).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr0)
    print(f"{name}-{cfg}: {len(frames)} CamVid frames, validation {len(val)} frames; "
          f"{sum(p.numel() for p in params):,} trained parameters (semantic path), "
          f"compression branch frozen from {args.init}", flush=True)
    loop = common.TrainLoop(args, name, iters, {"model": model, "opt": opt})
    loop.resume()
    torch.manual_seed(4321 + loop.step)
    data = common.batches(lambda i: infinite_batches(
        SegDataset(frames, crop=crop, scale=(0.5, 1.0)), batch, seed=7 + loop.step + 1000 * i),
        env)
    qrng = np.random.default_rng(99 + loop.step)

    def export(state: dict[str, torch.Tensor], metrics: dict[str, Any]) -> None:
        aggregate, quantise = VARIANTS[args.variant]
        common.export_safetensors(state, loop.out_dir, f"{name}-{cfg}", {
            "name": "menet", "config_name": cfg, "steps": loop.step,
            "config": {**mn.CONFIGS[cfg], "aggregate": aggregate,
                       "quantise_semantic": quantise},
            "ablation": args.variant, "init": args.init,
            "training_data": f"CamVid train ({len(frames)} frames, random 0.5-1.0 "
            f"down-scale), {crop}x{crop} crops, batch {batch}; compression branch frozen",
            "loss": "class-weighted CE of the decoded class map (semantic path only)"
            + (f" + {args.rate_weight:g} x bpp of the coded latent under the frozen "
               "hyperprior" if args.rate_weight else ""),
            "validation": {"data": f"CamVid val ({len(val)} frames)", **metrics},
        })

    def validate() -> tuple[float, dict[str, Any]]:
        m = evaluate(model, val)
        model.train()
        print(f"\nstep {loop.step}: " + " ".join(
            f"q{q + 1} mIoU {m[f'quality{q + 1}']['miou']:.4f}" for q in VAL_QUALITIES),
            flush=True)
        return m["miou_mean"], m

    def train_step(p: float) -> dict[str, float]:
        lr = 1e-5 + (lr0 - 1e-5) * 0.5 * (1 + np.cos(np.pi * p))
        for g in opt.param_groups:
            g["lr"] = float(lr)
        x, lab = next(data)
        x, lab = x.to(device), lab.to(device)
        q = torch.from_numpy(qrng.integers(0, len(hp.LAMBDAS), x.shape[0])).float()
        bits: list[torch.Tensor] | None = [] if args.rate_weight > 0 else None
        logits = semantic_logits(model, x, q.to(device), training=True, bits=bits)
        ce = F.cross_entropy(logits, lab, weight=weights, ignore_index=VOID)
        loss = ce
        logs = {"ce": float(ce.detach())}
        if bits:
            bpp = bits[0].mean() / (x.shape[-2] * x.shape[-1])
            loss = loss + args.rate_weight * bpp
            logs["bpp"] = float(bpp.detach())
        common.backward_step(loss, opt, None, clip=None)
        return logs

    model.train()
    loop.run(train_step, validate, export)
    return 0


__all__ = ["NUM_CLASSES", "VARIANTS", "build", "evaluate", "semantic_logits"]
