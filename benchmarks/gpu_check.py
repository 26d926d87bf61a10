"""The GPU path, checked in minutes: one report, a non-zero exit status on any failure.

    python benchmarks/gpu_check.py                  # synthetic images and data sets
    python benchmarks/gpu_check.py --data DIR       # DIR/kodak, DIR/camvid, DIR/imagenette
    python benchmarks/gpu_check.py --cpu-only       # the CPU half
    python benchmarks/gpu_check.py --cpu-only --quick   # what CI runs (tests/test_gpu_check.py)

What it checks (issue 36):

1. **Pipelines.** Every registered pipeline whose decoder runs networks (its files carry
   the reconstruction check, :func:`app.api.runs_networks`) and whose encoder's analysis
   networks can move (:meth:`Pipeline.to` returns True) is encoded on a few Kodak-size
   (768x512) and odd-size images with its analysis on CUDA, then decoded on the CPU from
   the bytes: the decoder must rebuild the encoder's reconstruction (the file's
   reconstruction hash agrees). Encode and decode seconds on CUDA beside the CPU's.
   Without CUDA the CPU round trip alone runs (the reference the CUDA files are held to).
   Learned pipelines whose encoder keeps its networks on the CPU by design are listed.
2. **The Device selector, headless.** The GUI's worker (:class:`app.gui.worker.Worker`)
   in its own thread, driven through ``set_device`` and an ``encode`` job, exactly as the
   window's Device selector does; the job's result must name the device it ran on and be
   verified by the decoder. Without CUDA the choice "cuda" must fall back to the CPU and
   say so.
3. **Training.** ``edms train hyperprior|menet|deepsic`` with ``--config paper`` and
   ``--config lite`` for ``--steps`` steps on CUDA with mixed precision (bfloat16 where the
   device has it): steps per second and peak GPU memory. A checkpoint written on CUDA is
   resumed on the CPU, and one written on the CPU resumed on CUDA. Without CUDA: each
   network's lite config trains two steps on the CPU and resumes from its checkpoint for
   one more (hyperprior also with bfloat16 autocast on the CPU), so the CPU half
   exercises the same code.

Data: without ``--data`` every image and data set is synthetic (generated in a temporary
folder; a GPU machine that has the repository but not the data can run it). ``--data``
points at a folder with ``kodak/`` (PNG images), ``camvid/`` (CamVid layout) and/or
``imagenette/`` (``train/<wnid>/``, ``val/<wnid>/``); what is missing is synthesised.

The report names the CPU (model and vector instruction set torch uses) and the GPU beside
every timing, and ends with what was skipped and why.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

NETS = ("hyperprior", "menet", "deepsic")


@dataclass
class Report:
    """Lines of the report, the failures and what was skipped (with the reason)."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.lines.append(text)
        print(text, flush=True)

    def ok(self, what: str, detail: str = "") -> None:
        self.say(f"  ok    {what}{': ' + detail if detail else ''}")

    def fail(self, what: str, detail: str) -> None:
        self.failures.append(f"{what}: {detail}")
        self.say(f"  FAIL  {what}: {detail}")

    def skip(self, what: str, why: str) -> None:
        self.skipped.append(f"{what}: {why}")
        self.say(f"  skip  {what}: {why}")

    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """A failure inside is reported (with the last lines of its traceback), not
        raised, so every check runs."""
        try:
            yield
        except BaseException as exc:  # noqa: BLE001 - SystemExit of a trainer included
            if isinstance(exc, KeyboardInterrupt):
                raise
            tail = traceback.format_exc().strip().splitlines()[-3:]
            self.fail(what, f"{type(exc).__name__}: {exc} | " + " / ".join(tail))


def machine() -> tuple[str, str]:
    """(CPU model and the vector ISA torch dispatches to, GPU name or "none")."""
    import torch

    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    isa = "unknown"
    with contextlib.suppress(Exception):
        isa = torch.backends.cpu.get_cpu_capability()
    cpu = f"{model}, {os.cpu_count()} logical CPUs, torch CPU ISA {isa}, " \
          f"{torch.get_num_threads()} torch threads"
    gpu = "none"
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        gpu = f"{p.name} ({p.total_memory / 2**30:.0f} GiB, bf16 " \
              f"{'yes' if torch.cuda.is_bf16_supported() else 'no'})"
    return cpu, gpu


