"""What a pipeline is, declared without importing it: :class:`PipelineSpec`.

A spec is the one declaration of a pipeline (name, format version, description, rate
parameters, the paper it implements or ``"extension"``, and where its class lives). The
pipeline class reads its name, version, description and parameters from its spec
(:meth:`app.pipelines.base.Pipeline.__init_subclass__`). Specs are found through the
``edms_workbench.pipelines`` entry-point group (:mod:`app.pipelines.registry`), the
built-in ones included, so this module and every module that declares specs must import
without torch: listing pipelines, their parameters and descriptions loads no network.
"""

from __future__ import annotations

import importlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# What the .edms header can store (docs/edms-format.md, "Header body").
_NAME = re.compile(r"[a-z0-9-]{1,32}")
_PARAM_NAME = re.compile(r"[a-z][a-z0-9_]{0,15}")

#: One-byte layer kinds and codec ids from 128 to 254 belong to a pipeline: its spec
#: declares them (``layer_kinds``, ``codec_ids``) and they mean something only in the files
#: of that pipeline, whose name the header carries, so two plug-ins never collide. The
#: shared ones (:class:`app.pipelines.base.LayerKind`, :data:`app.codecs.CODEC_IDS`) stay
#: below 128; a plug-in declares a new layer kind without editing either table.
OWN_IDS = range(128, 255)


@dataclass(frozen=True)
class ParamSpec:
    """A pipeline's integer rate parameter (QP, native quality, sampling factor).

    ``values``, when not empty, is the discrete set of allowed values (e.g. SMIC's sampling
    factors 2/4/8/16); ``minimum``/``maximum`` are then its smallest and largest members.
    """

    name: str  # short key stored in the container, e.g. "qp" or "q"
    label: str  # for people, e.g. "QP" or "JPEG quality"
    minimum: int
    maximum: int
    default: int
    sweep: tuple[int, ...]  # default sweep, roughly 0.05-2 bpp on Kodak
    higher_is_better: bool  # True for quality knobs, False for QP
    values: tuple[int, ...] = ()  # allowed values if only some of minimum..maximum are
    #: names of the values 0..n-1 for a categorical parameter (HEVC's ``tune``: psnr,
    #: visual); the file stores the integer, people and the CLI may use the name
    choices: tuple[str, ...] = ()
    #: False for a setting that is not a rate knob (``tune``): sweeps keep its default and
    #: it does not make a pipeline "multi-parameter" (no RD hull over it)
    rate: bool = True

    def allows(self, value: int) -> bool:
        if self.values:
            return int(value) in self.values
        return self.minimum <= int(value) <= self.maximum

    def parse(self, text: str) -> int:
        """An integer value or, for a categorical parameter, one of its :attr:`choices`."""
        text = text.strip()
        if text in self.choices:
            return self.choices.index(text)
        try:
            return int(text)
        except ValueError:
            known = f" (one of {', '.join(self.choices)})" if self.choices else ""
            raise ValueError(f"{self.name}: {text!r} is not a valid value{known}") from None

    def format(self, value: int) -> str:
        """``value`` for people: its choice name for a categorical parameter."""
        if self.choices and 0 <= int(value) < len(self.choices):
            return self.choices[int(value)]
        return str(value)

    def describe_range(self) -> str:
        if self.choices:
            return "one of " + "/".join(self.choices)
        if self.values:
            return "one of " + "/".join(str(v) for v in self.values)
        return f"in {self.minimum}..{self.maximum}"


