"""Reading MENet's class map out of its whole decoded latent: ``edms train menet-readout``.

MENet's semantic decoder (Chen et al. 2021, §3.2) reads the semantic latent ẑ_s alone, and
on CamVid val its map scored 0.31-0.37 mIoU while the shipped SegNet, run on MENet's own
decoded frames, scored 0.50-0.61: the information is in the latent, the decoder does not
read it. This trainer keeps the **codec frozen** (g_a, the aggregation module, the
hyperprior and the entropy model: the file's bits do not change) and trains a semantic
decoder that reads the whole de-gained latent [ŷ, ẑ_s] (``seg_input="latent"`` in
:class:`app.nets.menet.MENet`) against two targets:

- the CamVid labels: class-weighted cross-entropy (ENet weights, void ignored) on the
  decoder's logits up-sampled to full resolution;
- the shipped SegNet as a teacher (knowledge distillation, Hinton et al. 2015): its class
  probabilities on the *original* frames, and on unlabelled photographs (``--photos``),
  matched by the KL divergence at temperature T on the decoder's 1/4-resolution logits.

Since the codec is frozen, each frame's un-gained latent is computed once (as the
pipeline's encoder does: replicate padding to a multiple of 64, then ``analyse``); every
quality is then a gain, a rounding and an inverse gain away, exactly what the decoder sees
(:mod:`app.pipelines.endtoend`). Frames are cached at several scales and mirrored (the
scale jitter of the other CamVid trainers, done once), in memory and in ``cache.npz`` under
the run folder, so ``--resume`` skips the encoding.

Warm start: the shipped decoder's weights, the ŷ part of its first convolution at zero, so
training starts from the shipped map. Validation: the carried mIoU on every CamVid val
frame at ``--val-qualities``; the score is their mean.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from app.classes import NUM_CLASSES, VOID
from app.nets import hyperprior as hp
from app.train import common
from app.train.registry import trainer

DEFAULTS = {"lite": common.Schedule(iters=20000, batch=8, crop=256, lr=1e-3),
            "paper": common.Schedule(iters=60000, batch=16, crop=256, lr=1e-3)}


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--init", default=None,
                   help="MENet weights to start from (default: the shipped menet-<config>)")
    p.add_argument("--teacher", default=None,
                   help="SegNet weights of the teacher (default: the shipped segnet-<config>)")
    p.add_argument("--photos", default=None,
                   help="a folder of unlabelled photographs (searched recursively) whose "
                   "teacher maps are distilled too")
    p.add_argument("--photo-limit", type=int, default=1000)
    p.add_argument("--photo-every", type=int, default=3,
                   help="one batch of photographs every N steps")
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--kd-weight", type=float, default=1.0)
    p.add_argument("--ce-weight", type=float, default=1.0)
    p.add_argument("--scales", default="0.75,1,1.5",
                   help="down/up-scalings of the CamVid frames cached (1 is also mirrored)")
    p.add_argument("--val-qualities", default="2,4,6,8,10",
                   help="qualities (1-based) of the validation; the score is their mean mIoU")
    common.add_schedule_args(p, val_every=500)


@dataclass
class Item:
    """One cached frame: the un-gained latent (fp16), the teacher's logits at 1/4
    resolution (fp16), the labels at full padded resolution (void outside the frame) and
    the frame's own size."""

    latent: torch.Tensor  # (C, H/16, W/16)
    teacher: torch.Tensor  # (11, H/4, W/4)
    label: torch.Tensor  # (H, W) uint8
    size: tuple[int, int]


@torch.no_grad()
def encode(model: Any, teacher: Any, image: np.ndarray, label: np.ndarray | None,
           scale: float = 1.0, flip: bool = False) -> Item:
    """The frozen encoder's latent and the teacher's map of one (scaled, mirrored) frame."""
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255)
    lab = torch.from_numpy(label if label is not None else
                           np.full(image.shape[:2], VOID, np.uint8))[None, None].float()
    if scale != 1.0:
        size = (round(x.shape[-2] * scale), round(x.shape[-1] * scale))
        x = F.interpolate(x, size=size, mode="bilinear", antialias=scale < 1,
                          align_corners=False).clamp(0, 1)
        lab = F.interpolate(lab, size=size, mode="nearest")
    if flip:
        x, lab = x.flip(-1), lab.flip(-1)
    h, w = x.shape[-2:]
    xp = hp.pad_to(x, hp.MULTIPLE)
    latent = model.analyse(xp)[0]
    t4 = F.avg_pool2d(teacher(xp), 4)[0]
    lab = F.pad(lab, (0, xp.shape[-1] - w, 0, xp.shape[-2] - h), value=float(VOID))
    return Item(latent.half(), t4.half(), lab[0, 0].to(torch.uint8), (h, w))


