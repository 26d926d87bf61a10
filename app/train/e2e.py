"""Training the end-to-end codecs: ``hyperprior`` and ``menet``.

One model covers every rate (gain units, :mod:`app.nets.hyperprior`): each sample of a
batch draws a quality q and is weighted by its λ_q, loss per sample
``λ_q·255²·MSE + bpp`` (Ballé et al. 2018, Eq. 13, rate in bits per pixel), plus for
MENet the class-weighted cross-entropy of the decoded class map where labels exist (Eq. 2).
MENet's distortion is that of the enhanced image x̂_e plus a quarter of that of x̂ (our
addition: it keeps x̂ a usable image for ``menet-noenh``, the decode without the
enhancement module).

Data: CamVid train frames (with labels) and natural photographs from a folder of images
(``--images``, e.g. Imagenette train; searched recursively), random 128x128 crops with
flips; CamVid frames are randomly down-scaled first (0.5-1.0) so a crop holds more
than a patch of road, photographs by 0.6-1.0 (:data:`PHOTO_SCALE`: Imagenette's JPEGs
carry quality-75 blocking). MENet alternates a CamVid batch and a photo batch; the hyperprior
takes a CamVid batch one step in three. Validation (every ``--val-every`` steps) reports
bpp (from the likelihoods), PSNR and, for MENet, the mIoU of CamVid val frames, at three
qualities, on CamVid val frames and on ``--val-images`` photographs.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from app.classes import NUM_CLASSES, VOID
from app.nets import hyperprior as hp
from app.nets import menet as mn
from app.train import common, distributed
from app.train.data import SegDataset, class_weights, infinite_batches, load_split
from app.train.registry import trainer
from app.train.revive import rate_weights

DEFAULTS = {"lite": common.Schedule(iters=60000, batch=8, crop=128, lr=2e-4),
            "paper": common.Schedule(iters=2000000, batch=8, crop=256, lr=1e-4)}
VAL_QUALITIES = hp.VALIDATION_QUALITIES
#: the parameters --entropy-only trains (prefixes of the state-dict keys)
ENTROPY_MODEL = ("h_a.", "h_s.", "entropy_bottleneck.", "checkerboard.")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images", default=None,
                   help="folder of natural photographs (searched recursively), e.g. "
                   "Imagenette train")
    p.add_argument("--val-images", default=None, help="photographs validated on")
    p.add_argument("--images-limit", type=int, default=None, help="use at most N photographs")
    p.add_argument("--val-frames", type=int, default=8, help="CamVid val frames validated on")
    p.add_argument("--ce-weight", type=float, default=1.0, help="weight of the CE term (menet)")
    p.add_argument("--init", default=None,
                   help="start from these shipped .safetensors (a warm restart: fresh "
                   "optimiser and schedule)")
    p.add_argument("--widen", action="store_true",
                   help="with --init: weights of a narrower latent (fewer M channels) are "
                   "mapped into this config's, keeping the function (app.train.widen)")
    p.add_argument("--graft", default=None,
                   help="menet: start the compression branch from these trained hyperprior "
                   ".safetensors (same N and M; app.train.graft)")
    p.add_argument("--freeze-base", action="store_true",
                   help="menet: keep g_a, g_s and the y-parts of the shared hyperprior "
                   "tensors fixed (use with --graft: x̂ stays the hyperprior's)")
    p.add_argument("--reinit-gains", action="store_true",
                   help="with --init: reset the gain units to their λ-spread start")
    p.add_argument("--gain-lr-scale", type=float, default=10.0,
                   help="learning rate of the gain units relative to the rest")
    p.add_argument("--semantic-lr-scale", type=float, default=1.0,
                   help="menet: learning rate of the aggregation module, the semantic decoder "
                   "and the enhancement module relative to the rest")
    p.add_argument("--rate-emphasis", type=_at_least(0.0, float), default=0.0,
                   help="draw quality q (0-based) with weight 1 + E*q/(Q-1) instead of "
                   "uniformly: E > 0 spends more steps on the high rates, where the "
                   "transforms' capacity, not the bits, limits quality")
    p.add_argument("--camvid-every", type=_at_least(1, int), default=None,
                   help="a CamVid batch every K steps, photographs otherwise (default: 2 "
                   "for menet, whose CE term needs labels, 3 for the hyperprior)")
    p.add_argument("--revive", type=_fraction, default=None, metavar="FRACTION",
                   help="hyperprior, with --init: re-initialise the channels of y that are "
                   "non-zero in less than FRACTION of their elements at the top quality "
                   "(dead channels never come back by themselves; app.train.revive)")
    p.add_argument("--revive-ramp", type=_at_least(0, int), default=2000, metavar="STEPS",
                   help="with --revive: the revived channels' rate counts from 0 up to "
                   "fully over the first STEPS steps")
    p.add_argument("--warmup", type=_at_least(0, int), default=0, metavar="STEPS",
                   help="raise the learning rate linearly over the first STEPS steps of this "
                   "run (a warm restart's fresh Adam moves every weight by about the "
                   "learning rate per step at first)")
    p.add_argument("--entropy-only", action="store_true",
                   help="with --init: train only the entropy model (h_a, h_s, the factorized "
                   "prior and the checkerboard context), the transforms and gains frozen, on "
                   "the exact bits of the rounded latent: the decoded images stay the same "
                   "and only the rate falls (one process; app.nets.checkerboard)")
    p.add_argument("--export-now", action="store_true",
                   help="validate the checkpoint's weights and export them, without training "
                   "(the checkpoint is left as it is, so --resume continues the schedule)")
    common.add_schedule_args(p, val_every=1000)


def _at_least(low: float, cast: type) -> Any:
    """An argparse type: ``cast`` of the text, refused (a usage error) below ``low``."""
    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low:g}, got {text}")
        return value
    return parse


def _fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {text}")
    return value


def _revive_dead(model: torch.nn.Module, photos: list[np.ndarray], frames: list,
                 crop: int, threshold: float) -> torch.Tensor:
    """Find y's dead channels on 32 training crops (rank 0's: every rank revives the
    same channels) and re-initialise them (:mod:`app.train.revive`)."""
    from app.train.revive import active_fraction, dead_channels, revive_channels

    dead = None
    if distributed.is_main():
        if photos:
            batches = photo_batches(photos, 8, crop, seed=123)
            crops = [next(batches) for _ in range(4)]
        else:
            seg = infinite_batches(SegDataset(frames, crop=crop, scale=(0.5, 1.0)), 8, seed=123)
            crops = [next(seg)[0] for _ in range(4)]
        device = next(model.parameters()).device
        fraction = active_fraction(model, (c.to(device) for c in crops), len(hp.LAMBDAS) - 1)
        dead = dead_channels(fraction.cpu(), threshold).tolist()
    dead = distributed.broadcast_object(dead)
    revive_channels(model, torch.tensor(dead, dtype=torch.long), seed=0)
    return torch.tensor(dead, dtype=torch.long)


def latent_bits(model: Any, net: str, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """(B,) bits of each sample's rounded latent and hyper-latent with the transforms and
    gains fixed (``--entropy-only``; :func:`app.nets.hyperprior.code_latent`, exact)."""
    gain, _ = model.gains(q.float())
    with torch.no_grad():
        lat = (model.g_a(x)[0] if net == "hyperprior" else model.analyse(x)) * gain
    return hp.code_latent(model, lat, exact=True)[1].per_sample_bits()


def _photo_paths(folder: str | None, limit: int | None, seed: int = 0) -> list[Path]:
    if not folder:
        return []
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    if limit:
        random.Random(seed).shuffle(paths)
        paths = sorted(paths[:limit])
    return paths


def _load_photos(folder: str | None, limit: int | None, seed: int = 0) -> list[np.ndarray]:
    return _read_photos(_photo_paths(folder, limit, seed))


def _read_photos(paths: list[Path]) -> list[np.ndarray]:
    from PIL import Image

    out = []
    for p in paths:
        with Image.open(p) as im:
            out.append(np.asarray(im.convert("RGB"), dtype=np.uint8).copy())
    return out


PHOTO_SCALE = (0.6, 1.0)
"""Random down-scale of the photographs before cropping. Imagenette's JPEGs are quality 75
(luma DC step 8): at full size the high rates would learn to reproduce 8x8 blocking and
never see fine detail; an antialiased down-scale shrinks the artefacts and packs more
detail into a crop."""


def photo_batches(photos: list[np.ndarray], batch: int, crop: int, seed: int,
                  scale: tuple[float, float] = PHOTO_SCALE):
    """Endless batches of random crops (with flips) of the photographs, float in [0, 1].

    Each photograph is first down-scaled by a random factor in ``scale`` (never below the
    crop), with PIL's antialiasing Lanczos filter.
    """
    from PIL import Image

    rng = random.Random(seed)
    while True:
        items = []
        for _ in range(batch):
            im = photos[rng.randrange(len(photos))]
            h, w = im.shape[:2]
            f = max(rng.uniform(*scale), crop / min(h, w))
            if f < 1.0:
                size = (max(crop, round(w * f)), max(crop, round(h * f)))
                im = np.asarray(Image.fromarray(im).resize(size, Image.Resampling.LANCZOS))
                h, w = im.shape[:2]
            if h < crop or w < crop:
                im = np.pad(im, ((0, max(0, crop - h)), (0, max(0, crop - w)), (0, 0)),
                            mode="edge")
                h, w = im.shape[:2]
            y, x = rng.randint(0, h - crop), rng.randint(0, w - crop)
            c = im[y:y + crop, x:x + crop]
            if rng.random() < 0.5:
                c = c[:, ::-1]
            items.append(torch.from_numpy(np.ascontiguousarray(c)).permute(2, 0, 1))
        yield torch.stack(items).float().div_(255.0)


def quality_weights(qualities: int, emphasis: float) -> list[float]:
    """Relative frequency of each (0-based) quality in training: 1 + E·q/(Q−1).

    E = 0 draws the qualities uniformly (Cui et al. 2021 sample λ uniformly). E > 0 gives
    the high rates more steps: with a fixed width the transforms, not the bits, cap the
    quality there (see benchmarks/e2e_ceiling.py), and only the high-λ samples push the
    synthesis toward fine detail."""
    if emphasis < 0:
        raise ValueError("the rate emphasis must be >= 0")
    return [1 + emphasis * q / max(1, qualities - 1) for q in range(qualities)]


def build(net: str, cfg: str) -> Any:
    if net == "hyperprior":
        return hp.ScaleHyperprior(**hp.CONFIGS[cfg])
    return mn.MENet.from_config(mn.CONFIGS[cfg])


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    return hp.pad_to(x, multiple)


@torch.no_grad()
def evaluate(model: torch.nn.Module, net: str, frames: list, photos: list[np.ndarray],
             device: torch.device) -> dict[str, Any]:
    """Rounded latents; bpp from the likelihoods; PSNR of x̂ (and x̂_e); mIoU (menet)."""
    from app.metrics import miou

    out: dict[str, Any] = {}
    lam = torch.tensor(hp.LAMBDAS)
    losses = []
    sets = [("camvid", [(s.image, s.label) for s in frames]),
            ("photos", [(p, None) for p in photos])]
    for q in VAL_QUALITIES:
        row: dict[str, Any] = {}
        for set_name, items in sets:
            if not items:
                continue
            bpps, psnrs, psnrs_e, preds, gts = [], [], [], [], []
            for img, lab in items:
                x = torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255).to(device)
                h, w = x.shape[-2:]
                o = model(_pad(x, hp.MULTIPLE), torch.tensor([float(q)], device=device))
                bits = float(o["likelihoods"].bits())
                bpps.append(bits / (h * w))
                xh = o["x_hat"][..., :h, :w].clamp(0, 1)
                mse = float(F.mse_loss(xh, x))
                psnrs.append(10 * np.log10(1 / max(mse, 1e-12)))
                if "x_enh" in o:
                    xe = o["x_enh"][..., :h, :w].clamp(0, 1)
                    mse = float(F.mse_loss(xe, x))
                    psnrs_e.append(10 * np.log10(1 / max(mse, 1e-12)))
                    if lab is not None:
                        preds.append(o["seg"][0, :, :h, :w].argmax(0).cpu().numpy())
                        gts.append(lab)
                losses.append(float(lam[q]) * 255 ** 2 * mse + bits / (h * w))
            r = {"bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs))}
            if psnrs_e:
                r["psnr_enh"] = float(np.mean(psnrs_e))
            if preds:
                r["miou"] = miou(np.concatenate([p.ravel() for p in preds]),
                                 np.concatenate([g.ravel() for g in gts]), NUM_CLASSES,
                                 ignore_index=VOID)[0]
            row[set_name] = r
        out[f"quality{q + 1}"] = row  # the user-facing quality, 1-based
    out["rd_loss"] = float(np.mean(losses))
    return out


def _on_this_ladder(path: str | Path) -> dict[str, torch.Tensor]:
    """Weights for ``--init`` / ``--graft``, their gain units mapped onto this build's λ
    ladder (:data:`app.nets.hyperprior.LAMBDAS`) when they were trained on another: the
    manifest beside them names theirs (:func:`app.train.widen.extend_qualities`)."""
    import json

    from app.train.widen import extend_qualities

    state = load_file(str(path))
    gains = state.get("gains.gain")
    if gains is None or gains.shape[0] == len(hp.LAMBDAS):
        return state
    manifest = Path(path).with_suffix(".json")
    lambdas = json.loads(manifest.read_text()).get("lambdas") if manifest.exists() else None
    if not lambdas or len(lambdas) != gains.shape[0]:
        raise SystemExit(f"{path}: {gains.shape[0]} gain-unit rows, and no manifest beside "
                         "it that gives their λ")
    print(f"{path}: gain units mapped from {len(lambdas)} λ ({lambdas[0]}..{lambdas[-1]}) "
          f"to {len(hp.LAMBDAS)} ({hp.LAMBDAS[0]}..{hp.LAMBDAS[-1]})", flush=True)
    return extend_qualities(state, lambdas, hp.LAMBDAS)


def _check_options(args: argparse.Namespace) -> None:
    """Refuse option combinations that cannot work, before anything is loaded."""
    if args.entropy_only:
        if not args.init and not args.resume:
            raise SystemExit("--entropy-only needs --init (the transforms it keeps)")
        if distributed.env_world_size() > 1:  # before the process group is joined
            raise SystemExit("--entropy-only runs in one process (no torchrun)")
        if args.revive is not None or args.freeze_base or args.widen:
            raise SystemExit("--entropy-only: not with --revive, --widen or --freeze-base")
    if (args.graft or args.freeze_base) and args.net != "menet":
        raise SystemExit("--graft and --freeze-base: only for menet")
    if args.revive is not None:
        if args.net != "hyperprior":
            raise SystemExit("--revive: only for the hyperprior (MENet grafts its image path)")
        if not args.init and not args.resume:
            raise SystemExit("--revive needs --init (the trained weights whose channels died)")


@dataclass
class E2EData:
    """The training and validation images of one process (its shard under torchrun)."""

    frames: list
    photos: list[np.ndarray]
    val_frames: list
    val_photos: list[np.ndarray]
    n_frames: int  # before sharding, for the manifest
    n_photos: int
    class_weights: torch.Tensor | None  # MENet's CE weights, over all the frames

    @classmethod
    def load(cls, args: argparse.Namespace) -> E2EData:
        frames = load_split(args.data, "train", args.limit)
        photo_paths = _photo_paths(args.images, args.images_limit)
        if not frames and not photo_paths:
            raise SystemExit("no training images")
        val_frames = load_split(args.data, "val", None)
        val_frames = val_frames[:: max(1, len(val_frames) // max(1, args.val_frames))]
        data = cls(distributed.shard(frames) if frames else [],
                   _read_photos(distributed.shard(photo_paths) if photo_paths else []),
                   val_frames[: args.val_frames],
                   _load_photos(args.val_images, 8, seed=1) if args.val_images else [],
                   len(frames), len(photo_paths),
                   class_weights(frames) if args.net == "menet" and frames else None)
        print(f"{args.net}-{args.config}: {data.n_frames} CamVid frames, {data.n_photos} "
              f"photographs; validation {len(data.val_frames)} frames, "
              f"{len(data.val_photos)} photographs", flush=True)
        return data


def _start_weights(model: Any, args: argparse.Namespace, data: E2EData, crop: int
                   ) -> torch.Tensor:
    """--init (with --widen, --reinit-gains), --revive, --graft, --freeze-base and
    --entropy-only applied to a fresh model; returns the revived channels of y."""
    if args.init and not args.resume:
        state = _on_this_ladder(args.init)
        if args.widen:
            from app.train.widen import widen_state

            names = widen_state(model, state)
            print(f"widened the latent to {model.M} channels from {args.init} "
                  f"({len(names)} tensors grew)", flush=True)
        else:
            common.init_from_safetensors(model, args.init, state)
        if args.reinit_gains:
            model.gains.spread(hp.LAMBDAS)
    revived = torch.zeros(0, dtype=torch.long)
    if args.revive is not None and not args.resume:
        revived = _revive_dead(model, data.photos, data.frames, crop, args.revive)
        print(f"revived {len(revived)} of {model.M} channels of y (non-zero in less than "
              f"{args.revive:g} of their elements at the top quality); their rate counts "
              f"from 0 to fully over {args.revive_ramp} steps", flush=True)
    if args.graft and not args.resume:
        from app.train.graft import graft_hyperprior

        names = graft_hyperprior(model, _on_this_ladder(args.graft))
        print(f"grafted {len(names)} tensors of the compression branch from {args.graft}",
              flush=True)
    if args.freeze_base:
        from app.train.graft import freeze_base

        freeze_base(model)
    if args.entropy_only:
        for n, p in model.named_parameters():
            p.requires_grad_(n.startswith(ENTROPY_MODEL))
    return revived


def _optimiser(model: torch.nn.Module, args: argparse.Namespace, lr0: float
               ) -> torch.optim.Adam:
    """Adam over the trainable parameters in three groups: the gain units learn
    ``--gain-lr-scale`` times faster (their scale is what separates the rates), MENet's
    semantic side ``--semantic-lr-scale`` times."""
    semantic = ("aggregation.", "seg_decoder.", "enhance.")
    groups: dict[str, list[torch.nn.Parameter]] = {"others": [], "gains": [], "semantic": []}
    for n, p in model.named_parameters():
        if p.requires_grad:
            kind = ("gains" if n.startswith("gains.") else
                    "semantic" if n.startswith(semantic) else "others")
            groups[kind].append(p)
    scales = {"gains": args.gain_lr_scale, "semantic": args.semantic_lr_scale, "others": 1.0}
    return torch.optim.Adam([{"params": ps, "lr_scale": scales[k]}
                             for k, ps in groups.items() if ps], lr=lr0)


@dataclass
class E2ETraining:
    """The end-to-end codecs' part of the trainer skeleton (:class:`TrainLoop` does the
    rest): the batches, one training step (rate-distortion loss, Ballé et al. 2018 Eq. 13,
    plus MENet's CE), the entropy-only step, the validation and the export's manifest."""

    args: argparse.Namespace
    env: common.Setup
    model: Any
    opt: torch.optim.Optimizer
    loop: common.TrainLoop
    data: E2EData
    batch: int
    crop: int
    lr0: float
    revived: torch.Tensor
    weights: torch.Tensor | None = None  # MENet's class weights of the CE term
    first_step: int = 0  # --warmup counts from here (a resumed run warms up again)

    def __post_init__(self) -> None:
        a, d, seed = self.args, self.data, self.loop.step + self.loop.seed_offset + self.env.seed
        self.net = a.net
        self.first_step = self.loop.step
        self.model_fwd = self.loop.wrap(self.model)  # the training step's forward pass
        torch.manual_seed(4321 + seed)
        self.seg_iter = common.batches(lambda i: infinite_batches(
            SegDataset(d.frames, crop=self.crop, scale=(0.5, 1.0)), self.batch,
            seed=7 + seed + 1000 * i), self.env) if d.frames else None
        self.photo_iter = common.batches(lambda i: photo_batches(
            d.photos, self.batch, self.crop, seed=11 + seed + 1000 * i),
            self.env) if d.photos else None
        self.lambdas = torch.tensor(hp.LAMBDAS, device=self.env.device)
        self.qrng = random.Random(99 + seed)
        self.n_q = len(hp.LAMBDAS)
        self.q_weights = quality_weights(self.n_q, a.rate_emphasis)
        self.camvid_every = a.camvid_every or (2 if self.net == "menet" else 3)
        self.ramp = int(self.loop.extra["revive_ramp"])

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        use_seg = self.seg_iter is not None and (
            self.photo_iter is None or self.loop.step % self.camvid_every == 0)
        if use_seg:
            assert self.seg_iter is not None
            return next(self.seg_iter)
        assert self.photo_iter is not None
        return next(self.photo_iter), None

    def train_step(self, p: float) -> dict[str, float]:
        a, dev = self.args, self.env.device
        lr = 1e-5 + (self.lr0 - 1e-5) * 0.5 * (1 + np.cos(np.pi * p))
        if self.loop.step - self.first_step < a.warmup:
            lr *= (self.loop.step - self.first_step + 1) / a.warmup
        for g in self.opt.param_groups:
            g["lr"] = float(lr * g["lr_scale"])
        x, lab = self.next_batch()
        q = torch.tensor(self.qrng.choices(range(self.n_q), self.q_weights, k=x.shape[0]),
                         device=dev)
        if a.entropy_only:
            return self.entropy_step(x, q)
        with self.env.autocast():
            o = self.model_fwd(x, q.float())
        lik = o["likelihoods"]  # float32: the coding step runs outside autocast
        npix = x.shape[-2] * x.shape[-1]
        bpp = lik.per_sample_bits() / npix
        rate = bpp
        if len(self.revived) and self.loop.step < self.ramp:
            w = rate_weights(lik.y.shape[1], self.revived, self.loop.step, self.ramp)
            rate = lik.per_sample_bits(w.to(dev)) / npix
        mse = (o["x_hat"].float() - x).pow(2).flatten(1).mean(1)
        if self.net == "menet":
            mse = (o["x_enh"].float() - x).pow(2).flatten(1).mean(1) + 0.25 * mse
        loss = (self.lambdas[q] * 255 ** 2 * mse + rate).mean()
        logs = {"bpp": float(bpp.detach().mean())}
        if self.net == "menet" and lab is not None:
            ce = F.cross_entropy(o["seg"].float(), lab, weight=self.weights, ignore_index=VOID)
            loss = loss + a.ce_weight * ce
            logs["ce"] = float(ce.detach())
        common.backward_step(loss, self.opt, self.model.parameters())
        logs["loss"] = float(loss.detach())
        return logs

    def entropy_step(self, x: torch.Tensor, q: torch.Tensor) -> dict[str, float]:
        """``--entropy-only``: the mean log bpp of the rounded latent (relative savings
        count alike at every rate, as in a BD-rate), the transforms frozen."""
        # the frozen transforms run as at inference (MENet's aggregation module has batch
        # norm and dropout: in training mode they would move its running statistics)
        self.model.eval()
        for name in ENTROPY_MODEL:
            getattr(self.model, name.rstrip(".")).train()
        with self.env.autocast():
            bpp = latent_bits(self.model, self.net, x, q) / (x.shape[-2] * x.shape[-1])
        loss = torch.log(bpp.float().clamp_min(1e-4)).mean()
        common.backward_step(loss, self.opt, self.model.parameters())
        return {"bpp": float(bpp.detach().mean()), "loss": float(loss.detach())}

    def validate(self) -> tuple[float, dict[str, Any]]:
        self.model.eval()
        m = evaluate(self.model, self.net, self.data.val_frames, self.data.val_photos,
                     self.env.device)
        self.model.train()
        print(f"\nstep {self.loop.step}: rd_loss {m['rd_loss']:.4f} " + " ".join(
            f"{q}:" + ",".join(f"{k}={v['bpp']:.3f}/{v['psnr']:.2f}"
                               + (f"/{v['psnr_enh']:.2f}" if "psnr_enh" in v else "")
                               + (f"/miou {v['miou']:.3f}" if "miou" in v else "")
                               for k, v in row.items())
            for q, row in m.items() if q.startswith("quality")), flush=True)
        return -m["rd_loss"], m

    def export(self, state: dict[str, torch.Tensor], metrics: dict[str, Any]) -> None:
        a, d, net, cfg = self.args, self.data, self.net, self.args.config
        conf = (hp.CONFIGS if net == "hyperprior" else mn.CONFIGS)[cfg]
        n_q = self.n_q
        q_drawn = ("q uniform over the lambdas" if not a.rate_emphasis else
                   f"q drawn with weight 1 + {a.rate_emphasis:g}*q/{n_q - 1} (q = 0..{n_q - 1})")
        common.export_safetensors(state, self.loop.out_dir, f"{net}-{cfg}", {
            "name": net, "config_name": cfg, "config": conf, "steps": self.loop.step,
            "lambdas": list(hp.LAMBDAS),
            "init": (f"{Path(a.init).name} (gain units reset: {bool(a.reinit_gains)}"
                     f", latent widened: {bool(a.widen)})" if a.init else None),
            "graft": Path(a.graft).name if a.graft else None,
            "revived": (f"{len(self.revived)} dead channels of y re-initialised "
                        f"(app.train.revive), their rate ramped in over {self.ramp} steps"
                        if len(self.revived) else None),
            "frozen": ("g_a, g_s and the y-parts of h_a.0, h_s.4 and the gain units"
                       if a.freeze_base else
                       "everything but the entropy model (" + ", ".join(ENTROPY_MODEL) + ")"
                       if a.entropy_only else None),
            "training_data": f"CamVid train ({d.n_frames} frames, random 0.5-1.0 down-scale)"
            f" and {d.n_photos} photographs from a natural-image folder (Imagenette train, "
            f"random {PHOTO_SCALE[0]}-{PHOTO_SCALE[1]} down-scale), "
            f"{self.crop}x{self.crop} crops, batch {self.batch}"
            + (f" per process x {distributed.world_size()} processes"
               if distributed.world_size() > 1 else "")
            + f"; a CamVid batch every {self.camvid_every} steps",
            "loss": f"mean log bpp of the rounded latent only (transforms frozen), {q_drawn}"
            if a.entropy_only else f"lambda_q*255^2*MSE + bpp per sample, {q_drawn}"
            + (" (MSE of x_enh + 0.25 MSE of x_hat) + class-weighted CE on CamVid batches"
               if net == "menet" else ""),
            "validation": {"data": f"CamVid val ({len(d.val_frames)} frames) and "
                           f"{len(d.val_photos)} Imagenette val photographs; bpp from "
                           "likelihoods", **metrics},
        })

    def export_now(self) -> int:
        """``--export-now``: validate the checkpoint's weights and export them."""
        if self.loop.step == 0:
            raise SystemExit(f"--export-now: no checkpoint in {self.loop.run_dir} "
                             "(use --resume)")
        score, metrics = self.validate()
        self.export({k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                    metrics)
        print(f"exported step {self.loop.step} (validation score {score:.4f}) to "
              f"{self.loop.out_dir}")
        return 0


@trainer("hyperprior", "scale-hyperprior codec with gain units (Ballé et al. 2018)", add_args)
@trainer("menet", "MENet: one bitstream -> image + segmentation (Chen et al. 2021)", add_args)
def run(args: argparse.Namespace) -> int:
    """``edms train hyperprior|menet``: the skeleton (:mod:`app.train.common`) with the
    end-to-end codecs' model, data, loss and validation (:class:`E2ETraining`)."""
    iters, batch, crop, lr0 = common.schedule(args, DEFAULTS)
    _check_options(args)
    env = common.setup(args)
    data = E2EData.load(args)
    model = build(args.net, args.config).to(env.device)
    revived = _start_weights(model, args, data, crop)
    opt = _optimiser(model, args, lr0)
    loop = common.TrainLoop(args, args.net, iters, {"model": model, "opt": opt},
                            extra={"revived": revived.tolist(), "revive_ramp": args.revive_ramp})
    ck = loop.resume()
    if ck is not None and ck.get("revived"):  # the ramp goes on where it stopped
        revived = torch.tensor(ck["revived"], dtype=torch.long)
        loop.extra.update(revived=revived.tolist(), revive_ramp=int(ck["revive_ramp"]))
    weights = data.class_weights.to(env.device) if data.class_weights is not None else None
    job = E2ETraining(args, env, model, opt, loop, data, batch, crop, lr0, revived, weights)
    if args.export_now:
        return job.export_now()
    model.train()
    loop.run(job.train_step, job.validate, job.export)
    return 0
