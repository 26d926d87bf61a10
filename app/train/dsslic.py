"""Joint training of DSSLIC's CompNet + FineNet (+ two-scale discriminators), §3.3-3.4.

In the ``lite`` configuration there is no CompNet (the compact image is the box average)
and only FineNet trains. Its inputs are those the pipelines will give it: ``--seg mix``
feeds SegNet(x) (``dsslic``) or SegNet(c') (``edms-noenh``), half the batches each, and
``--seg smapnet`` feeds SMapNet(SegNet(c')) (``edms``: EDMS's fine-tuning on SMapNet's
output, exported as ``dsslic-edms``). ``--base-lossy p`` replaces the compact image by its
HEVC-coded version (QP uniform in ``--base-qp``) with probability p, as the ``-lb``
pipelines send it. ``--init`` starts from shipped weights.

Loss profiles (``--loss``):

* ``mse`` (default): L2 on x'. The residual coder pays for the squared error of x'.
* ``paper`` (§3.3, eq. 4-10, minus the VGG term): ``L_G = GAN + 2*lambda*L1 + L_SSIM +
  L_DIS`` with lambda = 10, the GAN being the log loss of eq. 8 (``--gan bce``, default) or
  LSGAN (``--gan lsgan``); L_DIS = lambda * sum_d sum_i mean|D_d^i(real) - D_d^i(fake)|.
  As in §3.4, the feature-matching term is dropped for the last third of the steps.
  **No VGG loss**: VGG weights cannot be fetched offline (no torchvision, no hub).
* ``rd``: ``2*lambda*L1 + L_SSIM`` only, no discriminator. x' is only the
  predictor of an HEVC-coded residual, so the final rate-distortion depends on the residual
  energy ||x - x'||^2; GAN texture that does not match x adds residual energy, and without
  a discriminator each step costs about half as much CPU. See docs/training.md.

L_SSIM = 1 - SSIM(x, x') with pytorch_msssim's constants (K1 = 0.01, K2 = 0.03 on [0, 1]
data): the paper's C1 = C2 = C3 = 1 would make SSIM almost constant on [0, 1] or [-1, 1]
data. The compact image is quantised to 8 bit with a straight-through estimator and
upsampled bicubically (:mod:`app.nets.dsslic`). With ``--seg gt`` the segmentation input
is the ground-truth label map (void -> all-zero one-hot). Adam, lr fixed for the first
2/3 of the schedule and then linearly to 0 (§3.4: 100 + 50 epochs); the schedule
progress is max(step/``--iters``, share of ``--minutes`` used)
(:class:`app.train.common.Progress`). Not in the paper:
``--cprime-weight`` w adds ``2*lambda*w*L1(x, c')`` so that c' stays image-like (EDMS runs
SegNet on c'; an image-like base layer also codes cheaper losslessly). Validation: PSNR of
x' and of c' (bicubic-upsampled quantised c) against x on the whole val frames, both
rounded to uint8 as the pipeline does, with the lossless base and with the base coded by
HEVC at QP 24; the generator with the best mean of the two x' PSNRs is exported to
``<out>/<name>-<config>.*``.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim import ssim

from app.nets.dsslic import (
    CONFIGS,
    DSSLIC,
    build_discriminator,
    build_dsslic,
    compact_to_uint8,
    one_hot,
    quantize_compact,
    uint8_to_compact,
    upsample_compact,
)
from app.train import common, distributed
from app.train.data import SegDataset, infinite_batches, load_split
from app.train.registry import trainer

LAMBDA = 10.0
DEFAULTS = {"lite": common.Schedule(iters=6000, batch=2, crop=256),  # --lr: its own default
            "paper": common.Schedule(iters=200000, batch=2, crop=512)}


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--loss", choices=("mse", "rd", "paper"), default="mse",
                   help="mse: L2 on x' (what the residual coder pays for); rd: L1+SSIM; "
                   "paper: L1+SSIM + GAN + feature matching")
    p.add_argument("--seg", choices=("gt", "mix", "smapnet"), default="mix",
                   help="FineNet's segmentation input: gt = ground-truth labels; mix = half "
                   "the batches SegNet(x) (what dsslic sends), half SegNet(c') (what "
                   "edms-noenh recomputes); smapnet = SMapNet(SegNet(c')) (what edms "
                   "recomputes), from the shipped SegNet/SMapNet")
    p.add_argument("--name", choices=("dsslic", "dsslic-edms"), default="dsslic",
                   help="weights to export: dsslic (used by dsslic*, edms-noenh) or "
                   "dsslic-edms (FineNet fine-tuned for edms/edms-lb, with --seg smapnet)")
    p.add_argument("--base-lossy", type=float, default=0.7,
                   help="share of samples whose compact image is HEVC-coded (lossy-base mode)")
    p.add_argument("--base-qp", type=int, nargs=2, default=(10, 40), metavar=("LO", "HI"),
                   help="QP range of the HEVC-coded base layer in training")
    p.add_argument("--init", default=None,
                   help="start FineNet (and CompNet, if any) from these shipped .safetensors")
    p.add_argument("--gan", choices=("bce", "lsgan"), default="bce", help="GAN loss (paper)")
    p.add_argument("--cprime-weight", type=float, default=None,
                   help="weight w of an extra 2*lambda*w*L1(x, c') term (default 0.25 for "
                   "--loss rd, 0 for paper): keeps c' image-like (EDMS segments c')")
    common.add_schedule_args(p, lr=2e-4, val_every=500)


def to_u8(t: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float -> uint8-valued float (what the pipeline stores/shows)."""
    return torch.round((t.clamp(-1, 1) + 1) * 127.5)


