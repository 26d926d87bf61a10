"""Training of SMIC's SS-Net and Rec-Net (Wei et al., §2.1-2.3, §3.1) as conditional GANs.

``edms train ssnet``: SS-Net generator G and PatchGAN D1 (Table 1). Generator loss
``L_adv^G + lambda * L1(softmax(G(x)), onehot(s)) + CE`` (eq. 4 plus a class-weighted
cross-entropy term, ENet weights, void ignored: L1 on softmax maps alone learns far too
slowly for a ~30 CPU-minute budget). D1 sees ``[x, onehot(s)]`` (real) and
``[x, softmax(G(x))]`` (fake), void pixels zeroed in both. The non-saturating form
``-log D(G(x), x)`` is used for the generator, as §2.3 says. Validation: mIoU on the val
frames (as for SegNet); the best is exported to ``<out>/ssnet-<config>.*``.

``edms train recnet``: Rec-Net generator and D2. Each sample draws a sampling factor
from {2, 4, 8, 16} and an HEVC QP from ``--qp-range``; the crop is down-sampled (area
average, as the pipeline does), coded and decoded by the real HEVC codec (x265 via
pillow-heif, :func:`app.codecs.hevc`) and bicubically up-sampled; the semantic map input is
the exported SS-Net's prediction on the original frame (or the ground truth with
``--map gt``). Generator loss ``L_adv^G + lambda * L1`` with lambda = 100 (§3.1). **No VGG
loss** (eq. 5): pretrained VGG-19 weights cannot be fetched here. Validation on the val
frames (factor 4 and 8, QP 32): PSNR and HaarPSI of Rec-Net's output against plain
bicubic up-sampling of the same decoded image; the best by PSNR gain is exported to
``<out>/recnet-<config>.*``.

Optimiser: Adam (beta1 0.5 as in pix2pix; §3.1 says "momentum 0.9" without saying which
moment), lr constant for the first half of the schedule, then linear decay to 0; schedule
progress p = max(step / ``--iters``, share of ``--minutes`` used).
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from app.classes import VOID
from app.nets.smic import (
    FACTORS,
    RECNET_CONFIGS,
    SSNET_CONFIGS,
    build_d1,
    build_d2,
    build_recnet,
    build_ssnet,
    one_hot,
)
from app.train import common, distributed
from app.train.data import SegDataset, class_weights, infinite_batches, load_split
from app.train.registry import trainer

LAMBDA = 100.0
SS_DEFAULTS = {"lite": common.Schedule(iters=3000, batch=4, crop=192, lr=1e-3),
               "paper": common.Schedule(iters=40000, batch=1, crop=256, lr=2e-4)}
REC_DEFAULTS = {"lite": common.Schedule(iters=4000, batch=4, crop=128, lr=5e-4),
                "paper": common.Schedule(iters=80000, batch=1, crop=256, lr=2e-4)}


def add_ssnet_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--l1-weight", type=float, default=LAMBDA, help="lambda of the L1 term")
    p.add_argument("--ce-weight", type=float, default=1.0,
                   help="class-weighted cross-entropy weight (0 = paper's eq. 4 only)")
    p.add_argument("--adv-weight", type=float, default=1.0)
    p.add_argument("--adv-start", type=float, default=0.0,
                   help="schedule progress (0..1) before which the adversarial term is off")
    common.add_schedule_args(p, val_every=250)


def add_recnet_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--l1-weight", type=float, default=LAMBDA, help="lambda of the L1 term")
    p.add_argument("--adv-weight", type=float, default=1.0)
    p.add_argument("--qp-range", default="0,45", help="min,max HEVC QP drawn per sample")
    p.add_argument("--map", choices=("ssnet", "segnet", "gt"), default="ssnet",
                   help="semantic map input: exported SS-Net / SegNet prediction, or GT")
    p.add_argument("--models", default="models", help="where ssnet/segnet weights are read")
    common.add_schedule_args(p, val_every=250)


def _lr_at(p: float, base: float) -> float:
    return base if p < 0.5 else base * max(0.0, 2 * (1 - p))


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


class _Unit(torch.nn.Module):
    """SS-Net on [0, 1] input (what :func:`app.train.segnet.evaluate` feeds)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


