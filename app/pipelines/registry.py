"""Registry of pipelines, found through the ``edms_workbench.pipelines`` entry points.

The registry knows no pipeline by name. Every distribution (this one included) declares
entry points in that group, each naming a :class:`~app.pipelines.spec.PipelineSpec` or a
sequence of them (which may also hold the :class:`~app.pipelines.spec.ReferenceSpec` of a
task's reference network, and whose specs declare the pipeline's own layer kinds, codec
ids and display names) (napari finds its readers through its plug-in manifest the same way).
Listing names, descriptions and parameters reads only the specs, so no torch is imported;
a pipeline's class is imported and instantiated when it is first used (CompressAI's model
zoo is lazy the same way). An entry point that fails to load, or names something that is
not a spec, is listed under its entry-point name with the error; the rest keep working.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from app.errors import PipelineError
from app.pipelines.base import ParamSpec, Pipeline
from app.pipelines.spec import OWN_IDS, PipelineSpec, ReferenceSpec, name_layers

GROUP = "edms_workbench.pipelines"
_OWN_DISTRIBUTION = "edms-workbench"


@dataclass
class _Entry:
    """One listed pipeline: from a spec, an in-process factory, or a plug-in that failed."""

    name: str
    description: str
    origin: str  # "edms-workbench", a plug-in's distribution, or "in-process"
    spec: PipelineSpec | None = None
    factory: Callable[[], Pipeline] | None = None
    error: str | None = None


_ENTRIES: dict[str, _Entry] = {}
_INSTANCES: dict[str, Pipeline] = {}
_LOCAL: dict[str, _Entry] = {}  # registered in-process; survive reload()
_REFERENCES: dict[str, ReferenceSpec] = {}  # reference networks of the tasks, by name
_LOADED = False
_LOCK = threading.RLock()  # loading the entry points (reentrant: reload() loads again)


def register(name: str, factory: Callable[[], Pipeline], description: str) -> None:
    """Register an in-process pipeline ``factory`` under ``name`` (test doubles, scripts).

    Products register through the entry-point group instead. ``factory.pipeline_class``,
    if present, returns the class, so its parameters are known without instantiating it.
    """
    entry = _Entry(name, description, "in-process", factory=factory)
    _LOCAL[name] = entry
    _ensure_loaded()
    _ENTRIES[name] = entry
    _INSTANCES.pop(name, None)


def unregister(name: str) -> None:
    """Forget an in-process registration (no effect on entry-point pipelines)."""
    _LOCAL.pop(name, None)
    if name in _ENTRIES and _ENTRIES[name].origin == "in-process":
        del _ENTRIES[name]
    _INSTANCES.pop(name, None)


def reload() -> None:
    """Scan the entry points again (after ``sys.path`` changed) and drop loaded instances."""
    global _LOADED
    with _LOCK:
        _LOADED = False
        _ENTRIES.clear()
        _INSTANCES.clear()
        _REFERENCES.clear()
        _ensure_loaded()


def available() -> list[str]:
    """Names of all listed pipelines: this distribution's first, in entry-point order,
    then plug-ins; a plug-in that failed to load is listed under its entry-point name."""
    _ensure_loaded()
    return list(_ENTRIES)


def spec(name: str) -> PipelineSpec | None:
    """The spec of ``name`` (None for in-process registrations and failed plug-ins)."""
    return _entry(name).spec


def layer_names(name: str, kinds: list[str]) -> list[str]:
    """Names for the layers of a ``name`` file whose kinds are ``kinds``, read from the
    spec (no import); an unknown pipeline's layers are named by kind
    (:func:`app.pipelines.spec.name_layers`)."""
    _ensure_loaded()
    entry = _ENTRIES.get(name)
    named = entry.spec.layer_names if entry is not None and entry.spec is not None else None
    return name_layers(kinds, named)


def kind_text(name: str, kind: int) -> str:
    """A layer kind of a ``name`` file for people: ``"side info"``, or the name the
    pipeline's spec gives its own kind (``"kind 200"`` when nobody names it)."""
    from app.pipelines.base import kind_text as text

    return text(kind, own_layer_kinds(name))


