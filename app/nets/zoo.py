"""Loading the shipped network weights (``models/<name>-<config>.safetensors`` + ``.json``).

Only safetensors files are loaded (never pickles). Each weights file comes with a JSON
manifest (config dict, sha256 of the weights file, training data, steps, validation
metrics, date, torch version); the sha256 is verified before the weights are read, so a
corrupt or swapped file is refused instead of silently producing different bitstreams.

The models folder is ``$EDMS_MODELS_DIR`` if set, else ``models/`` at the repository root.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from app.errors import PipelineError


def _builders() -> dict[str, Callable[[dict[str, Any]], nn.Module]]:
    from app.nets.deepsic import DeepSIC
    from app.nets.dsslic import DSSLIC
    from app.nets.hyperprior import ScaleHyperprior
    from app.nets.menet import MENet
    from app.nets.postnet import PostNet
    from app.nets.segnet import SegNet
    from app.nets.smapnet import SMapNet
    from app.nets.smic import RecNet, SSNet

    # dsslic-edms: the same CompNet/FineNet, FineNet fine-tuned on SMapNet's output (EDMS)
    return {"segnet": SegNet, "dsslic": DSSLIC, "dsslic-edms": DSSLIC, "smapnet": SMapNet,
            "ssnet": SSNet, "recnet": RecNet, "postnet": PostNet,
            "hyperprior": lambda c: ScaleHyperprior(**c), "menet": lambda c: MENet(**c),
            **dict.fromkeys(("deepsic", "deepsic-pre", "deepsic-post"), lambda c: DeepSIC(**c))}


def models_dir() -> Path:
    env = os.environ.get("EDMS_MODELS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models"


def _paths(name: str, config: str, root: Path | None) -> tuple[Path, Path]:
    root = Path(root) if root is not None else models_dir()
    stem = f"{name}-{config}"
    return root / f"{stem}.safetensors", root / f"{stem}.json"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(name: str, config: str = "lite", root: Path | None = None) -> dict[str, Any]:
    """The manifest of ``<name>-<config>``; :class:`PipelineError` if it is missing or bad."""
    st, js = _paths(name, config, root)
    if not js.exists() or not st.exists():
        raise PipelineError(
            f"weights for {name!r} ({config}) not found: expected {st.name} and {js.name} in "
            f"{st.parent}; train them with `edms train {name} --config {config} ...`")
    try:
        man = json.loads(js.read_text())
    except (OSError, ValueError) as e:
        raise PipelineError(f"unreadable manifest {js}: {e}") from e
    for key in ("sha256", "config"):
        if key not in man:
            raise PipelineError(f"manifest {js} lacks {key!r}")
    return man


def verified_path(name: str, config: str = "lite", root: Path | None = None
                  ) -> tuple[Path, dict[str, Any]]:
    """Path of the weights file after checking its sha256 against the manifest."""
    st, _ = _paths(name, config, root)
    man = read_manifest(name, config, root)
    digest = sha256_file(st)
    if digest != man["sha256"]:
        raise PipelineError(
            f"{st.name}: sha256 {digest[:16]}... does not match its manifest "
            f"({str(man['sha256'])[:16]}...); the weights file is corrupt or was replaced")
    return st, man


def load_model(name: str, config: str = "lite", device: str | torch.device = "cpu",
               root: Path | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Build ``name`` (``segnet``, ``dsslic``, ``smapnet``, ``ssnet``, ``recnet``) from its
    manifest config, load the verified fp16 weights as float32 and return
    ``(module in eval mode, manifest)``."""
    builders = _builders()
    if name not in builders:
        raise PipelineError(f"unknown network {name!r}; known: {sorted(builders)}")
    st, man = verified_path(name, config, root)
    model = builders[name](man["config"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(st)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise PipelineError(f"{st.name} does not fit the {name} network: missing "
                            f"{missing[:3]}, unexpected {unexpected[:3]}")
    return model.to(device).eval(), man


def fingerprint(names: str | Iterable[str], config: str = "lite",
                root: Path | None = None) -> bytes:
    """First 8 bytes of the sha256 over the weights file(s) used by a pipeline.

    For several networks the per-file digests (from the manifests, verified) are hashed in
    the given order, so the fingerprint changes when any of them changes.
    """
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise PipelineError("fingerprint of no networks")
    digests = [bytes.fromhex(verified_path(n, config, root)[1]["sha256"]) for n in names]
    if len(digests) == 1:
        return digests[0][:8]
    return hashlib.sha256(b"".join(digests)).digest()[:8]
