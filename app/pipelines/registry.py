"""Registry of pipelines by name.

Pipelines register a zero-argument factory, so listing them is cheap and learned
pipelines load their networks only when first used (CompressAI's model zoo does the
same with its ``models`` dict).
"""

from __future__ import annotations

from collections.abc import Callable

from app.errors import PipelineError
from app.pipelines.base import Pipeline

_FACTORIES: dict[str, tuple[Callable[[], Pipeline], str]] = {}
_INSTANCES: dict[str, Pipeline] = {}


def register(name: str, factory: Callable[[], Pipeline], description: str) -> None:
    """Register ``factory`` under ``name`` (replacing an earlier registration)."""
    _FACTORIES[name] = (factory, description)
    _INSTANCES.pop(name, None)


def available() -> list[str]:
    """Names of all registered pipelines, in registration order."""
    _ensure_builtin()
    return list(_FACTORIES)


def describe(name: str) -> str:
    _ensure_builtin()
    return _FACTORIES[name][1] if name in _FACTORIES else ""


def get(name: str) -> Pipeline:
    """The (cached) pipeline instance for ``name``; PipelineError if unknown."""
    _ensure_builtin()
    if name not in _FACTORIES:
        raise PipelineError(
            f"unknown pipeline {name!r}; available: {', '.join(_FACTORIES)}"
        )
    if name not in _INSTANCES:
        _INSTANCES[name] = _FACTORIES[name][0]()
    return _INSTANCES[name]


def params(name: str) -> tuple:
    """The rate parameters of ``name`` without loading its networks."""
    _ensure_builtin()
    if name in _INSTANCES:
        return _INSTANCES[name].params
    factory = _FACTORIES[name][0] if name in _FACTORIES else None
    cls_getter = getattr(factory, "pipeline_class", None)
    if cls_getter is not None:
        return cls_getter().params
    return get(name).params


def status(name: str) -> str | None:
    """None when ``name`` can be instantiated, else the one-line reason it cannot."""
    try:
        get(name)
    except PipelineError as exc:
        return str(exc)
    return None


_BUILTIN_DONE = False


def _ensure_builtin() -> None:
    global _BUILTIN_DONE
    if _BUILTIN_DONE:
        return
    _BUILTIN_DONE = True
    from app.pipelines import builtin  # noqa: F401  (registers on import)
