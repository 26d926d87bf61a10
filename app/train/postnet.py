"""Training PostNet, the decoder-side post-filter of the layered pipelines (our extension).

Training pairs come from the shipped pipelines themselves: every frame is encoded by
layered pipelines (``--pipelines``, the ones that will use the filter) at random QPs in
``--qp-range`` with the filter off, and the sample is (x_hat, x', QP) -> x, where x_hat is
the decoder's reconstruction and x' its prediction — exactly what the decoder holds. The
loss is the MSE of the filtered image (our results are PSNR-RGB). Validation reports, per
pipeline, the PSNR of x_hat and of PostNet(x_hat) on CamVid val frames at QPs 27 and 37.

The prepared pairs are cached in the run folder (``pairs-<split>.npz``), so ``--resume``
starts training at once.

``--variant hevc`` / ``hevc-seg`` (our extension) train the filters of ``hevc-pf`` and
``hevc-spf``: the pairs come from plain HEVC 4:4:4 (the ``hevc`` pipeline; no x', so the
network has no prediction input), on the ``--data`` frames and on ``--extra-limit``
photographs drawn from ``--extra-data`` (any folder tree of images, e.g. Imagenette
train), and they also hold SegNet's map of the *decoded* image (what the ``hevc-spf``
decoder computes), so both variants can share one cache (``--pairs-dir``). Validation adds
``--extra-val-n`` photographs of ``--extra-val``.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from app.nets.postnet import CONFIGS, build_postnet
from app.train import common, distributed
from app.train.data import load_split
from app.train.registry import trainer

DEFAULTS = {"lite": common.Schedule(iters=8000, batch=8, crop=96, lr=5e-4),
            "paper": common.Schedule(iters=100000, batch=16, crop=128, lr=2e-4)}
VAL_QPS = (27, 37)
VAL_SCALES = (1.0, 0.5)
# --variant: (weights stem, PostNet configuration keys, needs the segmentation map)
VARIANTS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "layered": ("postnet", {}, False),
    "hevc": ("postnet-hevc", {"prediction": False}, False),
    "hevc-seg": ("postnet-hevc-seg", {"prediction": False, "seg_classes": 11}, True),
}


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pipelines", default="edms,edms-lb,dsslic,edms-noenh,dsslic-lb",
                   help="layered pipelines whose reconstructions to learn from")
    p.add_argument("--per-frame", type=int, default=6,
                   help="training samples per frame (random pipeline, QP, scale, colours each)")
    p.add_argument("--scales", default="1,0.7,0.5",
                   help="frames are resized by one of these before encoding")
    p.add_argument("--perm-prob", type=float, default=0.5,
                   help="probability of a random permutation of the colour channels")
    p.add_argument("--qp-range", default="20,44", help="QPs drawn uniformly from this range")
    p.add_argument("--val-frames", type=int, default=24, help="CamVid val frames validated on")
    p.add_argument("--workers", type=int, default=1,
                   help="processes that encode the training pairs (once; cached in the run folder)")
    p.add_argument("--init", default=None,
                   help="start from these shipped .safetensors (a warm restart of the schedule)")
    p.add_argument("--seed", type=int, default=99,
                   help="seed of the training-pair plan (a new seed, new pairs)")
    p.add_argument("--variant", choices=tuple(VARIANTS), default="layered",
                   help="layered: the -pf pipelines' filter; hevc / hevc-seg: hevc-pf / hevc-spf")
    p.add_argument("--extra-data", default=None,
                   help="hevc variants: a folder tree of photographs (e.g. Imagenette train)")
    p.add_argument("--extra-limit", type=int, default=1000,
                   help="photographs drawn (seeded) from --extra-data, one sample each")
    p.add_argument("--extra-val", default=None, help="a folder tree of validation photographs")
    p.add_argument("--extra-val-n", type=int, default=8, help="photographs of --extra-val used")
    p.add_argument("--blocks", type=int, default=None,
                   help="trunk residual blocks (default: the configuration's); blocks beyond "
                        "those of --init start as the identity (their last convolution at 0)")
    p.add_argument("--refine", type=int, default=None,
                   help="full-resolution residual blocks after the fusion (default: the "
                        "configuration's, none); those beyond --init's start as the identity")
    p.add_argument("--loss", choices=("mse", "psnr"), default="mse",
                   help="mse: MSE of the batch (high QPs dominate); psnr: mean over the "
                        "samples of log MSE, i.e. every sample's PSNR gain counts alike, as "
                        "every QP's dB counts alike in a BD-rate")
    p.add_argument("--pairs-dir", default=None,
                   help="where the training pairs are cached (default: the run folder)")
    p.add_argument("--add-pairs", action="append", default=[], metavar="DIR",
                   help="pairs cached by an earlier run (repeatable): its training pairs join "
                        "this run's, and the first one's validation pairs replace new ones, so "
                        "validation gains compare across runs")
    common.add_schedule_args(p, val_every=500)


PERMS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def _encode(pipe: Any, prep: Any, qp: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(x_hat, x') of ``pipe`` (a pipeline without post-filter) at ``qp``; x' is None for
    a pipeline without prediction (``hevc``)."""
    enc = pipe.encode_prepared(prep, pipe.check_params({"qp": qp}))
    view = (enc.views or {}).get("prediction")
    return enc.reconstruction, (view.array if view is not None else None)