@dataclass(frozen=True)
class PipelineSpec:
    """The declaration of one pipeline; ``impl`` is ``"package.module:Class"``.

    ``version`` is the pipeline's bitstream version, stored in every ``.edms`` file it
    writes; bump it whenever the bytes change meaning. ``options`` are handed to the class
    by :meth:`app.pipelines.base.Pipeline.from_spec` (the classical baselines use it to
    name their codec); most pipelines need none. ``layer_names`` names, per layer kind
    (``"latent"``), the first, second, ... layer of that kind where they carry different
    things (MENet's two latents); it is data, so ``edms info`` and the GUI name a file's
    layers without importing the pipeline (:func:`name_layers`).
    """

    name: str
    version: int
    description: str
    params: tuple[ParamSpec, ...]
    paper: str  # the paper (and section) it implements, or "extension" for ours
    impl: str
    options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    layer_names: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False,
                                                    hash=False)
    #: older bitstream versions this pipeline's decoder still reads unchanged (the encoder
    #: changed, the meaning of the bytes did not: HEVC's PSNR tuning, for example)
    reads_versions: tuple[int, ...] = ()
    #: the pipeline's own layer kinds (:data:`OWN_IDS`) and their names, ``{200: "palette"}``
    layer_kinds: dict[int, str] = field(default_factory=dict, compare=False, hash=False)
    #: the pipeline's own codec ids (:data:`OWN_IDS`) and their names
    codec_ids: dict[int, str] = field(default_factory=dict, compare=False, hash=False)
    #: words of its view and layer names written the way its paper writes them
    #: (``{"menet": "MENet"}``), for the GUI's labels
    display_names: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    #: the default anchor of BD-rates (``edms eval --anchor``); one built-in spec says so
    anchor: bool = False

    def __post_init__(self) -> None:
        """Refuse what no ``.edms`` file could carry, when the spec is declared (a plug-in
        with a bad spec then fails to load and is listed with this message)."""
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"pipeline name {self.name!r} is not 1..32 of [a-z0-9-]")
        if not 0 <= self.version <= 2**31 - 1:
            raise ValueError(f"{self.name}: version {self.version} is out of range")
        if not self.params or not all(isinstance(p, ParamSpec) for p in self.params):
            raise ValueError(f"{self.name}: params must be a non-empty tuple of ParamSpec")
        bad = [p.name for p in self.params if not _PARAM_NAME.fullmatch(p.name)]
        if bad:
            raise ValueError(f"{self.name}: parameter names {bad} are not [a-z][a-z0-9_]*")
        if ":" not in self.impl:
            raise ValueError(f"{self.name}: impl {self.impl!r} is not 'module:Class'")
        for what, table in (("layer kind", self.layer_kinds), ("codec id", self.codec_ids)):
            wrong = [k for k, v in table.items() if k not in OWN_IDS or not v]
            if wrong:
                raise ValueError(f"{self.name}: own {what}s {wrong} are not named ids in "
                                 f"{OWN_IDS.start}..{OWN_IDS.stop - 1}")

    def load(self) -> Any:
        """Import and return the object ``impl`` names (this may import torch)."""
        return _load(self.impl)


@dataclass(frozen=True)
class ReferenceSpec:
    """A reference network of a task: run on decoded images by ``edms eval --task`` and the
    GUI (the *analysed* accuracy). Declared in the same entry points as the pipelines (a
    sequence of specs may hold both), so a plug-in adds one the same way.

    ``impl`` names ``function(config) -> analyser``; the analyser maps an HxWx3 uint8
    image to the task's output (an HxW class map, or the top-5 class indices). ``weights``
    is its network's name in the zoo, whose fingerprint keys cached results (empty: ``impl``
    and ``version`` do, :func:`app.eval.reference_fingerprint`). The first reference
    declared for a task (this distribution's first) is its default.
    """

    name: str
    task: str  # "segmentation" or "classification"
    label: str  # for people: "SegNet"
    description: str
    impl: str
    weights: str = ""
    version: int = 1

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"reference name {self.name!r} is not 1..32 of [a-z0-9-]")
        if ":" not in self.impl:
            raise ValueError(f"{self.name}: impl {self.impl!r} is not 'module:function'")

    def analyser(self, config: str = "lite") -> Any:
        """The analyser of ``config`` (imports the network, so usually torch)."""
        return _load(self.impl)(config)


def _load(impl: str) -> Any:
    module, _, attr = impl.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def name_layers(kinds: Sequence[str],
                named: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """A name per layer for people, from the layers' kinds (``"side info"``, ``"latent"``).

    The n-th layer of a kind takes ``named[kind][n]`` when the pipeline declares one;
    otherwise a kind that occurs more than once is numbered (``"latent 1"``, ``"latent 2"``).
    """
    named = named or {}
    total = Counter(kinds)
    seen: Counter[str] = Counter()
    out = []
    for kind in kinds:
        n, given = seen[kind], named.get(kind, ())
        seen[kind] += 1
        out.append(given[n] if n < len(given)
                   else f"{kind} {n + 1}" if total[kind] > 1 else kind)
    return out
