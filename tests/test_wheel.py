"""The wheel is installable: built from this tree, installed into a fresh environment, its
``edms`` encodes and decodes from a folder outside the clone with the weights the wheel
carries (not the repository's ``models/``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pytest

from app.imageio import load_image, save_image_atomic

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess:
    res = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"{args}: {res.stderr[-2000:]}"
    return res


@pytest.mark.slow
def test_built_wheel_encodes_and_decodes_outside_the_clone(tmp_path: Path) -> None:
    pytest.importorskip("build")
    dist, src = tmp_path / "dist", tmp_path / "src"
    # a copy of the tree, so that the build leaves nothing in the clone
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "runs", "*.egg-info", "__pycache__", ".*_cache"))
    # --no-isolation: build with this environment's setuptools (no download)
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist),
          str(src)], cwd=tmp_path)
    wheel = next(dist.glob("edms_workbench-*.whl"))

    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--no-index", "-q", str(wheel)], cwd=tmp_path)
    # The dependencies (torch, Qt, ...) come from this test environment: its site-packages
    # is appended to the new one's path (as --system-site-packages would for a system
    # Python). Only a folder is added, so this environment's editable install of the
    # project is not (its import hook is a .pth file, which is not read from there).
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                cwd=tmp_path).stdout.strip()
    Path(site, "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "outside"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "EDMS_MODELS_DIR", "VIRTUAL_ENV")}
    where = _run([str(python), "-c", "import app; from app.nets import zoo; "
                  "print(app.__file__); print(zoo.models_dir())"], work, env).stdout.split()
    assert Path(where[0]).is_relative_to(env_dir), where
    assert Path(where[1]).is_relative_to(env_dir) and Path(where[1], "segnet-lite.json").is_file()
    assert Path(site, "app", "py.typed").is_file()
    # the published reference curves travel too, and published:SET/NAME finds them there
    got = _run([str(python), "-c", "from app.refcurves import published_root, read_curve; "
                "print(published_root()); "
                "print(read_curve('published:kodak/bpg_444_x265_ycbcr').name)"],
               work, env).stdout.splitlines()
    assert Path(got[0]).is_relative_to(env_dir) and Path(got[0], "kodak", "vtm.json").is_file()
    assert got[1] == "BPG 8b 444 x265 ycbcr"

    y, x = np.mgrid[0:40, 0:48]
    image = np.stack([x * 5, y * 6, (x + y) * 3], 2).astype(np.uint8)
    save_image_atomic(work / "in.png", image)
    edms = str(bindir / "edms")
    listed = _run([edms, "pipelines"], work, env).stdout
    assert "edms-noenh" in listed and "hevc" in listed
    for name in ("edms-noenh", "hevc"):
        _run([edms, "encode", "in.png", "-p", name, "-o", f"{name}.edms",
              "--recon", f"{name}-recon.png"], work, env)
        _run([edms, "decode", f"{name}.edms", "-o", f"{name}-out.png"], work, env)
        out = load_image(work / f"{name}-out.png").array
        assert np.array_equal(out, load_image(work / f"{name}-recon.png").array)
        assert out.shape == image.shape