class Photo:
    """A photograph loaded when first used (a thousand of them stay on disk until
    encoded); ``image`` like :class:`app.train.data.Sample`'s."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def image(self) -> np.ndarray:
        from PIL import Image

        with Image.open(self.path) as im:
            return np.asarray(im.convert("RGB"))


def _folder(path: str | Path | None) -> str:
    """The last two parts of a folder's path, for manifests (no machine-specific prefix)."""
    return "/".join(Path(str(path)).parts[-2:])


def list_photos(root: str | Path | None, n: int, seed: int) -> list[Photo]:
    """``n`` photographs drawn without replacement (seeded) from a folder tree."""
    if not root or n <= 0:
        return []
    from app.train.data import IMAGE_EXTS

    root = Path(root)
    if not root.is_dir():
        raise SystemExit(f"photograph folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    return [Photo(p) for p in sorted(random.Random(seed).sample(files, min(n, len(files))))]


def augment(image: np.ndarray, scale: float, perm: int) -> np.ndarray:
    """The frame as the encoder will see it: Lanczos-resized by ``scale`` and with its
    colour channels permuted, for variety beyond CamVid's soft road-scene video frames.
    It did not make the filter safe on photographs (see docs/training.md); the pipelines'
    per-block strengths do."""
    from PIL import Image

    if scale != 1.0:
        h, w = image.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
    return np.ascontiguousarray(image[..., list(PERMS[perm])])


def prepare_pairs(samples: list, names: list[str], plan: list[list[tuple]], desc: str,
                  crop: int = 176, segment: bool = False) -> dict[str, np.ndarray]:
    """Encode every frame as ``plan[i]`` says ([(pipeline, qp, scale, perm, (y, x)), ...];
    (y, x) in [0, 1] places the stored crop) and stack ``crop`` x ``crop`` crops of
    (x, x_hat, x') taken on the 8-pixel grid (no x' for pipelines without one; with
    ``segment`` also SegNet's map of the whole decoded frame, as a decoder computes it).
    The whole (augmented) frame is encoded, so the crops carry the context a decoder has."""
    from app.pipelines import registry

    pipes = {n: registry.get(n) for n in names}
    seg_net = None
    if segment:
        from app.pipelines.dsslic import shared_nets

        seg_net = shared_nets("lite", "cpu")
    xs: list[np.ndarray] = []
    xh: list[np.ndarray] = []
    xp: list[np.ndarray] = []
    sg: list[np.ndarray] = []
    qps: list[int] = []
    pid: list[int] = []
    scales: list[float] = []
    src: list[int] = []
    for s, jobs in tqdm(list(zip(samples, plan, strict=True)), desc=desc, mininterval=30,
                        ncols=100):
        preps: dict[tuple, Any] = {}
        images: dict[tuple, np.ndarray] = {}
        for name, qp, scale, perm, (fy, fx) in jobs:
            key = (name, scale, perm)
            if (scale, perm) not in images:
                images[(scale, perm)] = augment(s.image, scale, perm)
            img = images[(scale, perm)]
            if key not in preps:
                preps[key] = pipes[name].prepare(img)
            rec, pred = _encode(pipes[name], preps[key], qp)
            h, w = img.shape[:2]
            ch, cw = min(crop, h), min(crop, w)
            y = int(fy * (h - ch)) // 8 * 8
            x = int(fx * (w - cw)) // 8 * 8
            sl = (slice(y, y + ch), slice(x, x + cw))
            pad = ((0, crop - ch), (0, crop - cw), (0, 0))
            arrays = [(xs, img), (xh, rec)] + ([(xp, pred)] if pred is not None else [])
            if seg_net is not None:
                arrays.append((sg, seg_net.segment(rec)[..., None]))
            for lst, arr in arrays:
                lst.append(np.pad(arr[sl], pad, mode="edge"))
            qps.append(qp)
            pid.append(names.index(name))
            scales.append(scale)
            src.append(int(isinstance(s, Photo)))
    out = {"x": np.stack(xs), "x_hat": np.stack(xh),
           "qp": np.array(qps, np.int16), "pipeline": np.array(pid, np.int16),
           "scale": np.array(scales, np.float32), "source": np.array(src, np.int16)}
    if xp:
        out["pred"] = np.stack(xp)
    if sg:
        out["seg"] = np.stack(sg)
    return out


def _prepare_shard(job: tuple) -> dict[str, np.ndarray]:
    import torch as _torch

    _torch.set_num_threads(1)
    samples, names, plan, desc, segment = job
    return prepare_pairs(samples, names, plan, desc, segment=segment)


def prepare_parallel(samples: list, names: list[str], plan: list, desc: str,
                     workers: int, segment: bool = False) -> dict[str, np.ndarray]:
    """:func:`prepare_pairs` split over ``workers`` processes (every ``workers``-th frame,
    so that frames of different sizes spread evenly; the pairs come out grouped by
    shard)."""
    if workers <= 1 or len(samples) < 2 * workers:
        return prepare_pairs(samples, names, plan, desc, segment=segment)
    import multiprocessing as mp

    jobs = [(samples[i::workers], names, plan[i::workers], f"{desc} {i + 1}/{workers}",
             segment) for i in range(workers)]
    with mp.get_context("spawn").Pool(workers) as pool:
        parts = pool.map(_prepare_shard, jobs)
    return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}


