"""Training entry point: ``train_main([NET, ...])``; the networks that can be trained are
the table of :mod:`app.train.registry` (each trainer module registers itself).

The lead's CLI ``edms train ...`` forwards here; ``python -m app.train ...`` works too.
Heavy imports (torch, the trainers) happen only when a command runs.
"""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    from app.train.registry import trainers

    table = trainers()
    p = argparse.ArgumentParser(prog="edms train", description="Train the networks.")
    sub = p.add_subparsers(dest="net", required=True, metavar="NET",
                           help=", ".join(table))
    for name, entry in table.items():
        s = sub.add_parser(name, help=entry.help)
        s.add_argument("--data", required=True, help="dataset folder (CamVid, Cityscapes, images)")
        s.add_argument("--config", choices=("lite", "paper"), default="lite")
        s.add_argument("--resume", action="store_true", help="continue from runs/<net>-<config>/")
        s.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
        s.add_argument("--threads", type=int, default=None, help="torch CPU threads")
        s.add_argument("--minutes", type=float, default=None, help="wall-clock budget")
        s.add_argument("--out", default="models", help="where the best weights are exported")
        s.add_argument("--run-dir", default=None, help="checkpoint folder (runs/<net>-<config>)")
        entry.add_args(s)
    return p


def train_main(argv: list[str]) -> int:
    """Parse ``argv`` and run one training; returns the process exit code."""
    from app.train.registry import trainers

    args = build_parser().parse_args(argv)
    return trainers()[args.net].run(args)


__all__ = ["build_parser", "train_main"]