def kind_key(name: str, kind: int) -> str:
    """A layer kind as a key of JSON results: ``"side_info"``, or the pipeline's name
    for its own kind (``"kind_200"`` when nobody names it)."""
    return kind_text(name, kind).replace(" ", "_")


def own_layer_kinds(name: str) -> dict[int, str]:
    """The layer kinds the spec of ``name`` declares (:data:`app.pipelines.spec.OWN_IDS`);
    empty for an unknown pipeline."""
    sp = _spec_or_none(name)
    return dict(sp.layer_kinds) if sp is not None else {}


def codec_name(name: str, codec_id: int) -> str:
    """A layer codec of a ``name`` file for people: the shared table's name
    (:data:`app.codecs.CODEC_IDS`), the name the pipeline's spec gives its own id, or
    ``"codec N"`` when nobody names it."""
    if codec_id in OWN_IDS:
        sp = _spec_or_none(name)
        return sp.codec_ids.get(codec_id, f"codec {codec_id}") if sp else f"codec {codec_id}"
    from app.codecs import CODEC_IDS  # the codec modules load only when a file is shown

    return CODEC_IDS.get(codec_id, f"codec {codec_id}")


def display_names() -> dict[str, str]:
    """Words of view and layer names written the way the pipelines' papers write them
    (``{"menet": "MENet"}``), from every spec."""
    _ensure_loaded()
    out: dict[str, str] = {}
    for entry in _ENTRIES.values():
        if entry.spec is not None:
            out.update({k.lower(): v for k, v in entry.spec.display_names.items()})
    return out


def default_anchor() -> str:
    """The pipeline BD-rates are measured against unless told otherwise (the first spec
    that says ``anchor=True``; else the first pipeline listed)."""
    _ensure_loaded()
    for name, entry in _ENTRIES.items():
        if entry.spec is not None and entry.spec.anchor:
            return name
    return next(iter(_ENTRIES), "")


def references(task: str | None = None) -> list[ReferenceSpec]:
    """The reference networks of ``task`` (all tasks: None), each task's default first."""
    _ensure_loaded()
    return [r for r in _REFERENCES.values() if task is None or r.task == task]


def reference(task: str, name: str = "") -> ReferenceSpec:
    """The reference network ``name`` of ``task`` (empty: the task's default);
    :class:`PipelineError` for an unknown task or a network of another task."""
    known = references(task)
    if not known:
        tasks = dict.fromkeys(r.task for r in references())
        raise PipelineError(f"unknown task {task!r}; known: {', '.join(tasks)}")
    if not name:
        return known[0]
    for ref in known:
        if ref.name == name:
            return ref
    raise PipelineError(f"--reference {name!r} is not a {task} network; "
                        f"known: {', '.join(r.name for r in known)}")


def origin(name: str) -> str:
    """The distribution that declares ``name`` (``"in-process"`` for :func:`register`)."""
    return _entry(name).origin


def describe(name: str) -> str:
    _ensure_loaded()
    return _ENTRIES[name].description if name in _ENTRIES else ""


def load_error(name: str) -> str | None:
    """Why the plug-in listed as ``name`` failed to load, or None."""
    return _entry(name).error


def named_params(pname: str) -> list[ParamSpec]:
    """Every loadable pipeline's parameter called ``pname`` (``tune``), from the specs:
    how a value given by name on the command line, or a label, finds its meaning."""
    return [spec for name in available() if load_error(name) is None
            for spec in params(name) if spec.name == pname]


def params(name: str) -> tuple[ParamSpec, ...]:
    """The rate parameters of ``name`` without importing its class or loading networks."""
    entry = _entry(name)
    if entry.error is not None:
        raise PipelineError(entry.error)
    if name in _INSTANCES:
        return tuple(_INSTANCES[name].params)
    if entry.spec is not None:
        return entry.spec.params
    cls_getter = getattr(entry.factory, "pipeline_class", None)
    if cls_getter is not None:
        return tuple(cls_getter().params)
    return tuple(get(name).params)