def load_or_prepare_once(path: Path, make: Any) -> dict[str, np.ndarray]:
    """:func:`load_or_prepare` on rank 0 (which writes the cache) while the other ranks of
    a torchrun job wait, then read the cache; a rank that cannot see it (no shared run
    folder) prepares the pairs itself, in memory."""
    data = load_or_prepare(path, make) if distributed.is_main() else None
    distributed.barrier()
    if data is None:
        data = load_or_prepare(path, make) if path.exists() else make()
    return data


def load_cached(path: Path) -> dict[str, np.ndarray]:
    """Pairs cached by an earlier run (``--add-pairs``); a clear error when absent."""
    if not path.exists():
        raise SystemExit(f"no cached pairs at {path}: run the trainer that makes them first")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def join_pairs(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Training pairs of several caches as one set: the arrays all of them hold (a cache
    without SegNet's maps drops the maps of the others, and a ``hevc-seg`` run then stops
    with its usual message)."""
    if len(parts) == 1:
        return parts[0]
    keys = [k for k in parts[0] if all(k in p for p in parts[1:])]
    for k in keys:
        shapes = {p[k].shape[1:] for p in parts}
        if len(shapes) > 1:
            raise SystemExit(f"cached pairs differ in the shape of {k!r}: {sorted(shapes)}")
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def load_or_prepare(path: Path, make: Any) -> dict[str, np.ndarray]:
    if path.exists():
        return load_cached(path)
    data = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **data)
    tmp.replace(path)
    return data


MSE_FLOOR = 1e-6  # in [0, 1] units: 60 dB, so a flat crop cannot dominate the log loss
LOSS_TEXT = {"mse": "MSE of the filtered image",
             "psnr": f"mean over the samples of log(MSE + {MSE_FLOOR:.0e}) of the filtered image"}


def sample_loss(mse: torch.Tensor, kind: str) -> torch.Tensor:
    """The training loss from the per-sample MSEs (images in [0, 1]): their mean
    (``mse``), or the mean of their logarithms (``psnr``, the mean PSNR gain up to a
    constant factor: a sample at QP 22 counts as much as one at QP 42)."""
    if kind == "psnr":
        return torch.log(mse + MSE_FLOOR).mean()
    return mse.mean()


def _to_t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).float() / 255


def _batch(data: dict[str, np.ndarray], batch: int, crop: int, rng: random.Random):
    n, h, w = data["x"].shape[:3]
    idx, sl = [], []
    for _ in range(batch):
        i = rng.randrange(n)
        y = rng.randrange(0, h - crop + 1, 8)  # on HEVC's 8-pixel grid, as at inference
        x = rng.randrange(0, w - crop + 1, 8)
        idx.append(i)
        sl.append((slice(y, y + crop), slice(x, x + crop)))

    def take(key: str) -> np.ndarray:
        return np.stack([data[key][i][s] for i, s in zip(idx, sl, strict=True)])

    keys = [k for k in ("x", "x_hat", "pred") if k in data]
    out: dict[str, torch.Tensor] = {k: _to_t(take(k)) for k in keys}
    if "seg" in data:
        out["seg"] = torch.from_numpy(take("seg").transpose(0, 3, 1, 2).copy())
    if rng.random() < 0.5:
        out = {k: t.flip(-1) for k, t in out.items()}
    out["qp"] = torch.tensor([float(data["qp"][i]) for i in idx])
    return out


def _filter(model: torch.nn.Module, b: dict[str, torch.Tensor], qp: Any,
            forward: Any = None) -> torch.Tensor:
    """The model on a batch dict, with x' and the map when the model takes them;
    ``forward`` is the module to call (the DDP-wrapped one in training), default ``model``."""
    seg = b.get("seg") if getattr(model, "seg_classes", 0) else None
    return (forward or model)(b["x_hat"], b.get("pred"), qp, seg)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of 8-bit-rounded images given in [0, 1]."""
    a8 = torch.round(a.clamp(0, 1) * 255)
    b8 = torch.round(b.clamp(0, 1) * 255)
    mse = float(((a8 - b8) ** 2).mean())
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: dict[str, np.ndarray], names: list[str],
             device: torch.device) -> dict[str, Any]:
    """Mean PSNR of x_hat and of the filtered image, per pipeline and QP; ``gain`` = mean
    of the filtered-minus-unfiltered differences over all samples."""
    rows: dict[str, list[tuple[float, float]]] = {}
    for i in range(len(data["x"])):
        b: dict[str, torch.Tensor] = {k: _to_t(data[k][i:i + 1]).to(device)
                                      for k in ("x", "x_hat", "pred") if k in data}
        if "seg" in data:
            b["seg"] = torch.from_numpy(data["seg"][i:i + 1].transpose(0, 3, 1, 2).copy())
        y = _filter(model, b, float(data["qp"][i]))
        key = f"{names[int(data['pipeline'][i])]}@{int(data['qp'][i])}"
        if "scale" in data and float(data["scale"][i]) != 1.0:
            key += f"x{float(data['scale'][i]):g}"
        if "source" in data and int(data["source"][i]):
            key = "photo:" + key
        rows.setdefault(key, []).append((psnr(b["x_hat"], b["x"]), psnr(y, b["x"])))
    per = {k: {"psnr_in": float(np.mean([a for a, _ in v])),
               "psnr_out": float(np.mean([b for _, b in v]))} for k, v in sorted(rows.items())}
    gains = [b - a for v in rows.values() for a, b in v]
    return {"gain_db": float(np.mean(gains)), "per_pipeline_qp": per}


