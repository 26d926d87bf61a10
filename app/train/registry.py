"""The table of trainers behind ``edms train NET``.

A trainer module registers its entry with the :func:`trainer` decorator on its ``run``
function; :func:`trainers` imports every module of :mod:`app.train` so that each one
registers itself, and ``edms train --help`` lists what is there (no if/elif ladder to
extend for a new network).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

Run = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Trainer:
    net: str  # the weights it exports: models/<net>-<config>.safetensors
    help: str
    add_args: Callable[[argparse.ArgumentParser], None]
    run: Run


_TRAINERS: dict[str, Trainer] = {}


def trainer(net: str, help: str, add_args: Callable[[argparse.ArgumentParser], None]
            ) -> Callable[[Run], Run]:
    """Decorator on a trainer's ``run(args) -> exit code``: ``edms train NET`` calls it after
    the common options and ``add_args``'s own have been parsed."""

    def register(run: Run) -> Run:
        _TRAINERS[net] = Trainer(net, help, add_args, run)
        return run

    return register


def trainers() -> dict[str, Trainer]:
    """Every registered trainer by network name (imports the trainer modules)."""
    import app.train

    for module in pkgutil.iter_modules(app.train.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"app.train.{module.name}")
    return dict(_TRAINERS)