# ----------------------------------------------------------------------------- data


def synthetic_image(h: int, w: int, seed: int) -> np.ndarray:
    """A photograph-like test image: smooth gradients, a few flat shapes with edges,
    fine texture and mild noise (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 90 * np.sin(xx / (37 + 11 * c) + yy / (53 + 7 * c) + c)
                    for c in range(3)], -1)
    for _ in range(6):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(8, max(h, w) / 4)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 255, 3)
    img += 10 * np.sin(xx[..., None] * 0.9) * np.cos(yy[..., None] * 0.7)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_images(data: Path | None, gpu: bool, quick: bool = False
                ) -> list[tuple[str, np.ndarray]]:
    """Kodak-size (768x512 and its portrait) and odd-size images: Kodak's own when
    ``data/kodak`` exists, synthetic otherwise; two of each kind on CUDA (333x251 and
    97x61), one on the CPU (97x61); ``quick``: the 97x61 image alone."""
    if quick:
        return [("synthetic 97x61", synthetic_image(61, 97, 11))]
    n = 2 if gpu else 1
    images: list[tuple[str, np.ndarray]] = []
    kodak = data / "kodak" if data else None
    if kodak and kodak.is_dir():
        from app.imageio import load_image

        for path in sorted(kodak.glob("*.png"))[:n]:
            images.append((path.name, load_image(path).array))
    while len(images) < n:
        h, w = (512, 768) if len(images) % 2 == 0 else (768, 512)
        images.append((f"synthetic {w}x{h}", synthetic_image(h, w, len(images))))
    # the CPU half takes the smaller odd size (it must run in under a minute on one core)
    for i, (h, w) in enumerate([(251, 333), (61, 97)][:n] if gpu else [(61, 97)]):
        if images and kodak and kodak.is_dir():
            base = images[i % len(images)][1]
            images.append((f"{images[i][0]} cropped {w}x{h}", base[:h, :w].copy()))
        else:
            images.append((f"synthetic {w}x{h}", synthetic_image(h, w, 10 + i)))
    return images


def camvid_like(root: Path, n_train: int = 4, n_val: int = 1) -> Path:
    """A CamVid-layout folder (``train``, ``trainannot``, ``val``, ``valannot``) of
    synthetic 264x320 frames with blocky labels of the 11 classes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / f"{split}annot").mkdir(exist_ok=True)
        for i in range(n):
            lab = rng.integers(0, 11, (11, 10)).repeat(24, 0).repeat(32, 1).astype(np.uint8)
            img = synthetic_image(264, 320, 100 + i + 50 * (split == "val"))
            img = (img.astype(np.int32) // 2 + lab[..., None] * (9, 5, 13) % 128).clip(0, 255)
            Image.fromarray(img.astype(np.uint8)).save(root / split / f"f{i}.png")
            Image.fromarray(lab).save(root / f"{split}annot" / f"f{i}.png")
    return root


def imagenette_like(root: Path, per_class: int = 2) -> Path:
    """An Imagenette-layout folder: ``train/<wnid>/`` (``per_class`` images) and
    ``val/<wnid>/`` (one) for the ten classes, synthetic 160x160 JPEGs."""
    from PIL import Image

    from app.classes import IMAGENETTE_CLASSES

    for split, n in (("train", per_class), ("val", 1)):
        for c, (wnid, _) in enumerate(IMAGENETTE_CLASSES):
            folder = root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = synthetic_image(160, 160, 1000 + 37 * c + i + 500 * (split == "val"))
                Image.fromarray(img).save(folder / f"{wnid}_{i}.JPEG", quality=90)
    return root


# ------------------------------------------------------------------------ pipelines


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def check_pipelines(rep: Report, images: list[tuple[str, np.ndarray]], cuda: bool,
                    gpu: str, cpu: str) -> str | None:
    """Section 1; returns the name of one movable pipeline (for the worker check)."""
    from app import api
    from app.pipelines import registry

    rep.say("1. learned pipelines: analysis on CUDA, decoded on the CPU, bit-exact")
    movable: list[str] = []
    fixed: list[str] = []
    for name in registry.available():
        with rep.guard(f"load {name}"):
            p = registry.get(name)
            if not api.runs_networks(p):
                continue
            (movable if p.to("cpu") else fixed).append(name)
    if fixed:
        rep.say(f"  note  learned, encoder keeps its networks on the CPU by design "
                f"(Pipeline.to is False; nothing moves to CUDA): {', '.join(fixed)}")
    rep.say(f"  timings: CPU = {cpu}; CUDA = {gpu}")
    for name in movable:
        p = registry.get(name)
        params = {s.name: s.default for s in p.params}
        if cuda:  # the first CUDA call pays for kernels and cuDNN plans: not timed
            with rep.guard(f"{name} CUDA warm-up"):
                p.to("cuda")
                api.code(p, p.prepare(images[-1][1]), params)
                p.to("cpu")
        for label, img in images:
            what = f"{name} {params} on {label}"
            with rep.guard(what):
                p.to("cpu")
                t0 = time.perf_counter()
                prep = p.prepare(img)
                prep_s = time.perf_counter() - t0
                ref = api.round_trip(p, prep, params, what)
                cpu_t = f"CPU enc {prep_s + ref.encode_s:.2f} s dec {ref.decode_s:.2f} s"
                if not cuda:
                    rep.ok(what, f"{cpu_t}, {ref.file_bytes} B, hash "
                           f"{api.reconstruction_hash(ref.decoded).hex()}")
                    continue
                p.to("cuda")
                if p.analysis_device != "cuda":
                    raise RuntimeError(f"analysis_device is {p.analysis_device} after to(cuda)")
                _sync()
                t0 = time.perf_counter()
                coded = api.code(p, p.prepare(img), params)
                _sync()
                enc_s = time.perf_counter() - t0
                p.to("cpu")  # a CPU-only decoder: everything back on the CPU
                decoded, dec_s = api.decode_checked(p, coded.data,
                                                    coded.encoded.reconstruction, what)
                same = "same bytes as the CPU's" if coded.data == ref.data else \
                    "other bytes than the CPU's (analysis rounding differs)"
                rep.ok(what, f"CUDA enc {enc_s:.2f} s, CPU dec {dec_s:.2f} s (bit-exact, "
                       f"hash {api.reconstruction_hash(decoded).hex()}); {cpu_t}; {same}")
        p.to("cpu")
    if not cuda:
        rep.skip("CUDA encode of " + ", ".join(movable),
                 "torch sees no CUDA device; the CPU round trips above are the reference")
    return movable[0] if movable else None


# --------------------------------------------------------------------------- worker


def check_worker(rep: Report, pipeline: str | None, cuda: bool) -> None:
    """Section 2: the Device selector's path (``Worker.set_device`` then an encode job),
    with the worker in its own thread as the window runs it."""
    rep.say("2. the worker's device switch, headless (the Device selector's path)")
    if pipeline is None:
        rep.skip("device switch", "no pipeline with movable analysis networks")
        return
    from PySide6.QtCore import QCoreApplication, Qt

    from app.gui.worker import Job, WorkerThread

    _app = QCoreApplication.instance() or QCoreApplication([])
    wt = WorkerThread()
    w = wt.worker
    got: dict[str, list] = {"devices": [], "labels": [], "results": [], "updates": [],
                            "finished": [], "failed": []}
    direct = Qt.ConnectionType.DirectConnection  # no event loop needed to collect them
    w.devices_ready.connect(lambda d: got["devices"].append(d), direct)
    w.device_changed.connect(lambda s: got["labels"].append(s), direct)
    w.result_ready.connect(lambda j, r: got["results"].append(r), direct)
    w.result_updated.connect(lambda k, u: got["updates"].append(u), direct)
    w.job_finished.connect(lambda j, s: got["finished"].append((j.id, s)), direct)
    w.failed.connect(lambda j, m: got["failed"].append(m), direct)
    image = synthetic_image(96, 128, 7)

    def wait(pred: Callable[[], bool], what: str, timeout: float = 120) -> None:
        t0 = time.monotonic()
        while not pred():
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"{what} did not happen in {timeout:.0f} s "
                                   f"(failures: {got['failed']})")
            time.sleep(0.02)

    try:
        wait(lambda: bool(got["devices"]) and bool(got["labels"]), "worker start-up")
        rep.ok("worker offers", f"{got['devices'][0]}")
        for choice in ("cuda", "cpu"):
            with rep.guard(f"device {choice}"):
                n_labels = len(got["labels"])
                w.set_device(choice)
                job = w.submit(Job(kind="encode", image=image, image_id=1, pipeline=pipeline,
                                   params={}, side="A"))
                wait(lambda j=job: any(i == j.id for i, _ in got["finished"]), "encode job")
                status = dict(got["finished"])[job.id]
                label = got["labels"][n_labels] if len(got["labels"]) > n_labels else "?"
                result = got["results"][-1]
                wait(lambda: any(u.get("verified") for u in got["updates"]), "verification",
                     30)
                want = "cuda" if choice == "cuda" and cuda else "cpu"
                if status != "done" or result.device != want:
                    raise RuntimeError(f"job {status}, ran on {result.device}, expected {want}"
                                       f" ({got['failed']})")
                if choice == "cuda" and not cuda and "CUDA unavailable" not in label:
                    raise RuntimeError(f"the status bar was told {label!r}")
                got["updates"].clear()
                rep.ok(f"Device {choice!r}", f"status bar {label!r}; {pipeline} encoded on "
                       f"{result.device} and verified by the CPU decoder")
    finally:
        wt.shutdown(10000)
    if not cuda:
        rep.skip("Device 'cuda' on a GPU", "torch sees no CUDA device: the choice fell back "
                 "to the CPU (checked above)")