def init_postnet(model: Any, path: str | Path) -> None:
    """``--init``: load the matching tensors; a head without x' (4 inputs) warm-started
    from one with x' (7 inputs) gets the x_hat and x' weights summed (x' ~ x_hat to first
    order, so it starts as the old filter fed x_hat for x') and the QP weights as they are.
    A deeper trunk than the init's (``--blocks``), or full-resolution blocks it lacks
    (``--refine``), get their residual blocks with the last convolution at zero: each
    starts as the identity, so the larger filter starts as the shipped one
    (function-preserving growth, as Net2Net's for depth)."""
    from safetensors.torch import load_file

    from app.nets.common import zero_init

    common.init_from_safetensors(model, path)
    state = load_file(str(path))
    for part in ("trunk", "refine"):
        for i, block in enumerate(getattr(model, part)):
            if f"{part}.{i}.c2.weight" not in state:
                zero_init(block.c2)
    src = state.get("head.weight")
    dst = model.head.weight
    if src is not None and src.shape[1] == 7 and dst.shape[1] == 4 and src.shape[0] == dst.shape[0]:
        w = src.float()
        with torch.no_grad():
            dst.copy_(torch.cat([w[:, 0:3] + w[:, 3:6], w[:, 6:7]], 1))
        print("head: x_hat and x' weights of the 7-input head summed", flush=True)