@torch.no_grad()
def precise_bn(model: torch.nn.Module, batches, n: int = 25) -> None:
    """Recompute every BatchNorm's running statistics as the plain average over ``n``
    training batches ("precise BN", Wu & Johnson 2021).

    With lr ~1e-3 the weights move faster than the momentum-0.1 running averages follow;
    SS-Net weights from step 300 of a first run gave 26 % pixel accuracy in eval mode on 6
    val frames, and 52 % after this recomputation. Called before every validation, so the
    exported weights carry statistics that match them. ``batches()`` yields the inputs
    of ``model`` (a tuple of tensors).
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if not bns:
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    was_training = model.training
    model.train()
    for _ in range(n):
        model(*batches())
    for m, mom in zip(bns, saved, strict=True):
        m.momentum = mom
    model.train(was_training)


def _training_data(args: argparse.Namespace, n: int) -> str:
    return "CamVid train, 367 frames" if n == 367 else f"{args.data} train, {n} frames"


def _frames(args: argparse.Namespace) -> tuple[list, list, list]:
    """(this process's training frames, the val frames, all the training frames)."""
    print(f"loading {args.data} ...", flush=True)
    train = load_split(args.data, "train", args.limit)
    val = load_split(args.data, "val", args.limit)
    if not train:
        raise SystemExit(f"no training frames in {args.data}")
    return distributed.shard(train), val, train


def _gan_steps(loss_g: torch.Tensor, opt_g: torch.optim.Optimizer,
               loss_d: Callable[[], torch.Tensor], opt_d: torch.optim.Optimizer
               ) -> torch.Tensor:
    """The generator's step on ``loss_g``, then the discriminator's on ``loss_d()``
    (computed after the generator's update); returns the discriminator's loss."""
    common.backward_step(loss_g, opt_g, None, clip=None)
    l_d = loss_d()
    common.backward_step(l_d, opt_d, None, clip=None)
    return l_d


def _ssnet_manifest(args: argparse.Namespace, params: int, n_train: int, n_val: int,
                    steps: int, metrics: dict[str, Any]) -> dict[str, Any]:
    return {"name": "ssnet", "config_name": args.config, "config": SSNET_CONFIGS[args.config],
            "params": params, "training_data": _training_data(args, n_train),
            "steps": steps, "validation": {"data": f"val, {n_val} frames", **metrics},
            "loss": f"cGAN (D1, non-saturating BCE) x{args.adv_weight} (from schedule "
                    f"progress {args.adv_start}) + "
                    f"{args.l1_weight} * L1(softmax, one-hot) + {args.ce_weight} * "
                    "class-weighted CE (ENet weights); void ignored",
            "input": "RGB in [-1, 1]"}


class _CGanStart(NamedTuple):
    loop: common.TrainLoop
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    gen_fwd: torch.nn.Module  # the forward passes of the training step (TrainLoop.wrap)
    disc_fwd: torch.nn.Module
    seed: int


def _start_cgan(args: argparse.Namespace, name: str, iters: int, gen: torch.nn.Module,
                disc: torch.nn.Module, lrs: tuple[float, float], seed: int) -> _CGanStart:
    """The start SS-Net and Rec-Net share: Adam (betas 0.5, 0.999) for the generator and
    its discriminator at ``lrs``, their :class:`~app.train.common.TrainLoop` resumed with
    ``--resume``, and Python's and torch's generators seeded with ``seed`` plus the step
    resumed at and the rank's offset (the seed used is returned)."""
    opt_g = torch.optim.Adam(gen.parameters(), lr=lrs[0], betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=lrs[1], betas=(0.5, 0.999))
    loop = common.TrainLoop(args, name, iters,
                            {"gen": gen, "disc": disc, "opt_g": opt_g, "opt_d": opt_d},
                            {"config_name": args.config})
    loop.resume()
    gen_fwd, disc_fwd = loop.wrap(gen), loop.wrap(disc)
    seed += loop.step + loop.seed_offset
    random.seed(seed)
    torch.manual_seed(seed)
    return _CGanStart(loop, opt_g, opt_d, gen_fwd, disc_fwd, seed)


@trainer("ssnet", "SMIC SS-Net segmentation generator + D1 (cGAN)", add_ssnet_args)
def run_ssnet(args: argparse.Namespace) -> int:
    """``edms train ssnet``: the skeleton (:mod:`app.train.common`) with SS-Net and D1,
    the cGAN + L1 + CE loss and mIoU validation."""
    from app.train.segnet import evaluate

    cfg_name = args.config
    iters, batch, crop, base_lr = common.schedule(args, SS_DEFAULTS)
    env = common.setup(args)
    device = env.device
    train, val, every_frame = _frames(args)
    weights = class_weights(every_frame).to(device)
    n_train = len(every_frame)
    gen = build_ssnet(cfg_name).to(device)
    disc = build_d1(cfg_name).to(device)
    loop, opt_g, opt_d, gen_fwd, disc_fwd, seed = _start_cgan(
        args, "ssnet", iters, gen, disc, (base_lr, base_lr / 5), 2468 + env.seed)
    ng = sum(p.numel() for p in gen.parameters())
    print(f"SS-Net-{cfg_name}: G {ng / 1e6:.2f} M params, D1 "
          f"{sum(p.numel() for p in disc.parameters()) / 1e6:.2f} M; {iters} iters, batch "
          f"{batch}, crop {crop}, lr {base_lr}, threads {torch.get_num_threads()}", flush=True)
    loader = common.batches(lambda i: infinite_batches(SegDataset(train, crop=crop, train=True),
                                                       batch, seed + 1000 * i), env)

    def export(state: dict[str, torch.Tensor], m: dict[str, Any]) -> None:
        common.export_safetensors(state, loop.out_dir, f"ssnet-{cfg_name}",
                                  _ssnet_manifest(args, ng, n_train, len(val), loop.step, m))

    def validate() -> tuple[float, dict[str, Any]]:
        precise_bn(gen, lambda: (next(loader)[0] * 2 - 1,))
        m = evaluate(_Unit(gen), val, device)
        print(f"\nstep {loop.step}: val mIoU {m['miou']:.4f} acc {m['pixel_acc']:.4f} "
              f"{m['per_class_iou']}", flush=True)
        return m["miou"], m

    def train_step(p: float) -> dict[str, float]:
        lr = _lr_at(p, base_lr)
        for o, scale in ((opt_g, 1.0), (opt_d, 0.2)):
            for g in o.param_groups:
                g["lr"] = lr * scale
        img, lab = next(loader)
        x = img * 2 - 1
        keep = (lab != VOID).unsqueeze(1).float()
        real_map = one_hot(lab)
        with env.autocast():
            logits = gen_fwd(x).float()
            fake_map = logits.softmax(1) * keep
            adv = _bce(disc_fwd(x, fake_map).float(), True)
        l1 = args.l1_weight * ((fake_map - real_map).abs() * keep).mean()
        ce = F.cross_entropy(logits, lab, weight=weights, ignore_index=VOID)
        aw = args.adv_weight if p >= args.adv_start else 0.0

        def loss_d() -> torch.Tensor:
            with env.autocast():
                return (_bce(disc_fwd(x, real_map).float(), True)
                        + _bce(disc_fwd(x, fake_map.detach()).float(), False))

        l_d = _gan_steps(aw * adv + l1 + args.ce_weight * ce, opt_g, loss_d, opt_d)
        return {"l1": l1.item(), "ce": ce.item(), "adv": adv.item(), "d": l_d.item()}

    gen.train()
    disc.train()
    loop.run(train_step, validate if val else None, export)
    return 0


# --------------------------------------------------------------------------- Rec-Net
def _u8(t: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [-1, 1] -> HxWx3 uint8 (the pipeline's rounding)."""
    v = torch.round(t.clamp(-1, 1) * 127.5 + 127.5).to(torch.uint8)
    return np.ascontiguousarray(v.permute(1, 2, 0).numpy())


def _to_pm1(u8: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(u8.transpose(2, 0, 1))).float()[None] / 127.5 - 1


def coded_sampled(image_u8: np.ndarray, factor: int, qp: int) -> np.ndarray:
    """Layer 2 as the decoder sees it: area down-sampling, HEVC 4:4:4 at ``qp``, decoded."""
    from app.codecs import decode_layer, hevc
    from app.codecs.hevc import CODEC_ID_HEVC
    from app.nets.smic import downsample

    return decode_layer(CODEC_ID_HEVC, hevc(qp, chroma=444).encode(downsample(image_u8, factor)))


def _predict_maps(samples: list, source: str, models: str, config: str) -> list:
    """Replace the labels by the exported network's prediction (``source`` ssnet/segnet)."""
    from app.nets import zoo
    from app.train.data import Sample

    net, man = zoo.load_model(source, config, "cpu", Path(models))
    out = []
    with torch.inference_mode():
        for s in samples:
            x = torch.from_numpy(s.image).permute(2, 0, 1).float()[None] / 255.0
            x = x * 2 - 1 if source == "ssnet" else x
            pred = net(x).argmax(1)[0].to(torch.uint8).numpy()
            out.append(Sample(s.image, pred, s.name))
    print(f"semantic maps from {source}-{config} (sha256 {man['sha256'][:12]}...)", flush=True)
    return out


VAL_SETTINGS = ((4, 32), (8, 32))


def prepare_val(samples: list) -> list[tuple[Any, int, np.ndarray]]:
    """(sample, factor, decoded sampled image) for every val frame and setting."""
    return [(s, f, coded_sampled(s.image, f, qp)) for s in samples for f, qp in VAL_SETTINGS]


@torch.no_grad()
def evaluate_recnet(model: torch.nn.Module, prepared: list, device: torch.device
                    ) -> dict[str, Any]:
    """Mean PSNR / HaarPSI of Rec-Net vs bicubic up-sampling of the same decoded image."""
    from app import metrics
    from app.nets.smic import upsample

    model.eval()
    res: dict[tuple[int, str], list[float]] = {}
    for s, f, small in prepared:
        h, w = s.image.shape[:2]
        up = upsample(_to_pm1(small), f, h, w).to(device)
        seg = one_hot(torch.from_numpy(s.label).long()[None]).to(device)
        out = model(up, seg)[0].cpu()
        for kind, img in (("recnet", _u8(out)), ("bicubic", _u8(up[0].cpu()))):
            res.setdefault((f, kind + "_psnr"), []).append(metrics.psnr_rgb(s.image, img))
            res.setdefault((f, kind + "_haarpsi"), []).append(metrics.haarpsi(s.image, img))
    model.train()
    m: dict[str, Any] = {}
    for (f, key), vals in sorted(res.items()):
        m[f"f{f}_{key}"] = round(float(np.mean(vals)), 4)
    m["psnr_gain_db"] = round(float(np.mean(
        [m[f"f{f}_recnet_psnr"] - m[f"f{f}_bicubic_psnr"] for f, _ in VAL_SETTINGS])), 4)
    m["settings"] = [f"factor {f}, QP {q}" for f, q in VAL_SETTINGS]
    return m


def _recnet_batch(batch_img: torch.Tensor, qp_range: tuple[int, int], rng: random.Random
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(x in [-1, 1], up(decoded sampled x)) for a batch of [0, 1] crops."""
    from app.nets.smic import upsample

    xs, ups = [], []
    for img in batch_img:
        u8 = _u8(img * 2 - 1)
        f = rng.choice(FACTORS)
        qp = rng.randint(*qp_range)
        small = coded_sampled(u8, f, qp)
        h, w = u8.shape[:2]
        xs.append(_to_pm1(u8))
        ups.append(upsample(_to_pm1(small), f, h, w))
    return torch.cat(xs), torch.cat(ups)


def _recnet_manifest(args: argparse.Namespace, params: int, n_train: int,
                     qp_range: tuple[int, int], val_desc: str, steps: int,
                     metrics: dict[str, Any]) -> dict[str, Any]:
    return {"name": "recnet", "config_name": args.config,
            "config": RECNET_CONFIGS[args.config],
            "params": params, "training_data": _training_data(args, n_train),
            "steps": steps, "validation": {"data": val_desc, **metrics},
            "semantic_map_input": {"ssnet": f"SS-Net-{args.config} prediction (exported "
                                   "weights)", "segnet": f"SegNet-{args.config} prediction",
                                   "gt": "ground truth"}[args.map],
            "sampling": f"area down-sampling by a random factor in {list(FACTORS)}, HEVC "
                        f"4:4:4 at a random QP in {list(qp_range)}, bicubic up-sampling",
            "loss": f"cGAN (D2, non-saturating BCE) x{args.adv_weight} + {args.l1_weight} * "
                    "L1; no VGG loss (no pretrained weights)",
            "input": "[bicubic-upsampled decoded image in [-1, 1], one-hot map]"}


@trainer("recnet", "SMIC Rec-Net U-Net + D2 (cGAN); needs ssnet", add_recnet_args)
def run_recnet(args: argparse.Namespace) -> int:
    """``edms train recnet``: the skeleton (:mod:`app.train.common`) with Rec-Net and D2,
    the cGAN + L1 loss on HEVC-coded sampled images and the PSNR gain as validation."""
    cfg_name = args.config
    iters, batch, crop, base_lr = common.schedule(args, REC_DEFAULTS)
    if crop % 16:
        raise SystemExit("--crop must be a multiple of 16")
    lo, hi = (int(v) for v in args.qp_range.split(","))
    qp_range = (lo, hi)
    env = common.setup(args)
    device = env.device
    train, val, every_frame = _frames(args)
    n_train = len(every_frame)
    if args.map != "gt":
        train = _predict_maps(train, args.map, args.models, cfg_name)
        val = _predict_maps(val, args.map, args.models, cfg_name)
    val_sel = prepare_val(val[::3])
    gen = build_recnet(cfg_name).to(device)
    disc = build_d2(cfg_name).to(device)
    loop, opt_g, opt_d, gen_fwd, disc_fwd, seed = _start_cgan(
        args, "recnet", iters, gen, disc, (base_lr, base_lr), 1357 + env.seed)
    rng = random.Random(seed)
    ng = sum(p.numel() for p in gen.parameters())
    print(f"Rec-Net-{cfg_name}: G {ng / 1e6:.2f} M params, D2 "
          f"{sum(p.numel() for p in disc.parameters()) / 1e6:.2f} M; {iters} iters, batch "
          f"{batch}, crop {crop}, lr {base_lr}, QP {qp_range}, map {args.map}, threads "
          f"{torch.get_num_threads()}", flush=True)
    loader = infinite_batches(SegDataset(train, crop=crop, train=True), batch, seed)

    def export(state: dict[str, torch.Tensor], m: dict[str, Any]) -> None:
        common.export_safetensors(state, loop.out_dir, f"recnet-{cfg_name}", _recnet_manifest(
            args, ng, n_train, qp_range, f"every 3rd val frame ({len(val[::3])})",
            loop.step, m))

    def pair() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x, the up-sampled decoded sampled x, the one-hot map) on the device."""
        img, lab = next(loader)
        x, up = _recnet_batch(img, qp_range, rng)
        return x.to(device), up.to(device), one_hot(lab).to(device)

    def validate() -> tuple[float, dict[str, Any]]:
        precise_bn(gen, lambda: pair()[1:], 20)
        m = evaluate_recnet(gen, val_sel, device)
        print(f"\nstep {loop.step}: val {m}", flush=True)
        return m["psnr_gain_db"], m

    def train_step(p: float) -> dict[str, float]:
        for o in (opt_g, opt_d):
            for g in o.param_groups:
                g["lr"] = _lr_at(p, base_lr)
        x, up, seg = pair()
        with env.autocast():
            out = gen_fwd(up, seg).float()
            adv = _bce(disc_fwd(up, seg, out).float(), True)
        l1 = args.l1_weight * (out - x).abs().mean()

        def loss_d() -> torch.Tensor:
            with env.autocast():
                return (_bce(disc_fwd(up, seg, x).float(), True)
                        + _bce(disc_fwd(up, seg, out.detach()).float(), False))

        l_d = _gan_steps(args.adv_weight * adv + l1, opt_g, loss_d, opt_d)
        return {"l1": l1.item(), "adv": adv.item(), "d": l_d.item()}

    gen.train()
    disc.train()
    loop.run(train_step, validate if val_sel else None, export)
    if val and loop.best_metrics is not None and not loop.stopped_by_signal:
        _export_best_on_all_val(args, loop, gen, val, device, ng, n_train, qp_range)
    return 0


def _export_best_on_all_val(args: argparse.Namespace, loop: common.TrainLoop, gen: torch.nn.Module,
                            val: list, device: torch.device, params: int, n_train: int,
                            qp_range: tuple[int, int]) -> None:
    """Rec-Net's selected weights (``best.pt``) measured on the whole val split and
    exported again with those numbers (the selection used every third frame)."""
    ck = common.load_checkpoint(loop.run_dir / "best.pt")
    gen.load_state_dict(ck["gen"])
    m = evaluate_recnet(gen, prepare_val(val), device)
    loop.step = ck["step"]
    print(f"best weights (step {loop.step}) on all {len(val)} val frames: {m}", flush=True)
    common.export_safetensors(ck["gen"], loop.out_dir, f"recnet-{args.config}", _recnet_manifest(
        args, params, n_train, qp_range, f"val, {len(val)} frames", loop.step, m))
