"""Training entry point: ``train_main([NET, ...])``; the networks that can be trained are
the table of :mod:`app.train.registry` (each trainer module registers itself).

The lead's CLI ``edms train ...`` forwards here; ``python -m app.train ...`` works too.
Heavy imports (torch, the trainers) happen only when a command runs.
"""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    from app.train.common import add_common_args
    from app.train.registry import trainers

    table = trainers()
    p = argparse.ArgumentParser(prog="edms train", description="Train the networks.")
    sub = p.add_subparsers(dest="net", required=True, metavar="NET",
                           help=", ".join(table)
                           + " (and `ship MANIFEST`: copy exported weights into models/)")
    for name, entry in table.items():
        s = sub.add_parser(name, help=entry.help)
        entry.add_args(s)
        add_common_args(s)  # after the trainer's: an option it defines is its own
    return p


def train_main(argv: list[str]) -> int:
    """Parse ``argv`` and run one training; returns the process exit code.

    ``edms train ship MANIFEST [--models DIR]`` is the explicit step that copies exported
    weights into ``models/`` after checking their sha256 (:func:`app.train.common.ship`).
    """
    from app.train.registry import trainers

    if argv[:1] == ["ship"]:
        return ship_main(argv[1:])

    args = build_parser().parse_args(argv)
    return trainers()[args.net].run(args)


def ship_main(argv: list[str]) -> int:
    """``edms train ship MANIFEST... [--models DIR]``."""
    from app.train.common import ship

    p = argparse.ArgumentParser(prog="edms train ship", description="Verify exported "
                                "weights against their manifest's sha256 and copy both into "
                                "the models folder.")
    p.add_argument("manifest", nargs="+", help="<run dir>/<net>-<config>.json")
    p.add_argument("--models", default="models", help="destination (default: models)")
    args = p.parse_args(argv)
    for m in args.manifest:
        ship(m, args.models)
    return 0


__all__ = ["build_parser", "ship_main", "train_main"]