@dataclass
class PostnetData:
    """The training and validation pairs (cached in the pairs folder) and what the
    manifest says about them."""

    train: dict[str, np.ndarray]
    val: dict[str, np.ndarray] | None
    names: list[str]
    data_text: str
    val_text: str

    @classmethod
    def load(cls, args: argparse.Namespace, pairs_dir: Path, segment: bool) -> PostnetData:
        hevc_only = args.variant != "layered"
        names = (["hevc"] if hevc_only
                 else [n.strip() for n in str(args.pipelines).split(",") if n.strip()])
        q0, q1 = (int(v) for v in str(args.qp_range).split(","))
        rng = random.Random(args.seed)
        train_s = load_split(args.data, "train", args.limit)
        if not train_s:
            raise SystemExit(f"no training frames in {args.data}")
        photos = list_photos(args.extra_data, args.extra_limit, args.seed) if hevc_only else []
        scales = tuple(float(v) for v in str(args.scales).split(","))

        def draw(scale: float | None) -> tuple:
            return (rng.choice(names) if scale is None else names[0], rng.randint(q0, q1),
                    rng.choice(scales) if scale is None else scale,
                    rng.randrange(len(PERMS)) if rng.random() < args.perm_prob else 0,
                    (rng.random(), rng.random()))

        plan = [[draw(None) for _ in range(args.per_frame)] for _ in train_s]
        # photographs: already small (Imagenette's are 224 pixels), so one sample at scale 1
        plan += [[draw(1.0)] for _ in photos]
        train = load_or_prepare_once(pairs_dir / "pairs-train.npz", lambda: prepare_parallel(
            [*train_s, *photos], names, plan, "pairs train", args.workers, hevc_only))
        added = [load_cached(Path(d) / "pairs-train.npz") for d in args.add_pairs]
        own = len(train["x"])
        train = join_pairs([train, *added])
        if segment and "seg" not in train:
            raise SystemExit(f"{pairs_dir / 'pairs-train.npz'} has no segmentation maps")
        val_s = load_split(args.data, "val", args.limit)[:: max(1, 101 // args.val_frames)]
        val_s = val_s[: args.val_frames]
        val_photos = (list_photos(args.extra_val, args.extra_val_n, args.seed)
                      if hevc_only else [])
        vnames = names if hevc_only else ([n for n in ("edms", "edms-lb") if n in names]
                                          or names[:1])
        vscales = (1.0,) if hevc_only else VAL_SCALES
        vplan = [[(n, q, sc, 0, (0.5, 0.5)) for n in vnames for q in VAL_QPS
                  for sc in vscales] for _ in val_s]
        vplan += [[(n, q, 1.0, 0, (0.5, 0.5)) for n in vnames for q in VAL_QPS]
                  for _ in val_photos]
        val: dict[str, np.ndarray] | None
        if args.add_pairs:
            val = load_cached(Path(args.add_pairs[0]) / "pairs-val.npz")
        else:
            val = load_or_prepare_once(pairs_dir / "pairs-val.npz", lambda: prepare_parallel(
                [*val_s, *val_photos], names, vplan, "pairs val", args.workers, hevc_only)
            ) if vplan else None
        print(f"{len(train['x'])} training pairs, {len(val['x']) if val else 0} validation "
              "pairs", flush=True)
        # this process's pairs (all of them without torchrun)
        mine = distributed.shard(range(len(train["x"])))
        if len(mine) < len(train["x"]):
            train = {k: v[mine] for k, v in train.items()}
        if hevc_only:
            data_text = (f"{len(train_s)} frames of {Path(args.data).name} train x "
                         f"{args.per_frame} (frame resized by one of {list(scales)}) and "
                         f"{len(photos)} photographs of {_folder(args.extra_data)} x 1, "
                         f"coded by HEVC 4:4:4 at a QP uniform in {q0}..{q1}, colour channels "
                         f"permuted with probability {args.perm_prob}, a 176x176 crop of "
                         "each: " + ("(x_hat, SegNet(x_hat), QP) -> x" if segment
                                     else "(x_hat, QP) -> x"))
            if added:
                data_text = f"{own} pairs: {data_text}; " + "; ".join(
                    f"and {len(a['x'])} pairs of an earlier run (QP {a['qp'].min()}.."
                    f"{a['qp'].max()})" for a in added)
            val_text = (f"{len(val_s)} CamVid val frames and {len(val_photos)} photographs of"
                        f" {_folder(args.extra_val)} x HEVC QP {list(VAL_QPS)}, central "
                        "176x176 crops")
        else:
            data_text = (f"CamVid train, {len(train_s)} frames x {args.per_frame} (pipeline "
                         f"in {names}, QP uniform in {q0}..{q1}, frame resized by one of "
                         f"{list(scales)}, colour channels permuted with probability "
                         f"{args.perm_prob}), a 176x176 crop of each: (x_hat, x', QP) -> x")
            val_text = (f"CamVid val, {len(val_s)} frames x {vnames} x QP {list(VAL_QPS)} x "
                        f"scale {list(VAL_SCALES)}, central 176x176 crops")
        return cls(train, val, names, data_text, val_text)


def _trained_against(args: argparse.Namespace, names: list[str], segment: bool
                     ) -> tuple[dict[str, str], int]:
    """The model fingerprint of each pipeline whose reconstructions are learned from (and
    SegNet's for the segmentation-aware variant), and the steps of the ``--init`` weights."""
    from app.pipelines import registry

    init_steps = 0
    if args.init:
        man = Path(args.init).with_suffix(".json")
        if man.exists():
            init_steps = int(json.loads(man.read_text()).get("steps", 0))
    trained_against = {n: registry.get(n).model_fingerprint.hex() for n in names}
    if segment:
        from app.nets import zoo

        trained_against["segnet"] = zoo.fingerprint("segnet", args.config).hex()
    return trained_against, init_steps


@trainer("postnet", "decoder post-filter of the layered pipelines and of HEVC (extension)",
         add_args)
def run(args: argparse.Namespace) -> int:
    """``edms train postnet``: the skeleton (:mod:`app.train.common`) with the post-filter's
    model, its cached training pairs, the MSE loss and the PSNR gain as validation."""
    cfg = args.config
    iters, batch, crop, lr0 = common.schedule(args, DEFAULTS)
    env = common.setup(args)
    stem, variant, segment = VARIANTS[args.variant]
    if args.blocks:
        variant = {**variant, "blocks": int(args.blocks)}
    if args.refine:
        variant = {**variant, "refine": int(args.refine)}
    run_dir = Path(args.run_dir or f"runs/{stem}-{cfg}")
    data = PostnetData.load(args, Path(args.pairs_dir) if args.pairs_dir else run_dir, segment)
    trained_against, init_steps = _trained_against(args, data.names, segment)
    model = build_postnet(cfg, **variant).to(env.device)
    if args.init and not args.resume:
        init_postnet(model, args.init)
    opt = torch.optim.Adam(model.parameters(), lr=lr0)
    loop, net, brng = common.start(args, stem, iters, model, opt, seed=1234)

    def export(state: dict[str, torch.Tensor], metrics: dict[str, Any]) -> None:
        common.export_safetensors(state, loop.out_dir, f"{stem}-{cfg}", {
            "name": stem, "config_name": cfg, "config": {**CONFIGS[cfg], **variant},
            "steps": loop.step, "training_data": data.data_text,
            # the model fingerprint of each pipeline whose reconstructions were learned from
            "trained_against": trained_against, "loss": LOSS_TEXT[args.loss],
            "init": Path(args.init).name if args.init else None, "init_steps": init_steps,
            "validation": {"data": data.val_text, **metrics},
        })

    def validate() -> tuple[float, dict[str, Any]]:
        assert data.val is not None  # validate is only passed when there is a validation set
        model.eval()
        m = evaluate(model, data.val, data.names, env.device)
        model.train()
        print(f"\nstep {loop.step}: val gain {m['gain_db']:+.3f} dB  " + "  ".join(
            f"{k} {v['psnr_in']:.2f}->{v['psnr_out']:.2f}"
            for k, v in m["per_pipeline_qp"].items()), flush=True)
        return m["gain_db"], m

    def train_step(p: float) -> dict[str, float]:
        for g in opt.param_groups:
            g["lr"] = float(lr0 * 0.5 * (1 + np.cos(np.pi * p)))
        b = {k: t.to(env.device, non_blocking=True)
             for k, t in _batch(data.train, batch, crop, brng).items()}
        with env.autocast():
            out = _filter(model, b, b["qp"], net)
        mse = ((out.float() - b["x"]) ** 2).mean(dim=(1, 2, 3))
        loss = sample_loss(mse, args.loss)
        common.backward_step(loss, opt, model.parameters(), clip=None)
        return {"psnr": float(10 * np.log10(1.0 / max(mse.mean().item(), 1e-12)))}

    model.train()
    loop.run(train_step, validate if data.val is not None else None, export)
    return 0
