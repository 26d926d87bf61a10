"""Training DeepSIC (Luo, Yang, Song; §III-E and §IV-B): ``edms train deepsic``.

Joint loss per batch (Eq. 4): ``L = R + λ1·D + λ2·L_sem`` with R the rate in bits per
pixel from the learned per-channel density of the quantised features (Eqs. 5-6), D the
MSE on a 0..255 scale (Eq. 7) and L_sem the cross-entropy of the semantic head (Eq. 3),
summed over the heads the network carries (``--variant pre``: the head on the float
features, ``post``: on the dequantised code, ``both``: one network with both heads, used
by both pipelines). Each sample keeps a random number of code channels (one of the
operating points, :data:`app.nets.deepsic.CHANNEL_FRACTIONS`), the rest zeroed: one
network covers every rate.

Data: Imagenette (``--data`` with ``train/<wnid>/`` and ``val/<wnid>/``, classes in sorted
wnid order), random 128x128 crops as the paper (a random square of 50-100 % of the
shorter side, resized, flipped). Adam; the learning rate decays twice by a factor of 5
(§IV-B: "decaying twice by a factor of 5"), at 60 % and 85 % of the schedule.

Validation on Imagenette val (whole 224x224 images, ``--val-per-class`` of each class):
top-1/top-5 of each head, PSNR and bpp (from the rate model) at each operating point; the
score is minus the validation loss. Before each validation the batch-normalisation
statistics are recomputed over 25 training batches (``precise_bn``, as the SMIC trainer),
so the exported weights carry statistics that match them. Every export also fits the
binary coder's context table (:func:`app.entropy.binary.fit_table`) on the codes of
``--fit-images`` training images and stores it with the weights.
"""

from __future__ import annotations

import argparse
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from app.classes import IMAGENETTE_CLASSES
from app.entropy import binary
from app.nets import deepsic as ds
from app.train import common
from app.train.registry import trainer
from app.train.smic import precise_bn

DEFAULTS = {"lite": common.Schedule(iters=100000, batch=16, crop=128, lr=1e-3),
            "paper": common.Schedule(iters=8000000, batch=32, crop=128, lr=3e-3)}
HEADS = {"pre": ("pre",), "post": ("post",), "both": ("pre", "post"), "reference": ("pre",)}


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--variant", choices=tuple(HEADS), default="both",
                   help="which semantic head(s) to train: pre (encoder, float features), "
                   "post (decoder, quantised features) or both on one network; reference: "
                   "no codec, DeepSIC's feature extraction and head trained for "
                   "classification alone on the uncompressed images (the paper's Table I "
                   "reference, a classifier of the same size; weights deepsic-ref)")
    p.add_argument("--lambda-d", type=float, default=0.01,
                   help="λ1: weight of the MSE on a 0..255 scale")
    p.add_argument("--lambda-sem", type=float, default=1.0,
                   help="λ2: weight of the cross-entropy of each head")
    p.add_argument("--val-per-class", type=int, default=20,
                   help="Imagenette val images per class validated on (all: 100)")
    p.add_argument("--fit-images", type=int, default=200,
                   help="training images whose codes fit the context table at export")
    p.add_argument("--init-reference", default=None,
                   help="deepsic-ref weights (the classifier of DeepSIC's size): f and the "
                   "pre head start from them, embedded where this config is wider (the "
                   "classifier's function is kept), and the post head starts as a copy of "
                   "the pre head")
    p.add_argument("--f-lr-scale", type=float, default=1.0,
                   help="learning rate of f and the pre head relative to --lr (below 1 "
                   "keeps a warm-started classifier's features while g learns)")
    common.add_schedule_args(p, val_every=500)


def weights_name(variant: str) -> str:
    """``deepsic-bp`` for the bit-plane network with both heads, else ``deepsic-bp-pre`` /
    ``deepsic-bp-post`` (``deepsic-ref`` for the reference classifier)."""
    if variant == "reference":
        return "deepsic-ref"
    return "deepsic-bp" if variant == "both" else f"deepsic-bp-{variant}"


def load_split(root: str | Path, split: str, per_class: int | None = None,
               seed: int = 0) -> list[tuple[np.ndarray, int]]:
    """(RGB uint8 image, class index) pairs of an Imagenette split."""
    from PIL import Image

    folder = Path(root) / split
    if not folder.is_dir():
        raise SystemExit(f"{folder} is not a folder (expected <data>/{split}/<wnid>/*.JPEG)")
    out = []
    for index, (wnid, _) in enumerate(IMAGENETTE_CLASSES):
        paths = sorted(p for p in (folder / wnid).glob("*") if p.suffix.lower() in
                       (".jpeg", ".jpg", ".png"))
        if not paths:
            raise SystemExit(f"no images in {folder / wnid}")
        if per_class:
            random.Random(seed + index).shuffle(paths)
            paths = sorted(paths[:per_class])
        for path in paths:
            with Image.open(path) as im:
                out.append((np.asarray(im.convert("RGB"), dtype=np.uint8).copy(), index))
    return out


