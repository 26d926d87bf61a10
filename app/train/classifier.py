"""Training the reference classifier of ``edms eval --task classification`` on Imagenette.

Uncompressed Imagenette train images (class folders, sorted wnid order = class index),
random resized crops (scale 0.35-1 of the area, aspect 3/4-4/3) to the network's input size
and horizontal flips; cross-entropy with label smoothing 0.1; AdamW with a cosine schedule.
Validation: top-1 / top-5 on Imagenette val (the whole 224x224 images). The shipped weights
are the best validation top-1.
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from app.nets.classifier import CONFIGS, build_classifier
from app.train import common, distributed
from app.train.registry import trainer

DEFAULTS = {"lite": common.Schedule(iters=6000, batch=32, lr=2e-3),
            "paper": common.Schedule(iters=60000, batch=64, lr=1e-3)}


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--val-limit", type=int, default=None, help="validate on N images")
    common.add_schedule_args(p, val_every=500)


def load_class_folders(root: Path, limit: int | None = None, size: int | None = None
                       ) -> tuple[list[np.ndarray], list[int], list[str]]:
    """Images (RGB uint8, optionally resized so the short side is ``size``), labels and
    class folder names."""
    from PIL import Image

    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    images, labels = [], []
    for i, c in enumerate(classes):
        for p in sorted((root / c).iterdir())[:limit]:
            with Image.open(p) as f:
                im = f.convert("RGB")
                if size and min(im.size) != size:
                    s = size / min(im.size)
                    im = im.resize((max(size, round(im.width * s)),
                                    max(size, round(im.height * s))),
                                   Image.Resampling.BICUBIC)
                images.append(np.asarray(im, dtype=np.uint8).copy())
            labels.append(i)
    return images, labels, classes


def random_resized_crop(img: np.ndarray, out: int, rng: random.Random) -> torch.Tensor:
    h, w = img.shape[:2]
    for _ in range(10):
        area = h * w * rng.uniform(0.35, 1.0)
        ar = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        ch, cw = round(math.sqrt(area / ar)), round(math.sqrt(area * ar))
        if ch <= h and cw <= w:
            break
    else:
        ch, cw = min(h, w), min(h, w)
    y, x = rng.randint(0, h - ch), rng.randint(0, w - cw)
    t = torch.from_numpy(np.ascontiguousarray(img[y:y + ch, x:x + cw])).permute(2, 0, 1)
    t = F.interpolate(t[None].float() / 255.0, size=(out, out), mode="bilinear",
                      align_corners=False, antialias=True)[0]
    return t.flip(-1) if rng.random() < 0.5 else t


@torch.no_grad()
def evaluate(model: torch.nn.Module, images: list[np.ndarray], labels: list[int],
             device: torch.device) -> dict[str, Any]:
    model.eval()
    top1 = top5 = 0
    for i in range(0, len(images), 64):
        x = torch.stack([torch.from_numpy(im).permute(2, 0, 1) for im in images[i:i + 64]])
        logits = model(x.float().div(255.0).to(device))
        t = torch.tensor(labels[i:i + 64], device=device)
        rank = logits.topk(5, dim=1).indices
        top1 += int((rank[:, 0] == t).sum())
        top5 += int((rank == t[:, None]).any(1).sum())
    model.train()
    return {"top1": top1 / len(images), "top5": top5 / len(images), "images": len(images)}


@trainer("classifier", "reference Imagenette classifier of edms eval --task", add_args)
def run(args: argparse.Namespace) -> int:
    cfg = args.config
    iters, batch, _, lr0 = common.schedule(args, DEFAULTS)
    env = common.setup(args)
    root = Path(args.data)
    size = int(CONFIGS[cfg]["input"] * 1.15)
    train_x, train_y, classes = load_class_folders(root / "train", args.limit, size)
    n_train = len(train_x)
    # this process's images (all of them without torchrun)
    train_x, train_y = distributed.shard(train_x), distributed.shard(train_y)
    val_x, val_y, _ = load_class_folders(root / "val", args.val_limit, 224)
    print(f"classifier-{cfg}: {n_train} train / {len(val_x)} val images, "
          f"{len(classes)} classes", flush=True)
    model = build_classifier(cfg).to(env.device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr0, weight_decay=5e-4)
    # model_fwd: the training step's forward pass
    loop, model_fwd, rng = common.start(args, "classifier", iters, model, opt, seed=17)
    inp = int(CONFIGS[cfg]["input"])

    def export(state: dict[str, torch.Tensor], metrics: dict[str, Any]) -> None:
        common.export_safetensors(state, loop.out_dir, f"classifier-{cfg}", {
            "name": "classifier", "config_name": cfg, "config": CONFIGS[cfg],
            "classes": classes, "steps": loop.step,
            "training_data": f"Imagenette train, {n_train} images (uncompressed), "
            f"random resized crops to {inp}x{inp}, flips",
            "loss": "cross-entropy, label smoothing 0.1",
            "validation": {"data": f"Imagenette val, {len(val_x)} images", **metrics},
        })

    def validate() -> tuple[float, dict[str, Any]]:
        m = evaluate(model, val_x, val_y, env.device)
        print(f"\nstep {loop.step}: val top-1 {m['top1']:.4f} top-5 {m['top5']:.4f}",
              flush=True)
        return m["top1"], m

    def train_step(p: float) -> dict[str, float]:
        warm = min(1.0, (loop.step + 1) / 200)
        for g in opt.param_groups:
            g["lr"] = float(lr0 * warm * 0.5 * (1 + math.cos(math.pi * p)))
        idx = [rng.randrange(len(train_x)) for _ in range(batch)]
        x = torch.stack([random_resized_crop(train_x[i], inp, rng) for i in idx]).to(env.device)
        y = torch.tensor([train_y[i] for i in idx], device=env.device)
        with env.autocast():
            logits = model_fwd(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=0.1)
        common.backward_step(loss, opt, None, clip=None)
        return {"loss": float(loss.detach())}

    model.train()
    loop.run(train_step, validate, export)
    return 0