def get(name: str) -> Pipeline:
    """The (cached) pipeline instance for ``name``; PipelineError if unknown or broken."""
    entry = _entry(name)
    if entry.error is not None:
        raise PipelineError(entry.error)
    if name not in _INSTANCES:
        _INSTANCES[name] = _instantiate(entry)
    return _INSTANCES[name]


def status(name: str) -> str | None:
    """None when ``name`` can be instantiated, else the one-line reason it cannot."""
    try:
        get(name)
    except PipelineError as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------- internals


def _spec_or_none(name: str) -> PipelineSpec | None:
    _ensure_loaded()
    entry = _ENTRIES.get(name)
    return entry.spec if entry is not None else None


def _entry(name: str) -> _Entry:
    _ensure_loaded()
    if name not in _ENTRIES:
        raise PipelineError(f"unknown pipeline {name!r}; available: {', '.join(_ENTRIES)}")
    return _ENTRIES[name]


def _instantiate(entry: _Entry) -> Pipeline:
    if entry.factory is not None:
        return entry.factory()
    assert entry.spec is not None
    sp = entry.spec
    try:
        impl = sp.load()
    except Exception as exc:  # a plug-in's import error becomes a message
        raise PipelineError(f"{sp.name}: cannot import {sp.impl}: "
                            f"{type(exc).__name__}: {exc}") from exc
    if not (isinstance(impl, type) and issubclass(impl, Pipeline)):
        raise PipelineError(f"{sp.name}: {sp.impl} is not a Pipeline class")
    pipeline = impl.from_spec(sp)
    if pipeline.name != sp.name or pipeline.version != sp.version:
        raise PipelineError(f"{sp.impl} is {pipeline.name!r} v{pipeline.version}, its spec "
                            f"says {sp.name!r} v{sp.version}")
    return pipeline


def _entry_points() -> list[metadata.EntryPoint]:
    eps = list(metadata.entry_points(group=GROUP))

    def own(ep: metadata.EntryPoint) -> bool:
        dist = ep.dist
        return dist is not None and _normalise(dist.name) == _OWN_DISTRIBUTION

    return [ep for ep in eps if own(ep)] + [ep for ep in eps if not own(ep)]


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _add(entry: _Entry) -> None:
    if entry.name in _ENTRIES:
        other = _ENTRIES[entry.name]
        why = f"pipeline {entry.name!r} of {entry.origin} is already declared by {other.origin}"
        entry = _Entry(f"{entry.name} ({entry.origin})", why, entry.origin, error=why)
    _ENTRIES[entry.name] = entry


def _ensure_loaded() -> None:
    """Load the entry points once. Under a lock, and marked loaded only when every entry
    is in: the GUI lists pipelines in one thread while another may already describe a
    file, and must never see a half-filled registry."""
    global _LOADED
    if _LOADED:
        return
    with _LOCK:
        if _LOADED:
            return
        for ep in _entry_points():
            _load_entry_point(ep)
        _ENTRIES.update(_LOCAL)
        _LOADED = True


def _load_entry_point(ep: metadata.EntryPoint) -> None:
    dist = ep.dist.name if ep.dist is not None else "unknown distribution"
    try:
        loaded: Any = ep.load()
        specs = [loaded] if isinstance(loaded, PipelineSpec | ReferenceSpec) else list(loaded)
        bad = [s for s in specs if not isinstance(s, PipelineSpec | ReferenceSpec)]
        if bad or not specs:
            raise TypeError(f"expected PipelineSpec objects, got {bad[:1] or 'none'}")
    except Exception as exc:  # one broken plug-in must not stop the rest
        why = (f"plug-in {ep.name!r} ({dist}, {ep.value}) failed to load: "
               f"{type(exc).__name__}: {exc}")
        _add(_Entry(ep.name, why, dist, error=why))
        return
    for s in specs:
        if isinstance(s, ReferenceSpec):
            _REFERENCES.setdefault(s.name, s)  # the first declaration of a name wins
        else:
            _add(_Entry(s.name, s.description, dist, spec=s))