def psnr_u8(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def hevc_base(c8: torch.Tensor, qp: int) -> torch.Tensor:
    """The base layer as the lossy-base decoder sees it: uint8 (3, h, w) -> HEVC -> uint8."""
    from app.codecs import CODEC_ID_HEVC, decode_layer, hevc

    arr = np.ascontiguousarray(c8.permute(1, 2, 0).cpu().numpy())
    dec = decode_layer(CODEC_ID_HEVC, hevc(qp, chroma=444).encode(arr))
    return torch.from_numpy(dec).permute(2, 0, 1).to(c8.device)


def degrade_base(cq: torch.Tensor, p_lossy: float, qp_range: tuple[int, int],
                 rng: random.Random) -> torch.Tensor:
    """Replace each sample's quantised c by its HEVC-decoded version with probability
    ``p_lossy`` (QP uniform in ``qp_range``); gradients pass straight through."""
    out = []
    for c in cq:
        if rng.random() < p_lossy:
            c8 = compact_to_uint8(c[None])[0]
            dec = uint8_to_compact(hevc_base(c8, rng.randint(*qp_range)))
            c = c + (dec - c).detach()
        out.append(c)
    return torch.stack(out)


class SegSource:
    """FineNet's segmentation input in training: ground truth, or the shipped SegNet on x
    (what ``dsslic`` sends) or on c' (what ``edms-noenh`` recomputes), or SMapNet on the
    latter (what ``edms`` recomputes)."""

    def __init__(self, mode: str, device: torch.device) -> None:
        from app.nets import zoo

        self.mode = mode
        self.segnet = self.smapnet = None
        if mode != "gt":
            self.segnet, _ = zoo.load_model("segnet", "lite", device)
        if mode == "smapnet":
            self.smapnet, _ = zoo.load_model("smapnet", "lite", device)

    def for_finenet(self, x: torch.Tensor, gt: torch.Tensor, cq: torch.Tensor,
                    rng: random.Random | None = None) -> torch.Tensor:
        """The segmentation FineNet gets for quantised (possibly HEVC-coded) compact cq."""
        use_cprime = self.mode == "smapnet" or (
            self.mode == "mix" and rng is not None and rng.random() < 0.5)
        if not use_cprime:
            return self.of_image(x, gt)
        h, w = x.shape[-2:]
        return self.of_upsampled(upsample_compact(cq.detach()), gt)[..., :h, :w]

    @torch.no_grad()
    def of_image(self, x: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        if self.segnet is None:
            return gt
        return self.segnet.predict((x + 1) / 2)

    @torch.no_grad()
    def of_upsampled(self, c_up: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        if self.segnet is None:
            return gt
        up01 = (c_up.clamp(-1, 1) + 1) / 2
        s = self.segnet.predict(up01)
        if self.smapnet is not None:
            s = self.smapnet.predict(one_hot(s), up01)
        return s


@torch.no_grad()
def evaluate(model: DSSLIC, samples: list, device: torch.device,
             segs: SegSource, base_qp: int = 24) -> dict[str, Any]:
    """Mean PSNR over the val frames of x' and of plain bicubic c', with the lossless base
    and with the base HEVC-coded at ``base_qp``; segmentation = SegNet(x) (or GT), or
    SMapNet(SegNet(c')) with ``--seg smapnet``."""
    model.eval()
    acc: dict[str, list[float]] = {}
    for s in samples:
        x = torch.from_numpy(s.image).permute(2, 0, 1).float()[None].to(device) / 127.5 - 1
        gt = torch.from_numpy(s.label).long()[None].to(device)
        seg = segs.of_image(x, gt)
        c8 = compact_to_uint8(model.compact(x, seg))
        ref = to_u8(x)
        for tag, cb in (("", c8), (f"_base_qp{base_qp}", hevc_base(c8[0], base_qp)[None])):
            cf = uint8_to_compact(cb)
            seg_f = segs.for_finenet(x, gt, cf) if segs.mode == "smapnet" else seg
            xr, c_up = model.reconstruct(cf, seg_f)
            acc.setdefault("psnr_xprime" + tag, []).append(psnr_u8(to_u8(xr), ref))
            acc.setdefault("psnr_cprime_bicubic" + tag, []).append(psnr_u8(to_u8(c_up), ref))
    model.train()
    m = {k: round(float(np.mean(v)), 3) for k, v in acc.items()}
    m["score"] = round((m["psnr_xprime"] + m[f"psnr_xprime_base_qp{base_qp}"]) / 2, 3)
    return m


def _lr_at(p: float, base: float) -> float:
    """§3.4: constant for the first 2/3 of the schedule, then linearly to zero."""
    return base if p < 2 / 3 else base * max(0.0, 3 * (1 - p))


def _gan_loss(logits: torch.Tensor, real: bool, kind: str) -> torch.Tensor:
    if kind == "lsgan":
        return ((logits - (1.0 if real else 0.0)) ** 2).mean()
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


@dataclass
class DSSLICTraining:
    """DSSLIC's part of the trainer skeleton (:class:`TrainLoop` does the rest): the
    generator's loss (§3.3: MSE, or L1 + SSIM, plus the c' term), the conditional GAN's
    (§3.4: adversarial and feature-matching terms), validation and the export."""

    args: argparse.Namespace
    env: common.Setup
    gen: DSSLIC
    disc: Any
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    loop: common.TrainLoop
    segs: SegSource
    train: list
    val: list
    n_train: int
    batch: int
    crop: int
    w_c: float  # weight of the c' term

    def __post_init__(self) -> None:
        a, loop = self.args, self.loop
        self.use_gan = a.loss == "paper"
        self.rng = random.Random(99 + (a.iters or 0) + distributed.seed_offset() + self.env.seed)
        self.gen_fwd = loop.wrap(distributed.Methods(self.gen))  # the training step's passes
        self.disc_fwd = loop.wrap(self.disc) if self.disc is not None else None
        seed = 4321 + loop.step + loop.seed_offset + self.env.seed
        random.seed(seed)
        torch.manual_seed(seed)
        self.loader = common.batches(lambda i: infinite_batches(
            SegDataset(self.train, crop=self.crop, train=True), self.batch, seed + 1000 * i),
            self.env)

    def export(self, state: dict[str, torch.Tensor], metrics: dict[str, Any]) -> None:
        a, cfg_name = self.args, self.args.config
        common.export_safetensors(state, self.loop.out_dir, f"{a.name}-{cfg_name}", {
            "name": a.name, "config_name": cfg_name, "config": CONFIGS[cfg_name],
            "params": sum(p.numel() for p in self.gen.parameters()),
            "training_data": "CamVid train, 367 frames" if self.n_train == 367
            else f"{a.data} train, {self.n_train} frames",
            "segmentation_input": {
                "gt": "ground-truth label maps (void -> zero one-hot)",
                "mix": "shipped SegNet: SegNet(x) or SegNet(c'), half each",
                "smapnet": "shipped SegNet + SMapNet: SMapNet(SegNet(c'))"}[a.seg],
            "base_layer": f"HEVC-coded with probability {a.base_lossy}, QP "
            f"{a.base_qp[0]}..{a.base_qp[1]}; else lossless",
            "init": Path(a.init).name if a.init else None,
            "loss": a.loss + (f"/{a.gan}" if self.use_gan else "")
            + f", cprime_weight {self.w_c}",
            "steps": self.loop.step,
            "validation": {"data": f"val, {len(self.val)} frames, segmentation " + {
                "gt": "GT", "mix": "SegNet(x)", "smapnet": "SMapNet(SegNet(c'))"}[a.seg],
                **metrics},
            "compact": "c8 = round(c*127.5+127.5); c' = bicubic x8 (align_corners=False)",
        })

    def validate(self) -> tuple[float, dict[str, Any]]:
        m = evaluate(self.gen, self.val, self.env.device, self.segs)
        print(f"\nstep {self.loop.step}: val {m}", flush=True)
        return m["score"], m

    def generator_loss(self, x: torch.Tensor, xr: torch.Tensor, c_up: torch.Tensor
                       ) -> tuple[torch.Tensor, dict[str, float]]:
        """§3.3: the reconstruction loss of x̂ (MSE, or L1 + SSIM) plus the c' term."""
        a = self.args
        if a.loss == "mse":
            l2 = ((x - xr) ** 2).mean()
            loss_g = l2 * 100
            logs = {"psnr": float(10 * np.log10(4.0 / max(l2.item(), 1e-12)))}
        else:
            l1 = 2 * LAMBDA * (x - xr).abs().mean()
            l_ssim = 1 - ssim((x + 1) / 2, ((xr + 1) / 2).clamp(0, 1), data_range=1.0,
                              size_average=True)
            loss_g = l1 + l_ssim
            logs = {"l1": l1.item(), "ssim": l_ssim.item()}
        if self.w_c > 0:
            l_c = 2 * LAMBDA * self.w_c * (x - c_up).abs().mean()
            loss_g = loss_g + l_c
            logs["l1_c"] = l_c.item()
        return loss_g, logs

    def adversarial_loss(self, p: float, oh: torch.Tensor, cond: torch.Tensor,
                         x: torch.Tensor, xr: torch.Tensor, logs: dict[str, float]
                         ) -> torch.Tensor:
        """§3.4: the generator's adversarial term and, before the last third, feature
        matching against the discriminator's features of the original."""
        assert self.disc_fwd is not None and self.disc is not None
        gan = self.args.gan
        with self.env.autocast():
            fake_out = self.disc_fwd(oh, cond, xr)
        l_adv = cast(torch.Tensor, sum(_gan_loss(o[-1].float(), True, gan) for o in fake_out))
        logs["g_adv"] = l_adv.item()
        if p >= 2 / 3:  # §3.4: no feature matching in the last third
            return l_adv
        with torch.no_grad(), self.env.autocast():
            real_out = self.disc(oh, cond, x)
        l_fm = LAMBDA * cast(torch.Tensor, sum(
            F.l1_loss(f.float(), r.float()) for fo, ro in zip(fake_out, real_out, strict=True)
            for f, r in zip(fo[:-1], ro[:-1], strict=True)))
        logs["fm"] = l_fm.item()
        return l_adv + l_fm

    def train_step(self, p: float) -> dict[str, float]:
        a = self.args
        lr = _lr_at(p, a.lr)
        for o in (self.opt_g, self.opt_d):
            if o is not None:
                for g in o.param_groups:
                    g["lr"] = lr
        img, seg = next(self.loader)
        x = img * 2 - 1
        seg_x = self.segs.of_image(x, seg)
        with self.env.autocast():
            cq = quantize_compact(self.gen_fwd("compact", x, seg_x).float(), ste=True)
        cq = degrade_base(cq, a.base_lossy, tuple(a.base_qp), self.rng)
        seg = self.segs.for_finenet(x, seg, cq, self.rng)
        with self.env.autocast():
            xr, c_up = self.gen_fwd("reconstruct", cq, seg)
        xr, c_up = xr.float(), c_up.float()
        loss_g, logs = self.generator_loss(x, xr, c_up)
        if self.disc_fwd is not None:
            oh, cond = one_hot(seg), c_up.detach()
            loss_g = loss_g + self.adversarial_loss(p, oh, cond, x, xr, logs)
        common.backward_step(loss_g, self.opt_g, self.gen.parameters(), clip=None)
        if self.disc_fwd is not None:
            assert self.opt_d is not None  # made together with disc
            with self.env.autocast():
                real_out = self.disc_fwd(oh, cond, x)
                fake_out = self.disc_fwd(oh, cond, xr.detach())
            l_d = cast(torch.Tensor, sum(
                _gan_loss(r[-1].float(), True, a.gan) + _gan_loss(f[-1].float(), False, a.gan)
                for r, f in zip(real_out, fake_out, strict=True)))
            common.backward_step(l_d, self.opt_d, self.disc.parameters(), clip=None)
            logs["d"] = l_d.item()
        return logs


@trainer("dsslic", "CompNet + FineNet (+ discriminators), DSSLIC §3.3-3.4", add_args)
def run(args: argparse.Namespace) -> int:
    """``edms train dsslic``: the skeleton (:mod:`app.train.common`) with DSSLIC's
    networks, data, losses and validation (:class:`DSSLICTraining`)."""
    cfg_name = args.config
    iters, batch, crop, _ = common.schedule(args, DEFAULTS)
    use_gan = args.loss == "paper"
    learned_comp = CONFIGS[cfg_name].get("comp_learned", True)
    w_c = args.cprime_weight if args.cprime_weight is not None else (
        0.25 if args.loss == "rd" and learned_comp else 0.0)
    env = common.setup(args)
    print(f"loading {args.data} ...", flush=True)
    train = load_split(args.data, "train", args.limit)
    val = load_split(args.data, "val", args.limit)
    if not train:
        raise SystemExit(f"no training frames in {args.data}")
    gen = build_dsslic(cfg_name).to(env.device)
    if args.init and not args.resume:
        common.init_from_safetensors(gen, args.init)
    disc = build_discriminator(cfg_name).to(env.device) if use_gan else None
    betas = (0.5, 0.999) if use_gan else (0.9, 0.999)
    opt_g = torch.optim.Adam(gen.parameters(), lr=args.lr, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=betas) if disc else None
    parts: dict[str, Any] = {"gen": gen, "opt_g": opt_g}
    if disc is not None:
        parts.update(disc=disc, opt_d=opt_d)
    loop = common.TrainLoop(args, args.name, iters, parts,
                            {"loss": args.loss, "config_name": cfg_name})

    def same_loss(ck: dict[str, Any]) -> None:
        if ck.get("loss") != args.loss:
            raise SystemExit(f"checkpoint {loop.last} was trained with --loss {ck.get('loss')}")

    loop.resume(same_loss)
    ng = sum(p.numel() for p in gen.parameters())
    nd = sum(p.numel() for p in disc.parameters()) if disc else 0
    print(f"DSSLIC-{cfg_name}: G {ng / 1e6:.2f} M params, D {nd / 1e6:.2f} M; loss {args.loss}"
          f"{'/' + args.gan if use_gan else ''}; {iters} iters, batch {batch}, crop {crop}, "
          f"lr {args.lr}, device {env.device}, threads {torch.get_num_threads()}", flush=True)
    job = DSSLICTraining(args, env, gen, disc, opt_g, opt_d, loop,
                         SegSource(args.seg, env.device), distributed.shard(train), val,
                         len(train), batch, crop, w_c)
    gen.train()
    loop.run(job.train_step, job.validate if val else None, job.export)
    return 0
