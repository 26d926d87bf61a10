"""Training SMapNet (EDMS §2.1–2.2, Fig. 2): s~ = SegNet(c') -> SegNet(x).

The shipped SegNet and the compact image (``models/``; lite: the 8x8 box average) give,
for every training frame, the segmentation of the original s = SegNet(x) (the target),
the 8-bit compact image c and the decoder-side segmentation s~ = SegNet(c'), through the
very code the pipelines use (:class:`app.pipelines.dsslic.DsslicNets`), once per base
layer in ``--base-qps``: the lossless compact image (``edms``) and HEVC-coded ones
(``edms-lb``). SMapNet then learns s~ (+ c') -> s with a cross-entropy loss on random
crops. Validation reports the agreement (mIoU over the 11
classes, and pixel accuracy) of s~ and of SMapNet(s~) with s on the val split.
"""

from __future__ import annotations

import argparse
import random
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from app.metrics import miou
from app.nets.dsslic import one_hot
from app.nets.smapnet import CONFIGS, SMapNet, build_smapnet
from app.train import common, distributed
from app.train.data import load_split
from app.train.registry import trainer

DEFAULTS = {"lite": common.Schedule(iters=1500, batch=8, crop=192, lr=2e-3),
            "paper": common.Schedule(iters=20000, batch=8, crop=256, lr=1e-3)}


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-qps", default="-1,26",
                   help="base layers to train on: -1 = lossless (edms), else the HEVC QP of "
                   "the lossy base (edms-lb); one copy of every frame per entry")
    common.add_schedule_args(p)


def _prepare(samples: list, nets: Any, desc: str,
             base_qps: tuple[int, ...] = (-1,)
             ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(c' uint8 HxWx3, s~ HxW, s HxW) per frame and base layer, as the pipelines do."""
    from app.codecs import CODEC_ID_HEVC, decode_layer, hevc
    from app.nets.dsslic import uint8_to_compact, upsample_compact
    from app.pipelines.layered import pad_image

    out = []
    for s in tqdm(samples, desc=desc, mininterval=30, ncols=100):
        img = pad_image(s.image)
        h, w = img.shape[:2]
        seg = nets.segment(img)
        c8 = nets.compact(img, seg)
        for qp in base_qps:
            cb = c8 if qp < 0 else decode_layer(CODEC_ID_HEVC, hevc(qp, chroma=444).encode(c8))
            s_up = nets.segment_upsampled(cb, h, w)
            with torch.no_grad():
                c = upsample_compact(uint8_to_compact(torch.from_numpy(cb).permute(2, 0, 1)[None]))
            c_up = torch.round((c[0, :, :h, :w].clamp(-1, 1) + 1) * 127.5).to(torch.uint8)
            out.append((c_up.permute(1, 2, 0).numpy(), s_up, seg))
    return out


def _batch(data: list, batch: int, crop: int, rng: random.Random):
    xs, cs, ys = [], [], []
    for _ in range(batch):
        c_up, s_up, seg = data[rng.randrange(len(data))]
        h, w = seg.shape
        ch, cw = min(crop, h - h % 8), min(crop, w - w % 8)
        y = rng.randrange(0, h - ch + 1, 8)
        x = rng.randrange(0, w - cw + 1, 8)
        sl = (slice(y, y + ch), slice(x, x + cw))
        a, b, t = s_up[sl], c_up[sl], seg[sl]
        if rng.random() < 0.5:
            a, b, t = a[:, ::-1], b[:, ::-1], t[:, ::-1]
        xs.append(torch.from_numpy(a.astype(np.int64)))
        cs.append(torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1))).float() / 255)
        ys.append(torch.from_numpy(t.astype(np.int64)))
    return torch.stack(xs), torch.stack(cs), torch.stack(ys)


