"""Train SegNet (DSSLIC §3.1 / EDMS §2.1 segmentation network) on CamVid-style data.

Loss: class-weighted cross-entropy (ENet weights ``1/ln(1.02 + p)``, void = 11 ignored).
Optimiser: AdamW, 100-step linear warm-up, then poly decay (power 0.9) in the schedule
progress p = max(step / ``--iters``, share of ``--minutes`` used) (:class:`Progress`).
Validation: mIoU over the 11 classes on the whole val frames, every ``--val-every`` steps;
the best-by-mIoU weights are exported at once to ``<out>/segnet-<config>.safetensors``.
"""

from __future__ import annotations

import argparse
import math
import random
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from app.classes import CAMVID_CLASSES, NUM_CLASSES, VOID
from app.nets.segnet import CONFIGS, build_segnet
from app.train import common, distributed
from app.train.data import (
    SegDataset,
    class_weights,
    infinite_batches,
    load_split,
)
from app.train.registry import trainer

DEFAULTS = {"lite": common.Schedule(iters=4500, batch=8, crop=256, lr=2e-3),
            "paper": common.Schedule(iters=20000, batch=8, crop=320, lr=1e-3)}


def add_args(p: argparse.ArgumentParser) -> None:
    common.add_schedule_args(p)


@torch.no_grad()
def evaluate(model: torch.nn.Module, samples: list, device: torch.device) -> dict[str, Any]:
    """Confusion-matrix mIoU over classes 0..10 (void ignored), whole frames."""
    model.eval()
    conf = torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.int64)
    for s in samples:
        x = torch.from_numpy(s.image).permute(2, 0, 1).float().div(255)[None].to(device)
        pred = model(x).argmax(1)[0].cpu().view(-1)
        gt = torch.from_numpy(s.label).long().view(-1)
        keep = gt != VOID
        conf += torch.bincount(gt[keep] * NUM_CLASSES + pred[keep],
                               minlength=NUM_CLASSES ** 2).view(NUM_CLASSES, NUM_CLASSES)
    model.train()
    tp = conf.diag().double()
    union = conf.sum(0).double() + conf.sum(1).double() - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.nan)
    present = ~torch.isnan(iou)
    return {
        "miou": float(iou[present].mean()) if present.any() else 0.0,
        "pixel_acc": float(tp.sum() / conf.sum().clamp(min=1)),
        "per_class_iou": {n: (None if math.isnan(v) else round(float(v), 4))
                          for n, v in zip(CAMVID_CLASSES, iou.tolist(), strict=True)},
    }


def _lr_at(step: int, p: float, base: float, warmup: int = 100) -> float:
    """Linear warm-up over ``warmup`` steps, then poly decay (0.9) in the progress ``p``."""
    if step < warmup:
        return base * (step + 1) / warmup
    return base * max(0.0, 1 - p) ** 0.9


@trainer("segnet", "segmentation network (DSSLIC SegNet)", add_args)
def run(args: argparse.Namespace) -> int:
    cfg_name = args.config
    iters, batch, crop, base_lr = common.schedule(args, DEFAULTS)
    env = common.setup(args)
    device = env.device

    print(f"loading {args.data} ...", flush=True)
    train = load_split(args.data, "train", args.limit)
    val = load_split(args.data, "val", args.limit)
    if not train:
        raise SystemExit(f"no training frames in {args.data}")
    weights = class_weights(train).to(device)
    print(f"{len(train)} train / {len(val)} val frames; class weights "
          f"{[round(w, 2) for w in weights.tolist()]}", flush=True)
    n_train = len(train)
    train = distributed.shard(train)  # this process's frames (all of them without torchrun)

    model = build_segnet(cfg_name).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=base_lr, weight_decay=1e-4)
    loop = common.TrainLoop(args, "segnet", iters, {"model": model, "opt": opt},
                            {"config": CONFIGS[cfg_name], "config_name": cfg_name})
    loop.resume()
    nparams = sum(p.numel() for p in model.parameters())
    print(f"SegNet-{cfg_name}: {nparams / 1e6:.2f} M params, {iters} iters, batch {batch}, "
          f"crop {crop}, lr {base_lr}, device {device}, threads {torch.get_num_threads()}",
          flush=True)

    net = loop.wrap(model)
    seed = 1234 + loop.step + loop.seed_offset
    random.seed(seed)
    torch.manual_seed(seed)
    np.random.seed(seed % 2 ** 32)
    loader = common.batches(lambda i: infinite_batches(SegDataset(train, crop=crop, train=True),
                                                       batch, seed + 1000 * i), env)

    def validate() -> tuple[float, dict[str, Any]]:
        m = evaluate(model, val, device)
        print(f"\nstep {loop.step}: val mIoU {m['miou']:.4f} acc {m['pixel_acc']:.4f} "
              f"{m['per_class_iou']}", flush=True)
        return m["miou"], m

    def export(state: dict[str, torch.Tensor], metrics: dict[str, Any]) -> None:
        common.export_safetensors(state, loop.out_dir, f"segnet-{cfg_name}", {
            "name": "segnet", "config_name": cfg_name, "config": CONFIGS[cfg_name],
            "params": nparams, "training_data": "CamVid train, 367 frames"
            if n_train == 367 else f"{args.data} train, {n_train} frames",
            "steps": loop.step, "validation": {"data": f"val, {len(val)} frames", **metrics},
            "loss": "class-weighted CE (ENet weights), void ignored",
        })

    def train_step(p: float) -> dict[str, float]:
        lr = _lr_at(loop.step, p, base_lr)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = next(loader)
        x, y = x.to(device), y.to(device)
        with env.autocast():
            logits = net(x)
        loss = F.cross_entropy(logits.float(), y, weight=weights, ignore_index=VOID)
        common.backward_step(loss, opt, None, clip=None)
        return {"loss": loss.item()}

    model.train()
    loop.run(train_step, validate if val else None, export)
    return 0