def _save_cache(path: Path, items: dict[str, list[Item]]) -> None:
    arrays: dict[str, np.ndarray] = {}
    for name, its in items.items():
        for i, it in enumerate(its):
            arrays[f"{name}/{i}/latent"] = it.latent.numpy()
            arrays[f"{name}/{i}/teacher"] = it.teacher.numpy()
            arrays[f"{name}/{i}/label"] = it.label.numpy()
            arrays[f"{name}/{i}/size"] = np.array(it.size)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)


def _load_cache(path: Path) -> dict[str, list[Item]]:
    out: dict[str, dict[int, Item]] = {}
    with np.load(path) as z:
        keys = {k.rsplit("/", 1)[0] for k in z.files}
        for key in keys:
            name, i = key.split("/")
            size = z[f"{key}/size"]
            out.setdefault(name, {})[int(i)] = Item(
                torch.from_numpy(z[f"{key}/latent"]), torch.from_numpy(z[f"{key}/teacher"]),
                torch.from_numpy(z[f"{key}/label"]), (int(size[0]), int(size[1])))
    return {name: [d[i] for i in sorted(d)] for name, d in out.items()}


def _photos(root: str, limit: int, seed: int = 3) -> list[np.ndarray]:
    from PIL import Image

    paths = sorted(p for p in Path(root).rglob("*")
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    random.Random(seed).shuffle(paths)
    out = []
    for p in paths[:limit]:
        with Image.open(p) as im:
            out.append(np.asarray(im.convert("RGB"), dtype=np.uint8).copy())
    return out


def crops(items: list[Item], batch: int, side: int, rng: random.Random
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch of aligned crops: latents (B, C, s, s), teacher logits (B, 11, 4s, 4s),
    labels (B, 16s, 16s) int64; ``side`` s in latent samples (smaller frames pad nothing:
    the crop is clipped to the frame's latent)."""
    lats, ts, labs = [], [], []
    for _ in range(batch):
        it = items[rng.randrange(len(items))]
        hl, wl = it.latent.shape[-2:]
        s = min(side, hl, wl)
        y0, x0 = rng.randint(0, hl - s), rng.randint(0, wl - s)
        lats.append(it.latent[:, y0:y0 + s, x0:x0 + s].float())
        ts.append(it.teacher[:, 4 * y0:4 * (y0 + s), 4 * x0:4 * (x0 + s)].float())
        labs.append(it.label[16 * y0:16 * (y0 + s), 16 * x0:16 * (x0 + s)].long())
    sw, sh = min(t.shape[-1] for t in lats), min(t.shape[-2] for t in lats)
    return (torch.stack([t[..., :sh, :sw] for t in lats]),
            torch.stack([t[..., :4 * sh, :4 * sw] for t in ts]),
            torch.stack([t[:16 * sh, :16 * sw] for t in labs]))


def degain(model: Any, latent: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """What the decoder sees at quality index q (0-based, (B,)): round(latent·gain)/gain."""
    gain, inv_gain = model.gains(q)
    return torch.round(latent * gain) * inv_gain


@torch.no_grad()
def carried_miou(model: Any, items: list[Item], quality: int) -> float:
    """mIoU of the carried map over every frame of ``items`` at ``quality`` (1-based)."""
    from app.metrics import miou

    preds, gts = [], []
    q = torch.tensor([float(quality - 1)])
    for it in items:
        h, w = it.size
        logits = model.segment(degain(model, it.latent[None].float(), q))
        preds.append(logits[0, :, :h, :w].argmax(0).numpy().ravel())
        gts.append(it.label[:h, :w].numpy().ravel())
    return float(miou(np.concatenate(preds), np.concatenate(gts), NUM_CLASSES,
                      ignore_index=VOID)[0])


def warm_start(model: Any, shipped: dict[str, torch.Tensor]) -> None:
    """The shipped ẑ_s-only decoder into the latent-reading one: its first convolution's
    weights on the ẑ_s channels, zero on ŷ's, so the map starts as the shipped one."""
    own = model.state_dict()
    m = int(model.M)
    with torch.no_grad():
        for k, v in shipped.items():
            if not k.startswith("seg_decoder.") or k not in own:
                continue
            if own[k].shape == v.shape:
                own[k].copy_(v.to(own[k].dtype))
            elif k == "seg_decoder.body.0.weight" and own[k].shape[1] == m + v.shape[1]:
                own[k].zero_()
                own[k][:, m:].copy_(v.to(own[k].dtype))


@trainer("menet-readout", "MENet: its semantic decoder reads the whole latent (codec frozen, "
         "SegNet as teacher)", add_args)
def run(args: argparse.Namespace) -> int:
    """``edms train menet-readout``: cache the frozen encoder's latents, then train the
    semantic decoder on them (CE on the labels + KD from the teacher)."""
    from safetensors.torch import load_file

    from app.metrics import miou
    from app.nets import zoo
    from app.nets.menet import MENet
    from app.nets.segnet import build_segnet
    from app.train import data
    from app.train.smic import precise_bn

    cfg = args.config
    iters, batch, crop, lr0 = common.schedule(args, DEFAULTS)
    common.setup(args)
    models = zoo.models_dir()
    init = Path(args.init or models / f"menet-{cfg}.safetensors")
    manifest = json.loads(init.with_suffix(".json").read_text())
    conf = dict(manifest["config"], seg_input="latent")
    model: Any = MENet.from_config(conf)
    shipped = load_file(str(init))
    model.load_state_dict({k: v.float() for k, v in shipped.items()
                           if not k.startswith("seg_decoder.")}, strict=False)
    if manifest["config"].get("seg_input", "semantic") == "latent":
        model.seg_decoder.load_state_dict({k[len("seg_decoder."):]: v.float()
                                           for k, v in shipped.items()
                                           if k.startswith("seg_decoder.")})
    else:
        warm_start(model, shipped)
    model.eval()
    for p in model.parameters():
        p.requires_grad = False
    for p in model.seg_decoder.parameters():
        p.requires_grad = True
    teacher_path = Path(args.teacher or models / f"segnet-{cfg}.safetensors")
    teacher = build_segnet(json.loads(teacher_path.with_suffix(".json").read_text())["config"])
    teacher.load_state_dict({k: v.float() for k, v in load_file(str(teacher_path)).items()})
    teacher.eval()

    root = Path(args.data)
    run_dir = Path(args.run_dir or f"runs/menet-readout-{cfg}")
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = run_dir / "cache.npz"
    train_frames = data.load_camvid(root, "train", args.limit)
    val_frames = data.load_camvid(root, "val", args.limit)
    if cache.exists():
        sets = _load_cache(cache)
        print(f"latents from {cache}", flush=True)
    else:
        scales = [float(s) for s in args.scales.split(",")]
        sets = {"train": [], "val": [], "photos": []}
        jobs = [(s.image, s.label, sc, False) for sc in scales for s in train_frames]
        jobs += [(s.image, s.label, 1.0, True) for s in train_frames]
        for i, (im, lab, sc, fl) in enumerate(jobs):
            sets["train"].append(encode(model, teacher, im, lab, sc, fl))
            if i % 100 == 0:
                print(f"encoding training frames {i}/{len(jobs)}", flush=True)
        sets["val"] = [encode(model, teacher, s.image, s.label) for s in val_frames]
        if args.photos:
            photos = _photos(args.photos, args.photo_limit)
            sets["photos"] = [encode(model, teacher, p, None) for p in photos]
            print(f"encoded {len(photos)} photographs", flush=True)
        _save_cache(cache, sets)
    val = sets["val"]
    teacher_miou = float(miou(np.concatenate([data_label_pred(teacher, s) for s in val_frames]),
                              np.concatenate([s.label.ravel() for s in val_frames]),
                              NUM_CLASSES, ignore_index=VOID)[0])
    print(f"{len(sets['train'])} cached training crops' frames, {len(val)} val frames, "
          f"{len(sets.get('photos', []))} photographs; teacher on the original val frames: "
          f"mIoU {teacher_miou:.4f}", flush=True)

    weights = data.class_weights(train_frames)
    val_q = [int(q) for q in args.val_qualities.split(",")]
    side = max(1, crop // 16)
    opt = torch.optim.Adam(model.seg_decoder.parameters(), lr=lr0)
    loop = common.TrainLoop(args, "menet-readout", iters, {"model": model, "opt": opt})
    loop.resume()
    rng = random.Random(11 + loop.step + args.seed)
    torch.manual_seed(11 + loop.step + args.seed)
    qualities = int(model.gains.qualities)
    temp = args.temperature

    def batch_of(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        lat, t4, lab = crops(sets[name], batch, side, rng)
        q = torch.tensor([float(rng.randrange(qualities)) for _ in range(lat.shape[0])])
        return degain(model, lat, q), t4, lab, q

    def validate() -> tuple[float, dict[str, Any]]:
        precise_bn(model.seg_decoder, lambda: (batch_of("train")[0],), n=20)
        model.seg_decoder.eval()
        m = {f"quality{q}": carried_miou(model, val, q) for q in val_q}
        model.seg_decoder.train()
        score = float(np.mean(list(m.values())))
        print(f"\nstep {loop.step}: carried mIoU " + " ".join(
            f"q{q}:{m[f'quality{q}']:.4f}" for q in val_q) + f" mean {score:.4f}", flush=True)
        return score, {"carried_miou": m, "mean": score}

    def train_step(p: float) -> dict[str, float]:
        lr = lr0 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * p)))
        for g in opt.param_groups:
            g["lr"] = lr
        photo = bool(sets.get("photos")) and loop.step % args.photo_every == args.photo_every - 1
        lat, t4, lab, _ = batch_of("photos" if photo else "train")
        logits4 = model.seg_decoder.body(lat)
        kd = F.kl_div(F.log_softmax(logits4 / temp, 1), F.log_softmax(t4 / temp, 1),
                      reduction="none", log_target=True).sum(1).mean() * temp ** 2
        loss = args.kd_weight * kd
        logs = {"kd": float(kd.detach())}
        if not photo:
            up = F.interpolate(logits4, scale_factor=4, mode="bilinear", align_corners=False)
            ce = F.cross_entropy(up, lab, weight=weights, ignore_index=VOID)
            loss = loss + args.ce_weight * ce
            logs["ce"] = float(ce.detach())
        common.backward_step(loss, opt, model.seg_decoder.parameters(), clip=5.0)
        logs["loss"] = float(loss.detach())
        return logs

    def export(state: dict[str, torch.Tensor], metrics: dict[str, Any]) -> None:
        man = {k: manifest[k] for k in ("name", "lambdas", "training_data") if k in manifest}
        history = list(manifest.get("history", []))
        history.append(
            f"the semantic decoder made to read the whole latent [ŷ, ẑ_s] "
            f"(seg_input=latent; warm start: the ẑ_s decoder, ŷ's weights at zero) and "
            f"trained {loop.step} steps on the frozen codec (the bits unchanged): "
            f"class-weighted CE on CamVid train labels + {args.kd_weight} x KL (T = "
            f"{temp}) to the shipped SegNet's maps of the original frames"
            + (f" and of {len(sets['photos'])} unlabelled photographs" if sets.get("photos")
               else "") + f", CamVid frames cached at scales {args.scales} and mirrored, "
            f"{side * 16}x{side * 16} crops, batch {batch}, quality uniform over the "
            f"{qualities}, Adam {lr0} cosine; the enhancement module unchanged")
        man.update(config=conf, config_name=cfg, steps=loop.step, history=history,
                   init="the stages above (history)",
                   frozen="everything but the semantic decoder (seg_decoder.)",
                   loss="semantic decoder: class-weighted CE on CamVid labels + KL to the "
                   "SegNet teacher; the codec as in the previous stages",
                   validation=dict(manifest.get("validation", {}), readout={
                       "data": f"CamVid val ({len(val)} frames, all), the map decoded "
                       "from the rounded latent at each quality",
                       "teacher_miou_on_originals": teacher_miou, **metrics}))
        common.export_safetensors(state, loop.out_dir, f"menet-{cfg}", man)

    model.seg_decoder.train()
    loop.run(train_step, validate, export)
    return 0


@torch.no_grad()
def data_label_pred(net: Any, sample: Any) -> np.ndarray:
    """The teacher's class map of one original frame (flattened)."""
    x = torch.from_numpy(sample.image).permute(2, 0, 1)[None].float().div(255)
    return net(x)[0].argmax(0).numpy().ravel()
