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
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from app.nets.segnet import CONFIGS, build_segnet
from app.train.common import (
    Progress,
    add_schedule_args,
    atomic_save,
    export_safetensors,
    install_sigterm,
    load_checkpoint,
    pick_device,
    set_threads,
)
from app.train.data import (
    CAMVID_CLASSES,
    NUM_CLASSES,
    VOID,
    SegDataset,
    class_weights,
    infinite_batches,
    load_split,
)

DEFAULTS = {"lite": {"iters": 4500, "batch": 8, "crop": 256, "lr": 2e-3},
            "paper": {"iters": 20000, "batch": 8, "crop": 320, "lr": 1e-3}}


def add_args(p: argparse.ArgumentParser) -> None:
    add_schedule_args(p)


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


def run(args: argparse.Namespace) -> int:
    cfg_name = args.config
    d = DEFAULTS[cfg_name]
    iters = args.iters or d["iters"]
    batch, crop, base_lr = args.batch or d["batch"], args.crop or d["crop"], args.lr or d["lr"]
    set_threads(args.threads)
    device = pick_device(args.device)
    run_dir = Path(args.run_dir or f"runs/segnet-{cfg_name}")
    out_dir = Path(args.out)

    print(f"loading {args.data} ...", flush=True)
    train = load_split(args.data, "train", args.limit)
    val = load_split(args.data, "val", args.limit)
    if not train:
        raise SystemExit(f"no training frames in {args.data}")
    weights = class_weights(train).to(device)
    print(f"{len(train)} train / {len(val)} val frames; class weights "
          f"{[round(w, 2) for w in weights.tolist()]}", flush=True)

    model = build_segnet(cfg_name).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=base_lr, weight_decay=1e-4)
    step, best, best_metrics, p0 = 0, -1.0, None, 0.0
    last = run_dir / "last.pt"
    if args.resume and last.exists():
        ck = load_checkpoint(last)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, best, best_metrics = ck["step"], ck["best_miou"], ck.get("best_metrics")
        p0 = float(ck.get("progress", step / iters))
        print(f"resumed from {last} at step {step} (best mIoU {best:.4f})", flush=True)
    elif args.resume:
        print(f"--resume: no checkpoint at {last}, starting fresh", flush=True)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"SegNet-{cfg_name}: {nparams / 1e6:.2f} M params, {iters} iters, batch {batch}, "
          f"crop {crop}, lr {base_lr}, device {device}, threads {torch.get_num_threads()}",
          flush=True)

    ds = SegDataset(train, crop=crop, train=True)
    seed = 1234 + step
    random.seed(seed)
    torch.manual_seed(seed)
    np.random.seed(seed % 2 ** 32)
    loader = infinite_batches(ds, batch, seed)

    p = p0

    def save(path: Path) -> None:
        atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                     "progress": p,
                     "best_miou": best, "best_metrics": best_metrics,
                     "config": CONFIGS[cfg_name], "config_name": cfg_name}, path)

    def validate() -> None:
        nonlocal best, best_metrics, last_val
        last_val = step
        m = evaluate(model, val, device)
        print(f"\nstep {step}: val mIoU {m['miou']:.4f} acc {m['pixel_acc']:.4f} "
              f"{m['per_class_iou']}", flush=True)
        if m["miou"] > best:
            best, best_metrics = m["miou"], m
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            atomic_save({"model": state, "step": step, "metrics": m,
                         "config_name": cfg_name}, run_dir / "best.pt")
            export(m, state)
            print(f"new best {best:.4f} -> exported {out_dir}/segnet-{cfg_name}.*", flush=True)

    def export(metrics: dict[str, Any], state: dict[str, torch.Tensor]) -> None:
        export_safetensors(state, out_dir, f"segnet-{cfg_name}", {
            "name": "segnet", "config_name": cfg_name, "config": CONFIGS[cfg_name],
            "params": nparams, "training_data": "CamVid train, 367 frames"
            if len(train) == 367 else f"{args.data} train, {len(train)} frames",
            "steps": step, "validation": {"data": f"val, {len(val)} frames", **metrics},
            "loss": "class-weighted CE (ENet weights), void ignored",
        })

    model.train()
    last_ckpt = time.monotonic()
    running: float | None = None
    last_val = -1
    pbar = tqdm(total=None, initial=step, desc=f"segnet-{cfg_name}", mininterval=30,
                dynamic_ncols=False, ncols=100)
    stopped_by_budget = False
    stop = install_sigterm()
    sched = Progress(iters, args.minutes, p0)
    while True:
        p = sched(step)
        if p >= 1.0 or stop.is_set():
            stopped_by_budget = stop.is_set()
            break
        lr = _lr_at(step, p, base_lr)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = next(loader)
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y, weight=weights, ignore_index=VOID)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        pbar.update(1)
        pbar.set_postfix(loss=f"{running:.3f}", lr=f"{lr:.1e}", p=f"{p:.2f}",
                         best=f"{best:.3f}", refresh=False)
        if val and step % args.val_every == 0:
            validate()
        if time.monotonic() - last_ckpt > args.ckpt_minutes * 60:
            save(last)
            last_ckpt = time.monotonic()
    pbar.close()
    save(last)
    if val and last_val != step and not stop.is_set():
        validate()
    if not val:  # nothing to select on: export the last weights
        export({"miou": None}, model.state_dict())
    why = "signal" if stopped_by_budget else "schedule done"
    print(f"stopped ({why}) at step {step}; best val mIoU {best:.4f}; checkpoint {last}",
          flush=True)
    return 0
