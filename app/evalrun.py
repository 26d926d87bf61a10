"""Running an evaluation: work units, the result cache, and where they run.

``edms eval`` plans one :class:`EvalTask` per (image, pipeline) holding the settings still
missing from the :class:`app.resultcache.ResultCache` (a sweep still runs the pipeline's
networks once per image: :func:`app.eval.evaluate_image` prepares once and codes each
setting), runs them in this process, in local worker processes (``-j``) or as Ray tasks
(``--cluster``, :mod:`app.cluster`), stores every point in the cache as soon as it
arrives, and returns all points, cached and new alike. Reruns of an interrupted command
compute only what is missing; new weights or a new pipeline version change the cache key
of that pipeline's points only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.eval import TaskScorer, evaluate_image, reference_fingerprint
from app.imageio import load_image
from app.pipelines import registry
from app.resultcache import image_digest
from app.tasks import LabelledImage, read_label_map

#: the pseudo-pipeline whose points hold a task's accuracy on the uncompressed images
UNCOMPRESSED = "(uncompressed)"


@dataclass(frozen=True)
class EvalTask:
    """One image with one pipeline at some settings (or the uncompressed image)."""

    path: str
    pipeline: str
    grid: tuple[tuple[tuple[str, int], ...], ...]
    max_pixels: int
    task: str = "rd"
    label: str | int | None = None
    label_format: str = "camvid"
    config: str = "lite"
    #: the reference network of the task ("": its default, :func:`app.eval.reference_net`)
    reference: str = ""
    #: the image file's bytes, when workers cannot read ``path`` (a remote cluster)
    data: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return Path(self.path).name


def run_task(task: EvalTask) -> list[dict[str, Any]]:
    """Evaluate one task; the points as dicts (:class:`app.eval.RDPoint` fields)."""
    image = load_image(task.data if task.data is not None else task.path,
                       max_pixels=task.max_pixels).array
    scorer = None
    if task.task != "rd":
        if task.task == "segmentation":
            item = LabelledImage(Path(task.path), Path(str(task.label)), task.label_format)
            truth: Any = read_label_map(item, image.shape[:2])
        else:
            truth = int(task.label)  # type: ignore[arg-type]
        scorer = TaskScorer(task.task, truth, task.config, task.reference)
    if task.pipeline == UNCOMPRESSED:
        assert scorer is not None
        return [{"image": task.name, "pipeline": UNCOMPRESSED,
                 "task": scorer.score(image, {})}]
    grid = [dict(g) for g in task.grid]
    return [dataclasses.asdict(p) for p in
            evaluate_image(image, task.name, task.pipeline, scorer=scorer, grid=grid)]


def run_local(tasks: Sequence[EvalTask], jobs: int = 1) -> Iterator[list[dict[str, Any]]]:
    """Results of ``tasks`` in this process or in ``jobs`` local processes, as they end."""
    if jobs <= 1:
        for t in tasks:
            yield run_task(t)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"))
    try:
        for fut in as_completed([pool.submit(run_task, t) for t in tasks]):
            yield fut.result()
    finally:  # interrupted (Ctrl-C) or failed: drop the queued tasks, do not run them all
        pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class Plan:
    """What an evaluation needs: the tasks to run and the points the cache already has."""

    tasks: list[EvalTask]
    cached: list[dict[str, Any]]
    #: (task key) -> cache key parts, to store the new points
    keys: dict[tuple[str, str], tuple[str, int, bytes, str]]


def task_key(task: str, config: str = "lite", reference: str = "") -> str:
    if task == "rd":
        return "rd"
    return f"{task}:{reference_fingerprint(task, config, reference).hex()}"


def plan(items: Sequence[tuple[str, str | int | None, str]], pipelines: Sequence[str],
         grids: dict[str, list[dict[str, int]]], max_pixels: int, task: str = "rd",
         cache: Any | None = None, config: str = "lite", reference: str = "") -> Plan:
    """The tasks for ``items`` (path, label, label format) x ``pipelines`` that the cache
    cannot answer, and the cached points. With a task, one extra task per image measures
    the reference network on the uncompressed image (the accuracy ceiling)."""
    tkey = task_key(task, config, reference)
    idents = {}
    for n in pipelines:
        p = registry.get(n)
        idents[n] = (int(p.version), p.model_fingerprint)
    names = list(pipelines) + ([UNCOMPRESSED] if task != "rd" else [])
    tasks: list[EvalTask] = []
    cached: list[dict[str, Any]] = []
    keys: dict[tuple[str, str], tuple[str, int, bytes, str]] = {}
    for path, label, fmt in items:
        digest = image_digest(load_image(path, max_pixels=max_pixels).array) \
            if cache is not None else ""
        for n in names:
            version, fp = idents.get(n, (0, b""))
            grid = grids.get(n, [{}])
            keys[(Path(path).name, n)] = (digest, version, fp, tkey)
            missing = []
            for g in grid:
                hit = cache.get(digest, n, version, fp, g, tkey) if cache is not None else None
                if hit is None:
                    missing.append(g)
                else:
                    cached.append(hit)
            if missing:
                tasks.append(EvalTask(path, n, tuple(tuple(sorted(g.items())) for g in missing),
                                      max_pixels, task, label, fmt, config, reference))
    return Plan(tasks, cached, keys)


def execute(p: Plan, runner: Callable[[Sequence[EvalTask]], Iterable[list[dict[str, Any]]]],
            cache: Any | None = None, progress: Callable[[int], None] | None = None
            ) -> list[dict[str, Any]]:
    """Run the plan's tasks with ``runner``, storing each point in ``cache`` as it comes."""
    out = list(p.cached)
    for points in runner(p.tasks):
        for pt in points:
            if cache is not None:
                digest, version, fp, tkey = p.keys[(pt["image"], pt["pipeline"])]
                cache.put(digest, pt["pipeline"], version, fp, pt.get("params", {}), pt, tkey)
            out.append(pt)
        if progress is not None:
            progress(1)
    return out
