"""Training entry point: ``train_main([NET, ...])``, NET one of segnet, dsslic, smapnet,
ssnet, recnet, postnet.

The lead's CLI ``edms train ...`` forwards here; ``python -m app.train ...`` works too.
Heavy imports (torch, the trainers) happen only when a command runs.
"""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edms train", description="Train the networks.")
    sub = p.add_subparsers(dest="net", required=True)
    for name, help_ in (("segnet", "segmentation network (DSSLIC SegNet)"),
                        ("dsslic", "CompNet + FineNet (+ discriminators), DSSLIC §3.3-3.4"),
                        ("smapnet", "EDMS SMapNet: SegNet(c') -> SegNet(x); needs segnet, dsslic"),
                        ("ssnet", "SMIC SS-Net segmentation generator + D1 (cGAN)"),
                        ("recnet", "SMIC Rec-Net U-Net + D2 (cGAN); needs ssnet"),
                        ("postnet", "decoder post-filter of the layered pipelines (extension)"),
                        ("hyperprior", "scale-hyperprior codec with gain units (Balle 2018)"),
                        ("menet", "MENet: compression + segmentation from one bitstream"),
                        ("deepsic", "DeepSIC: codec + classification head (Imagenette)")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("--data", required=True, help="dataset folder (CamVid, Cityscapes, images)")
        s.add_argument("--config", choices=("lite", "paper"), default="lite")
        s.add_argument("--resume", action="store_true", help="continue from runs/<net>-<config>/")
        s.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
        s.add_argument("--threads", type=int, default=None, help="torch CPU threads")
        s.add_argument("--minutes", type=float, default=None, help="wall-clock budget")
        s.add_argument("--out", default="models", help="where the best weights are exported")
        s.add_argument("--run-dir", default=None, help="checkpoint folder (runs/<net>-<config>)")
        if name == "segnet":
            from app.train import segnet as mod
            mod.add_args(s)
        elif name == "dsslic":
            from app.train import dsslic as mod
            mod.add_args(s)
        elif name == "smapnet":
            from app.train import smapnet as mod
            mod.add_args(s)
        elif name == "postnet":
            from app.train import postnet as mod
            mod.add_args(s)
        elif name in ("hyperprior", "menet"):
            from app.train import e2e as mod
            mod.add_args(s)
        elif name == "deepsic":
            from app.train import deepsic as mod
            mod.add_args(s)
        else:
            from app.train import smic
            (smic.add_ssnet_args if name == "ssnet" else smic.add_recnet_args)(s)
    return p


def train_main(argv: list[str]) -> int:
    """Parse ``argv`` and run one training; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.net in ("ssnet", "recnet"):
        from app.train import smic

        return smic.run_ssnet(args) if args.net == "ssnet" else smic.run_recnet(args)
    if args.net == "smapnet":
        from app.train import smapnet as mod
    elif args.net == "postnet":
        from app.train import postnet as mod
    elif args.net in ("hyperprior", "menet"):
        from app.train import e2e as mod
    elif args.net == "deepsic":
        from app.train import deepsic as mod
    elif args.net == "segnet":
        from app.train import segnet as mod
    else:
        from app.train import dsslic as mod
    return mod.run(args)


__all__ = ["build_parser", "train_main"]