# ------------------------------------------------------------------------- training


def _train(argv: list[str], quiet: bool = True) -> tuple[str, dict[str, float]]:
    """``edms train ARGV`` in this process; returns its output and the loop's stats."""
    from app.train import train_main
    from app.train.common import LAST_STATS

    LAST_STATS.clear()
    buf = io.StringIO()
    with contextlib.ExitStack() as stack:
        if quiet:  # the trainer's lines and progress bar
            stack.enter_context(contextlib.redirect_stdout(buf))
            stack.enter_context(contextlib.redirect_stderr(buf))
        code = train_main(argv)
    if code:
        raise RuntimeError(f"exit status {code}: {buf.getvalue()[-500:]}")
    return buf.getvalue(), dict(LAST_STATS)


def _resumed_step(run_dir: Path) -> int:
    import torch

    return int(torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)["step"])


def check_training(rep: Report, tmp: Path, data: Path | None, cuda: bool, steps: int,
                   gpu: str, cpu: str) -> None:
    """Section 3 (see the module docstring)."""
    import torch

    rep.say("3. training: steps on "
            + (f"CUDA ({gpu}), mixed precision" if cuda else f"the CPU ({cpu})"))
    camvid = data / "camvid" if data and (data / "camvid" / "train").is_dir() else None
    nette = data / "imagenette" if data and (data / "imagenette" / "train").is_dir() else None
    camvid = camvid or camvid_like(tmp / "camvid")
    nette = nette or imagenette_like(tmp / "imagenette")
    per_net = {
        "hyperprior": ["--data", str(camvid), "--val-frames", "1", "--limit", "8"],
        "menet": ["--data", str(camvid), "--val-frames", "1", "--limit", "8"],
        "deepsic": ["--data", str(nette), "--limit", "2", "--val-per-class", "1",
                    "--fit-images", "2"],
    }
    quiet_opts = ["--val-every", "1000000", "--ckpt-minutes", "1000"]
    small = ["--batch", "2", "--crop", "64"]
    if not cuda:
        for net in NETS:
            run_dir = tmp / f"cpu-{net}"
            base = [net, *per_net[net], "--config", "lite", "--device", "cpu", *quiet_opts,
                    *small, "--run-dir", str(run_dir), "--threads", "1"]
            with rep.guard(f"train {net} lite on the CPU"):
                _, st = _train([*base, "--iters", "2"])
                _train([*base, "--iters", "3", "--resume"])
                if _resumed_step(run_dir) != 3:
                    raise RuntimeError("the resumed run did not continue from step 2")
                rep.ok(f"train {net} lite on the CPU", f"{st['steps_per_s']:.2f} steps/s at "
                       "batch 2, 64x64 crops; checkpoint resumed (step 2 -> 3)")
        with rep.guard("train hyperprior lite, bfloat16 autocast on the CPU"):
            _, st = _train(["hyperprior", *per_net["hyperprior"], "--device", "cpu",
                            "--amp", "bf16", *quiet_opts, *small, "--iters", "1",
                            "--threads", "1", "--run-dir", str(tmp / "cpu-bf16")])
            rep.ok("train hyperprior lite, bfloat16 autocast on the CPU",
                   f"{st['steps_per_s']:.2f} steps/s")
        rep.skip("train on CUDA (paper and lite), steps/s, peak memory, resume across "
                 "devices", "torch sees no CUDA device")
        return
    for net in NETS:
        for config in ("paper", "lite"):
            what = f"train {net} --config {config}"
            run_dir = tmp / f"{net}-{config}"
            with rep.guard(what):
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                _, st = _train([net, *per_net[net], "--config", config, "--device", "cuda",
                                *quiet_opts, "--iters", str(steps), "--run-dir", str(run_dir)])
                peak = torch.cuda.max_memory_allocated() / 2**30
                steady = (f" ({st['steady_steps_per_s']:.2f} after the first 5)"
                          if "steady_steps_per_s" in st else "")
                rep.ok(what, f"{st['steps_per_s']:.2f} steps/s{steady} over "
                       f"{int(st['steps'])} steps "
                       f"(default batch and crop, bf16 autocast "
                       f"{'on' if torch.cuda.is_bf16_supported() else 'off'}), "
                       f"peak GPU memory {peak:.2f} GiB")
            with rep.guard(f"{what}: CUDA checkpoint resumed on the CPU"):
                _train([net, *per_net[net], "--config", config, "--device", "cpu",
                        *quiet_opts, *small, "--iters", str(steps + 1), "--resume",
                        "--run-dir", str(run_dir)])
                if _resumed_step(run_dir) != steps + 1:
                    raise RuntimeError("the CPU run did not continue the CUDA checkpoint")
                rep.ok(f"{what}: CUDA checkpoint resumed on the CPU",
                       f"step {steps} -> {steps + 1}")
        what = f"train {net} lite: CPU checkpoint resumed on CUDA"
        with rep.guard(what):
            run_dir = tmp / f"{net}-cpu-to-cuda"
            base = [net, *per_net[net], "--config", "lite", *quiet_opts, *small,
                    "--run-dir", str(run_dir)]
            _train([*base, "--device", "cpu", "--iters", "2"])
            _train([*base, "--device", "cuda", "--iters", "3", "--resume"])
            if _resumed_step(run_dir) != 3:
                raise RuntimeError("the CUDA run did not continue the CPU checkpoint")
            rep.ok(what, "step 2 -> 3")


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None,
                    help="folder with kodak/, camvid/, imagenette/ (each optional)")
    ap.add_argument("--cpu-only", action="store_true", help="the CPU half, even with CUDA")
    ap.add_argument("--steps", type=int, default=30, help="training steps per run on CUDA")
    ap.add_argument("--quick", action="store_true",
                    help="one small odd-size image in section 1 (the CI test's setting)")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: "
                    "pipelines, worker, train")
    args = ap.parse_args(argv)
    import torch

    t0 = time.monotonic()
    cuda = torch.cuda.is_available() and not args.cpu_only
    cpu, gpu = machine()
    rep = Report()
    rep.say(f"gpu_check: CPU {cpu}")
    rep.say(f"gpu_check: GPU {gpu}; torch {torch.__version__}"
            + ("" if cuda else " -- running the CPU half"))
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if not cuda:
        rep.skip("every CUDA check", "--cpu-only" if torch.cuda.is_available()
                 else "torch sees no CUDA device (torch.cuda.is_available() is False)")
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        pipe = None
        if "pipelines" in skip:
            rep.skip("section 1", "--skip pipelines")
        else:
            pipe = check_pipelines(rep, test_images(args.data, cuda, args.quick), cuda, gpu,
                                   cpu)
        if "worker" in skip:
            rep.skip("section 2", "--skip worker")
        else:
            with rep.guard("worker"):
                check_worker(rep, pipe or "smic", cuda)
        if "train" in skip:
            rep.skip("section 3", "--skip train")
        else:
            cwd = Path.cwd()
            os.chdir(tmp)  # nothing a trainer writes lands in the repository
            try:
                check_training(rep, Path(tmp), args.data.resolve() if args.data else None,
                               cuda, args.steps, gpu, cpu)
            finally:
                os.chdir(cwd)
    rep.say(f"gpu_check: {len(rep.failures)} failure(s), {len(rep.skipped)} skipped, "
            f"{time.monotonic() - t0:.1f} s")
    for s in rep.skipped:
        rep.say(f"  skipped: {s}")
    for f in rep.failures:
        rep.say(f"  FAILED: {f}")
    return 1 if rep.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
