"""DeepSIC's semantic analysis on a frozen transform coder: ``edms train deepsic-heads``.

The shipped ``deepsic`` network (:mod:`app.nets.deepsic_transform`) shares f and g with
the shipped ``hyperprior`` codec, whose weights it takes bit for bit and keeps frozen, so
the file's bits and image are the hyperprior's. What is trained is the semantic analysis
h of DeepSIC §III-D, with Eq. 4's semantic term (the rate and distortion terms are
constant with the codec frozen):

- ``pre`` on the float latent y = f(x) (the encoder's features, before quantisation);
- ``post`` on the decoded latent round(y·g_q)·g'_q at a quality q drawn per batch, with
  one batch normalisation per quality;

each against the Imagenette labels (cross-entropy) and, as in the warm start the issue
asked for, the reference classifier of DeepSIC's size (``deepsic-ref``, trained on
uncompressed images) as a teacher: the KL divergence to its class probabilities at
temperature T on the same view (knowledge distillation, Hinton et al. 2015).

Since the codec is frozen, every training image's latent is computed once, for the image
and its mirror image (224x224: Imagenette's size), and cached with the teacher's logits in
``cache.npz`` under the run folder, so ``--resume`` skips the encoding; training crops
12x12 of the 14x14 latent samples. Every quality is a gain, a rounding and an inverse
gain away from the cached latent, exactly what the decoder holds
(:mod:`app.pipelines.endtoend`). Validation: the pre head's top-1/top-5 and the post
head's at every quality on the validation images, computed from the latent exactly as the
pipelines compute them (the codec in float32, images whose sides are multiples of 16);
the score is the mean of the pre top-1 and the post top-1 over the qualities.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from app.train import common
from app.train.registry import trainer

DEFAULTS = {"lite": common.Schedule(iters=20000, batch=64, crop=192, lr=1e-3),
            "paper": common.Schedule(iters=60000, batch=64, crop=192, lr=1e-3)}
SIDE = 224  # Imagenette's images: the cached view's size


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--codec", default=None,
                   help="hyperprior weights whose f, g and entropy model DeepSIC takes, "
                   "frozen (default: the shipped hyperprior-<config>)")
    p.add_argument("--teacher", default=None,
                   help="the reference classifier (default: the shipped deepsic-ref-<config>)")
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--kd-weight", type=float, default=1.0)
    p.add_argument("--ce-weight", type=float, default=1.0)
    p.add_argument("--val-per-class", type=int, default=100,
                   help="Imagenette val images per class validated on (all: 100)")
    p.add_argument("--train-per-class", type=int, default=None,
                   help="Imagenette train images per class (default: all)")
    p.add_argument("--extra-views", type=int, default=0,
                   help="also cache K random resized crops of every training image (scale "
                        "0.35-1, aspect 3/4-4/3, mirrored at random), as the teacher was "
                        "trained: more views for heads that over-fit the centre views")
    p.add_argument("--init", default=None,
                   help="start the heads from these deepsic weights (their h. tensors)")
    common.add_schedule_args(p, val_every=500)


def view(image: np.ndarray) -> torch.Tensor:
    """(1, 3, 224, 224) in [0, 1]: the image itself when it is 224x224, else its shorter
    side resized to 224 and the centre cropped."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div(255)
    h, w = x.shape[-2:]
    if (h, w) != (SIDE, SIDE):
        s = SIDE / min(h, w)
        size = (max(SIDE, round(h * s)), max(SIDE, round(w * s)))
        x = F.interpolate(x, size=size, mode="bilinear", antialias=s < 1,
                          align_corners=False).clamp(0, 1)
        y0, x0 = (size[0] - SIDE) // 2, (size[1] - SIDE) // 2
        x = x[..., y0:y0 + SIDE, x0:x0 + SIDE]
    return x


def random_view(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """A random resized crop of ``image`` (area 35-100 %, aspect 3/4-4/3, as
    torchvision's RandomResizedCrop draws them), mirrored with probability 1/2, resized to
    the image's own size (224x224 for Imagenette), uint8 HxWx3.

    Written here rather than taken from torchvision's transforms: torchvision is not a
    dependency of the workbench, and these few lines on a numpy image with a seeded
    ``random.Random`` keep the cached views reproducible from the seed alone."""
    from PIL import Image

    h, w = image.shape[:2]
    for _ in range(10):
        area = h * w * rng.uniform(0.35, 1.0)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            break
    else:
        cw, ch = w, h
    y0, x0 = rng.randint(0, h - ch), rng.randint(0, w - cw)
    crop = Image.fromarray(image[y0:y0 + ch, x0:x0 + cw])
    out = np.asarray(crop.resize((w, h), Image.Resampling.BICUBIC))
    return np.ascontiguousarray(out[:, ::-1] if rng.random() < 0.5 else out)


@torch.no_grad()
def teacher_logits(teacher: Any, x: torch.Tensor) -> torch.Tensor:
    return teacher.h["pre"](teacher.features(x))


@torch.no_grad()
def encode_set(model: Any, teacher: Any, items: list[tuple[np.ndarray, int]], flips: bool,
               label: str) -> dict[str, torch.Tensor]:
    """Latents y (float16 for training sets, float32 for validation), teacher logits and
    labels of every image (and of its mirror image with ``flips``)."""
    lats, tls, labs = [], [], []
    for i, (image, cls) in enumerate(items):
        x = view(image)
        for xv in ((x, x.flip(-1)) if flips else (x,)):
            y, _ = model.g_a(xv)
            lats.append(y[0].half() if flips else y[0])
            tls.append(teacher_logits(teacher, xv)[0])
            labs.append(cls)
        if i % 500 == 0:
            print(f"encoding {label} {i}/{len(items)}", flush=True)
    return {"latent": torch.stack(lats), "teacher": torch.stack(tls),
            "label": torch.tensor(labs, dtype=torch.int64)}


def _save(path: Path, sets: dict[str, dict[str, torch.Tensor]]) -> None:
    tmp = path.with_suffix(".tmp.npz")
    arrays = {f"{n}/{k}": v.numpy() for n, d in sets.items() for k, v in d.items()}
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)