@torch.no_grad()
def evaluate(model: SMapNet | None, data: list, device: torch.device) -> dict[str, Any]:
    preds, targets = [], []
    for c_up, s_up, seg in data:
        if model is None:
            pred = s_up
        else:
            s = torch.from_numpy(s_up.astype(np.int64))[None].to(device)
            c = torch.from_numpy(np.ascontiguousarray(c_up.transpose(2, 0, 1)))[None]
            pred = model.predict(one_hot(s), c.float().to(device) / 255)[0].cpu().numpy()
        preds.append(pred.ravel())
        targets.append(seg.ravel())
    p, t = np.concatenate(preds), np.concatenate(targets)
    m, per_class = miou(p, t, 11)
    return {"miou_vs_segnet_x": float(m), "pixel_acc": float((p == t).mean()),
            "per_class_iou": [None if np.isnan(v) else float(v) for v in per_class]}


@trainer("smapnet", "EDMS SMapNet: SegNet(c') -> SegNet(x); needs segnet, dsslic", add_args)
def run(args: argparse.Namespace) -> int:
    from app.nets import zoo
    from app.pipelines.dsslic import DsslicNets

    cfg = args.config
    iters, batch, crop, lr0 = common.schedule(args, DEFAULTS)
    env = common.setup(args)
    device = env.device

    nets = DsslicNets(cfg, "cpu")
    base_qps = tuple(int(v) for v in str(args.base_qps).split(","))
    train_s = load_split(args.data, "train", args.limit)
    n_train = len(train_s)
    # this process's frames (all of them without torchrun)
    train = _prepare(distributed.shard(train_s), nets, "s~ train", base_qps)
    val = _prepare(load_split(args.data, "val", args.limit), nets, "s~ val", base_qps)
    baseline = evaluate(None, val, device)
    print(f"val agreement of s~ = SegNet(c') with SegNet(x): mIoU "
          f"{baseline['miou_vs_segnet_x']:.4f}, pixel acc {baseline['pixel_acc']:.4f}", flush=True)

    model = build_smapnet(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr0, weight_decay=1e-4)
    loop, net, rng = common.start(args, "smapnet", iters, model, opt, seed=1234)

    def export(state: dict[str, torch.Tensor], metrics: dict[str, Any]) -> None:
        common.export_safetensors(state, loop.out_dir, f"smapnet-{cfg}", {
            "name": "smapnet", "config_name": cfg, "config": CONFIGS[cfg], "steps": loop.step,
            "training_data": f"CamVid train, {n_train} frames x base layers "
            f"{list(base_qps)} (-1 = lossless, else HEVC QP): s~ = SegNet(c') -> SegNet(x)",
            # s~ depends on SegNet and on the compact image only (not on FineNet)
            "trained_against": {"segnet": zoo.read_manifest("segnet", cfg)["sha256"],
                                "compact": "8x8 box average" if nets.dsslic.compnet is None
                                else "CompNet of dsslic " + zoo.read_manifest("dsslic", cfg)[
                                    "sha256"]},
            "validation": {"data": f"val, {len(val) // len(base_qps)} frames x base layers "
                           f"{list(base_qps)}", "baseline_s_tilde": baseline,
                           **metrics},
        })

    def validate() -> tuple[float, dict[str, Any]]:
        model.eval()
        m = evaluate(model, val, device)
        model.train()
        print(f"\nstep {loop.step}: val mIoU vs SegNet(x) {m['miou_vs_segnet_x']:.4f} "
              f"(s~ alone {baseline['miou_vs_segnet_x']:.4f}), acc {m['pixel_acc']:.4f}",
              flush=True)
        return m["miou_vs_segnet_x"], m

    def train_step(p: float) -> dict[str, float]:
        for g in opt.param_groups:
            g["lr"] = float(lr0 * 0.5 * (1 + np.cos(np.pi * p)))
        s, c, t = _batch(train, batch, crop, rng)
        with env.autocast():
            logits = net(one_hot(s.to(device)), c.to(device))
        loss = F.cross_entropy(logits.float(), t.to(device))
        common.backward_step(loss, opt, None, clip=None)
        return {"loss": loss.item()}

    model.train()
    loop.run(train_step, validate if val else None, export)
    return 0