def batches(items: list[tuple[np.ndarray, int]], batch: int, crop: int, seed: int):
    """Endless (images (B, 3, crop, crop) in [0, 1], labels (B,)) batches."""
    rng = random.Random(seed)
    while True:
        xs, ys = [], []
        for _ in range(batch):
            im, label = items[rng.randrange(len(items))]
            h, w = im.shape[:2]
            side = max(1, int(min(h, w) * rng.uniform(0.5, 1.0)))
            y0, x0 = rng.randint(0, h - side), rng.randint(0, w - side)
            t = torch.from_numpy(np.ascontiguousarray(im[y0:y0 + side, x0:x0 + side]))
            t = t.permute(2, 0, 1)[None].float().div_(255.0)
            if side != crop:
                t = F.interpolate(t, size=(crop, crop), mode="bilinear", antialias=True,
                                  align_corners=False).clamp_(0, 1)
            if rng.random() < 0.5:
                t = t.flip(-1)
            xs.append(t[0])
            ys.append(label)
        yield torch.stack(xs), torch.tensor(ys)


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % multiple, 0, -h % multiple), mode="replicate")


def levels(channels: int) -> list[int]:
    return [ds.kept_channels(channels, f) for f in ds.CHANNEL_FRACTIONS]


@torch.no_grad()
def evaluate_reference(model: ds.DeepSIC, items: list[tuple[np.ndarray, int]]
                       ) -> dict[str, Any]:
    """The reference classifier (``--variant reference``): top-1/top-5 and the mean
    cross-entropy of the ``pre`` head on the float features of whole images."""
    t1 = t5 = 0
    ces = []
    dev = next(model.parameters()).device
    for im, label in items:
        x = torch.from_numpy(im).permute(2, 0, 1)[None].float().div(255).to(dev)
        logits = model.h["pre"](model.features(_pad(x, model.stride)))[0].float().cpu()
        ces.append(float(F.cross_entropy(logits[None], torch.tensor([label]))))
        top5 = logits.topk(5).indices.tolist()
        t1 += int(top5[0] == label)
        t5 += int(label in top5)
    return {"top1": t1 / len(items), "top5": t5 / len(items), "loss": float(np.mean(ces))}


@torch.no_grad()
def evaluate(model: ds.DeepSIC, items: list[tuple[np.ndarray, int]], lambda_d: float,
             lambda_sem: float) -> dict[str, Any]:
    """Per operating point: bpp (rate model), PSNR, top-1/top-5 of each head; the loss."""
    out: dict[str, Any] = {}
    losses = []
    dev = next(model.parameters()).device
    for level, kept in enumerate(levels(model.channels), start=1):
        bpps, psnrs, ces = [], [], []
        hits = {v: [0, 0] for v in model.heads}
        for im, label in items:
            x = torch.from_numpy(im).permute(2, 0, 1)[None].float().div(255).to(dev)
            h, w = x.shape[-2:]
            o = model(_pad(x, model.stride), torch.tensor([kept], device=dev))
            bits = float(-torch.log2(o["likelihoods"]).sum())
            bpps.append(bits / (h * w))
            mse = float(F.mse_loss(o["x_hat"][..., :h, :w].clamp(0, 1), x))
            psnrs.append(10 * np.log10(1 / max(mse, 1e-12)))
            ce = 0.0
            for v in model.heads:
                logits = o[f"logits_{v}"][0].float().cpu()
                ce += float(F.cross_entropy(logits[None], torch.tensor([label])))
                top5 = logits.topk(5).indices.tolist()
                hits[v][0] += int(top5[0] == label)
                hits[v][1] += int(label in top5)
            ces.append(ce)
            losses.append(bpps[-1] + lambda_d * 255 ** 2 * mse + lambda_sem * ce)
        row: dict[str, Any] = {"channels": kept, "bpp_rate_model": float(np.mean(bpps)),
                               "psnr": float(np.mean(psnrs))}
        for v, (t1, t5) in hits.items():
            row[f"top1_{v}"] = t1 / len(items)
            row[f"top5_{v}"] = t5 / len(items)
        out[f"level{level}"] = row
    out["loss"] = float(np.mean(losses))
    return out