def _load(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    out: dict[str, dict[str, torch.Tensor]] = {}
    with np.load(path) as z:
        for key in z.files:
            n, k = key.split("/")
            out.setdefault(n, {})[k] = torch.from_numpy(z[key])
    return out


@torch.no_grad()
def accuracy(model: Any, val: dict[str, torch.Tensor], variant: str,
             quality: int | None = None, chunk: int = 100) -> tuple[float, float]:
    """(top-1, top-5) of a head on the cached validation latents; ``quality`` 1-based."""
    top1 = top5 = 0
    n = len(val["label"])
    for i in range(0, n, chunk):
        lat = val["latent"][i:i + chunk].float()
        if variant == "post":
            assert quality is not None
            q = torch.full((len(lat),), float(quality - 1))
            lat = model.decoded_latent(lat, q)
        logits = model.logits(variant, lat, None if quality is None else quality - 1)
        best = logits.topk(5, dim=1).indices
        lab = val["label"][i:i + chunk]
        top1 += int((best[:, 0] == lab).sum())
        top5 += int((best == lab[:, None]).any(1).sum())
    return top1 / n, top5 / n


def load_codec(model: Any, path: Path) -> int:
    """The hyperprior's tensors into ``model`` (every one of them must fit)."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    own = model.state_dict()
    missing = [k for k in own if not k.startswith("h.") and k not in state
               and not k.endswith("num_batches_tracked")]
    if missing:
        raise SystemExit(f"{path.name} lacks {missing[:3]}: not a hyperprior of this size")
    model.load_state_dict({k: v.float() for k, v in state.items() if k in own}, strict=False)
    return len(state)


@trainer("deepsic-heads", "DeepSIC: the semantic heads on the frozen transform coder "
         "(deepsic-ref as teacher)", add_args)
def run(args: argparse.Namespace) -> int:
    """``edms train deepsic-heads``: cache the frozen codec's latents and the teacher's
    logits, then train the pre and post heads on them."""
    from app.nets import zoo
    from app.nets.deepsic_transform import CODEC_KEYS, CONFIGS, TransformDeepSIC
    from app.train.deepsic import load_split

    cfg = args.config
    iters, batch, crop, lr0 = common.schedule(args, DEFAULTS)
    common.setup(args)
    models = zoo.models_dir()
    codec_path = Path(args.codec or models / f"hyperprior-{cfg}.safetensors")
    codec_man = json.loads(codec_path.with_suffix(".json").read_text())
    conf = dict(CONFIGS[cfg], **{k: codec_man["config"][k] for k in CODEC_KEYS
                                 if k in codec_man["config"]})
    model: Any = TransformDeepSIC.from_config(conf)
    load_codec(model, codec_path)
    model.eval()
    for p in model.codec_parameters():
        p.requires_grad = False
    teacher_path = Path(args.teacher or models / f"deepsic-ref-{cfg}.safetensors")
    teacher, teacher_man = zoo.load_model("deepsic-ref", cfg, root=teacher_path.parent)

    run_dir = Path(args.run_dir or f"runs/deepsic-heads-{cfg}")
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = run_dir / "cache.npz"
    if cache.exists():
        sets = _load(cache)
        print(f"latents from {cache}", flush=True)
    else:
        train_items = load_split(args.data, "train", args.train_per_class)
        val_items = load_split(args.data, "val", args.val_per_class)
        sets = {"train": encode_set(model, teacher, train_items, True, "train"),
                "val": encode_set(model, teacher, val_items, False, "val")}
        del train_items, val_items
        _save(cache, sets)
    train, val = sets["train"], sets["val"]
    if args.extra_views:
        extra_path = run_dir / f"cache-extra{args.extra_views}-seed{args.seed}.npz"
        if extra_path.exists():
            extra = _load(extra_path)["extra"]
            print(f"extra views from {extra_path}", flush=True)
        else:
            vrng = random.Random(args.seed)
            items = [(random_view(image, vrng), cls)
                     for image, cls in load_split(args.data, "train", args.train_per_class)
                     for _ in range(args.extra_views)]
            extra = encode_set(model, teacher, items, False, "extra views")
            extra["latent"] = extra["latent"].half()
            del items
            _save(extra_path, {"extra": extra})
        train = {k: torch.cat([train[k], extra[k].to(train[k].dtype)]) for k in train}
    teacher_top1 = float((val["teacher"].argmax(1) == val["label"]).float().mean())
    print(f"{len(train['label'])} training views, {len(val['label'])} val images; teacher "
          f"top-1 on the original val images {teacher_top1:.4f}", flush=True)

    heads = model.h
    if args.init and not args.resume:
        from safetensors.torch import load_file

        init = {k[2:]: v.float() for k, v in load_file(str(args.init)).items()
                if k.startswith("h.")}
        heads.load_state_dict(init)
        print(f"heads from {args.init}", flush=True)
    opt = torch.optim.AdamW(heads.parameters(), lr=lr0, weight_decay=1e-4)
    loop = common.TrainLoop(args, "deepsic-heads", iters, {"model": model, "opt": opt})
    loop.resume()
    rng = random.Random(17 + loop.step + args.seed)
    torch.manual_seed(17 + loop.step + args.seed)
    qualities = int(model.gains.qualities)
    side = max(1, min(14, crop // 16))
    temp = args.temperature
    n_train = len(train["label"])
    n_centre = len(sets["train"]["label"])

    def validate() -> tuple[float, dict[str, Any]]:
        heads.eval()
        m: dict[str, Any] = {}
        if "pre" in heads:
            m["top1_pre"], m["top5_pre"] = accuracy(model, val, "pre")
        if "post" in heads:
            for q in range(1, qualities + 1):
                m[f"quality{q}"] = dict(zip(("top1_post", "top5_post"),
                                            accuracy(model, val, "post", q), strict=True))
        heads.train()
        post = [v["top1_post"] for k, v in m.items() if k.startswith("quality")]
        parts = ([m["top1_pre"]] if "pre" in heads else []) + ([float(np.mean(post))]
                                                              if post else [])
        score = float(np.mean(parts))
        print(f"\nstep {loop.step}: pre top-1 {m.get('top1_pre', float('nan')):.4f}  post "
              + " ".join(f"q{i + 1}:{v:.3f}" for i, v in enumerate(post))
              + f"  score {score:.4f}", flush=True)
        return score, m

    def train_step(p: float) -> dict[str, float]:
        lr = lr0 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * p)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.tensor([rng.randrange(n_train) for _ in range(batch)])
        y0, x0 = rng.randint(0, 14 - side), rng.randint(0, 14 - side)
        lat = train["latent"][idx][..., y0:y0 + side, x0:x0 + side].float()
        soft = F.log_softmax(train["teacher"][idx].float() / temp, 1)
        lab = train["label"][idx]
        q = float(rng.randrange(qualities))
        loss = torch.zeros(())
        logs: dict[str, float] = {}
        for variant in heads:
            inp = lat if variant == "pre" else model.decoded_latent(
                lat, torch.full((batch,), q))
            logits = model.logits(variant, inp, q if variant == "post" else None)
            ce = F.cross_entropy(logits, lab)
            kd = F.kl_div(F.log_softmax(logits / temp, 1), soft, reduction="batchmean",
                          log_target=True) * temp ** 2
            loss = loss + args.ce_weight * ce + args.kd_weight * kd
            logs[f"ce_{variant}"] = float(ce.detach())
        common.backward_step(loss, opt, heads.parameters(), clip=5.0)
        logs["loss"] = float(loss.detach())
        return logs

    def export(state: dict[str, torch.Tensor], metrics: dict[str, Any]) -> None:
        common.export_safetensors(state, loop.out_dir, f"deepsic-{cfg}", {
            "name": "deepsic", "config_name": cfg, "config": conf, "steps": loop.step,
            "codec": {"weights": codec_path.name, "sha256": codec_man.get("sha256"),
                      "steps": codec_man.get("steps")},
            "init": Path(args.init).name if args.init else None,
            "frozen": "the codec (g_a, g_s, h_a, h_s, gain units, entropy models): the "
                      f"{codec_path.stem} weights bit for bit; only the heads (h.) trained",
            "training_data": f"Imagenette train ({n_centre // 2} images, 10 classes in sorted "
                             "wnid order) and their mirror images"
                             + (f" and {args.extra_views} random resized crops of each"
                                if args.extra_views else "") + ", 224x224, latents cached "
                             f"once; {side}x{side} latent crops, batch {batch}, one quality "
                             f"per batch uniform over the {qualities}",
            "loss": f"per head: {args.ce_weight} x CE + {args.kd_weight} x KL (T = {temp}) "
                    f"to deepsic-ref (sha256 {str(teacher_man.get('sha256'))[:12]}, "
                    f"top-1 {teacher_top1:.4f} on these val images); AdamW {lr0} cosine",
            "validation": {"data": f"Imagenette val, {len(val['label'])} images, whole "
                                   "224x224; post at every quality (1-based)",
                           "teacher_top1": teacher_top1, **metrics},
        })

    heads.train()
    loop.run(train_step, validate, export)
    return 0
