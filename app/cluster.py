"""Evaluation on a Ray cluster (``edms eval --cluster ray`` or ``ray://HOST:PORT``).

Ray (an optional extra: ``pip install -e ".[cluster]"``) runs the evaluation's work units
(:class:`app.evalrun.EvalTask`) on *actors*: each actor serves one pipeline, loads its
networks once, and evaluates every image it is given with it (a sweep still runs the
networks once per image). Images travel as the bytes of their files, so workers need no
shared file system; label maps (``--task segmentation``) are read from their paths, which
every node must be able to read. Results stream back as they finish. An actor that dies is
restarted and its unfinished tasks retried (``max_restarts``/``max_task_retries``), so a
lost worker costs a retry, not the evaluation. Nothing here schedules work by hand: Ray
places the actors and queues their calls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from app.errors import EdmsError
from app.evalrun import EvalTask, run_task

RETRIES = 3
INSTALL_HINT = 'Ray is not installed: pip install -e ".[cluster]" (or pip install "ray>=2.9")'


class ClusterError(EdmsError, RuntimeError):
    """The cluster cannot be used (one line for the user)."""


class _PipelineWorker:
    """A Ray actor: evaluates tasks of one pipeline, its networks loaded once."""

    def __init__(self, pipeline: str) -> None:
        from app.pipelines import registry

        self.pipeline = pipeline
        if pipeline in registry.available():
            registry.get(pipeline)  # load the networks now, once

    def run(self, task: EvalTask) -> list[dict[str, Any]]:
        return run_task(task)

    def pid(self) -> int:
        import os

        return os.getpid()


def connect(address: str) -> Any:
    """``ray`` (a local instance) or ``ray://HOST:PORT`` (an existing cluster)."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(INSTALL_HINT) from exc
    if address not in ("ray", "local") and not address.startswith("ray://"):
        raise ClusterError(f"--cluster {address}: expected 'ray' or 'ray://HOST:PORT'")
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "configure_logging": False}
        if address.startswith("ray://"):
            ray.init(address=address, **kwargs)
        else:
            ray.init(**kwargs)
    return ray


def run_ray(tasks: Sequence[EvalTask], address: str = "ray", actors_per_pipeline: int = 0,
            on_actors: Callable[[dict[str, list[Any]]], None] | None = None
            ) -> Iterator[list[dict[str, Any]]]:
    """Results of ``tasks`` on Ray actors, as they finish (any order).

    ``actors_per_pipeline`` 0: the cluster's CPUs shared among the pipelines (at least
    one each). ``on_actors`` sees the actor handles once they exist (tests kill one).
    """
    ray = connect(address)
    pipelines = sorted({t.pipeline for t in tasks})
    if not pipelines:
        return
    if actors_per_pipeline <= 0:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors_per_pipeline = max(1, cpus // len(pipelines))
    worker = ray.remote(num_cpus=1, max_restarts=RETRIES,
                        max_task_retries=RETRIES)(_PipelineWorker)
    actors = {p: [worker.remote(p) for _ in range(actors_per_pipeline)] for p in pipelines}
    if on_actors is not None:
        on_actors(actors)
    turn = dict.fromkeys(pipelines, 0)
    pending = []
    for t in tasks:
        if t.data is None:  # images travel as bytes; nodes need not share a disk
            t = dataclasses.replace(t, data=Path(t.path).read_bytes())
        pool = actors[t.pipeline]
        pending.append(pool[turn[t.pipeline] % len(pool)].run.remote(t))
        turn[t.pipeline] += 1
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        for pool in actors.values():
            for a in pool:
                ray.kill(a)