@torch.no_grad()
def fit_context_table(model: ds.DeepSIC, items: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """The context table learned from the codes of ``items`` (all channels)."""
    symbols = []
    dev = next(model.parameters()).device
    for im, _ in items:
        x = torch.from_numpy(im).permute(2, 0, 1)[None].float().div(255).to(dev)
        k = ds.quantise(model.features(_pad(x, model.stride)))[0]
        symbols.append(binary.to_symbols(k.to(torch.int64).cpu().numpy()))
    return binary.fit_table(symbols, model.channels)


@torch.no_grad()
def embed_reference(model: ds.DeepSIC, ref: dict[str, torch.Tensor]) -> int:
    """Start ``model``'s f and pre head from the reference classifier's ``ref`` state, and
    its post head as a copy of the pre head. Where ``model`` is wider (more filters in a
    stage), the reference's weights fill the leading channels, the weights that would
    read the new channels are zero and a skip projection the reference did not need is an
    identity on its channels: f and the pre head compute what the reference computes, and
    the new channels start contributing only as training moves those zeros. Returns the
    number of tensors set."""
    own = model.state_dict()
    done = 0
    for key, dst in own.items():
        src = ref.get(key)
        if key.startswith("h.post."):
            # a per-operating-point BN (LevelBatchNorm) of the post head starts as the
            # pre head's one BN
            src = ref.get("h.pre." + re.sub(r"\.bns\.\d+\.", ".", key[len("h.post."):]))
        if src is None:
            if key.startswith("f.skips.") and key.endswith(".proj.weight"):
                dst.zero_()
                n = min(dst.shape[0], dst.shape[1])
                dst[:n, :n, 0, 0] = torch.eye(n)
                done += 1
            continue
        if not (key.startswith(("f.", "h.pre.", "h.post."))) or src.dim() != dst.dim():
            continue
        src = src.to(dst.dtype)
        if src.shape == dst.shape:
            dst.copy_(src)
        else:
            if src.dim() > 1:  # new input channels are read with zero weights
                dst[:, src.shape[1]:] = 0
            dst[tuple(slice(0, n) for n in src.shape)] = src
        done += 1
    return done


@dataclass
class DeepSICTraining:
    """DeepSIC's part of the trainer skeleton (:class:`TrainLoop` does the rest): batches,
    the joint loss of Eq. 4 (or the reference classifier's CE), validation, export."""

    args: argparse.Namespace
    env: common.Setup
    model: ds.DeepSIC
    opt: torch.optim.Optimizer
    loop: common.TrainLoop
    train: list[tuple[np.ndarray, int]]
    val: list[tuple[np.ndarray, int]]
    fit_items: list[tuple[np.ndarray, int]]
    name: str
    conf: dict[str, Any]
    batch: int
    crop: int
    lr0: float

    def __post_init__(self) -> None:
        seed = self.loop.step + self.env.seed
        torch.manual_seed(1234 + seed)
        self.data = common.batches(lambda i: batches(self.train, self.batch, self.crop,
                                                     seed=17 + seed + 1000 * i), self.env)
        self.krng = random.Random(23 + seed)
        self.kept_levels = levels(self.model.channels)
        self.reference = self.args.variant == "reference"

    def export(self, state: dict[str, torch.Tensor], metrics: dict[str, Any]) -> None:
        a, model, reference = self.args, self.model, self.reference
        if not reference:  # the classifier alone has no code to fit contexts on
            was_training = model.training
            model.eval()
            table = fit_context_table(model, self.fit_items)
            model.train(was_training)
            state = dict(state, context_table=torch.from_numpy(table))
        crop, cfg = self.crop, a.config
        common.export_safetensors(state, self.loop.out_dir, f"{self.name}-{cfg}", {
            "name": self.name, "config_name": cfg, "config": self.conf,
            "steps": self.loop.step,
            "training_data": f"Imagenette train ({len(self.train)} images, 10 classes in "
            f"sorted wnid order), random {crop}x{crop} crops of 50-100 % of the shorter "
            f"side, flips, batch {self.batch}" + (
                "" if reference else "; context table fitted on the "
                f"codes of {len(self.fit_items)} whole training images"),
            "loss": ("CE of the pre head on the float features f(x) of uncompressed "
                     "images (no codec: the reconstruction and rate model are untrained)"
                     if reference else
                     f"bpp + {a.lambda_d}*255^2*MSE + {a.lambda_sem}*CE per head "
                     f"(Eq. 4); channels kept per sample uniform over {self.kept_levels}"),
            "validation": {"data": f"Imagenette val, {len(self.val)} images "
                           f"({a.val_per_class} per class), whole 224x224"
                           + ("" if reference else "; bpp from the rate model"), **metrics},
        })

    def kept(self, n: int) -> torch.Tensor:
        """Code channels kept by each of ``n`` samples (a random operating point each)."""
        return torch.tensor([self.krng.choice(self.kept_levels) for _ in range(n)],
                            device=self.env.device)

    def bn_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, _ = next(self.data)
        return x, self.kept(x.shape[0])

    def validate(self) -> tuple[float, dict[str, Any]]:
        model, step = self.model, self.loop.step
        precise_bn(model, self.bn_batch)
        model.eval()
        if self.reference:
            m = evaluate_reference(model, self.val)
            model.train()
            print(f"\nstep {step}: loss {m['loss']:.4f} top-1 {m['top1']:.3f} "
                  f"top-5 {m['top5']:.3f}", flush=True)
            return -m["loss"], m
        m = evaluate(model, self.val, self.args.lambda_d, self.args.lambda_sem)
        model.train()
        print(f"\nstep {step}: loss {m['loss']:.4f} " + " ".join(
            f"L{k[-1]}:" + f"{r['bpp_rate_model']:.3f}bpp/{r['psnr']:.2f}dB/" + "/".join(
                f"{v}{r[f'top1_{v}']:.3f},{r[f'top5_{v}']:.3f}" for v in model.heads)
            for k, r in m.items() if k.startswith("level")), flush=True)
        return -m["loss"], m

    def train_step(self, p: float) -> dict[str, float]:
        a, model = self.args, self.model
        lr = self.lr0 * (1.0 if p < 0.6 else 0.2 if p < 0.85 else 0.04)
        for g in self.opt.param_groups:
            g["lr"] = lr * g.get("lr_scale", 1.0)
        x, y = next(self.data)
        if self.reference:  # classification alone, on the uncompressed images
            with self.env.autocast():
                logits = model.h["pre"](model.f(x))
            ce = F.cross_entropy(logits.float(), y)
            common.backward_step(ce, self.opt, model.parameters(), clip=5.0)
            return {"ce_pre": float(ce.detach()), "loss": float(ce.detach())}
        with self.env.autocast():
            o = model(x, self.kept(x.shape[0]))
        npix = x.shape[-2] * x.shape[-1]
        bpp = -torch.log2(o["likelihoods"].float()).flatten(1).sum(1).mean() / npix
        mse = F.mse_loss(o["x_hat"].float(), x)
        loss = bpp + a.lambda_d * 255 ** 2 * mse
        logs = {"bpp": float(bpp.detach()), "psnr": float(10 * torch.log10(1 / mse.detach()))}
        for v in model.heads:
            ce = F.cross_entropy(o[f"logits_{v}"].float(), y)
            loss = loss + a.lambda_sem * ce
            logs[f"ce_{v}"] = float(ce.detach())
        common.backward_step(loss, self.opt, model.parameters(), clip=5.0)
        logs["loss"] = float(loss.detach())
        return logs


@trainer("deepsic", "DeepSIC: codec + classification head(s) on Imagenette (Luo et al.)",
         add_args)
def run(args: argparse.Namespace) -> int:
    """``edms train deepsic``: the skeleton (:mod:`app.train.common`) with DeepSIC's model,
    data, loss and validation (:class:`DeepSICTraining`)."""
    cfg = args.config
    iters, batch, crop, lr0 = common.schedule(args, DEFAULTS)
    env = common.setup(args)
    train = load_split(args.data, "train", args.limit)
    val = load_split(args.data, "val", args.val_per_class, seed=1)
    fit_items = [train[i] for i in random.Random(5).sample(range(len(train)),
                                                           min(args.fit_images, len(train)))]
    name = weights_name(args.variant)
    conf = dict(ds.CONFIGS[cfg], heads=list(HEADS[args.variant]))
    print(f"{name}-{cfg}: {len(train)} training images, {len(val)} validation images; "
          f"config {conf}", flush=True)
    model = ds.DeepSIC(**conf).to(env.device)
    if args.init_reference:
        from safetensors.torch import load_file

        n = embed_reference(model, {k: v.float() for k, v in
                                    load_file(args.init_reference).items()})
        print(f"f and the heads started from {args.init_reference} ({n} tensors)", flush=True)
    slow = [p for n, p in model.named_parameters() if n.startswith(("f.", "h.pre."))]
    fast = [p for n, p in model.named_parameters() if not n.startswith(("f.", "h.pre."))]
    opt = torch.optim.Adam([{"params": slow, "lr_scale": args.f_lr_scale},
                            {"params": fast, "lr_scale": 1.0}], lr=lr0)
    loop = common.TrainLoop(args, name, iters, {"model": model, "opt": opt})
    loop.resume()
    job = DeepSICTraining(args, env, model, opt, loop, train, val, fit_items, name, conf,
                          batch, crop, lr0)
    model.train()
    loop.run(job.train_step, job.validate, job.export)
    return 0
