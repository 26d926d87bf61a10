"""What caps an end-to-end codec's quality: its transforms, or its quantisation?

    python benchmarks/e2e_ceiling.py IMAGES... [--net hyperprior] [--models DIR] [-q 3,6,10]
    python benchmarks/e2e_ceiling.py IMAGES... --pca 8:64,96 --pca 16:128,256 --fit TRAIN...
    python benchmarks/e2e_ceiling.py IMAGES... -q 10 --optimise-latent 150

For each quality it prints the mean PSNR of the synthesis fed the *unquantised* (gained)
latent, and fed the rounded one (what the codec decodes). If the first stops growing with
the quality, the transforms, not the bits, are the limit. ``--pca P:K,...`` adds the
linear bound of a given width: PCA of PxP RGB patches fitted on ``--fit`` images, keeping
K components, applied to IMAGES (a transform with K channels at 1/P resolution can do at
least this well if it were linear and optimal). ``--optimise-latent STEPS`` splits the
transforms' cap in two: it also fits the unquantised latent itself to each image (Adam on
the synthesis' input, MSE only, starting from the analysis' latent), which is the
synthesis' own ceiling; what lies between the two is the analysis' (amortisation) gap,
the room an encoder-side latent search (Campos et al. 2019; Yang et al., NeurIPS 2020)
has before quantisation. For each quality it also counts the *live* channels of y: those
non-zero in at least 1 % of their elements on IMAGES (a channel that always rounds to zero
carries nothing, and training does not bring it back: ``app.train.revive``). Nothing is
hard-coded; run it on images that were not trained on (never tune on Kodak).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from app.eval import IMAGE_SUFFIXES
from app.imageio import load_image
from app.nets import zoo
from app.nets.hyperprior import pad_to


def find_images(paths: list[str]) -> list[str]:
    """Files as given; folders searched recursively (Imagenette keeps a folder per class)."""
    out: list[str] = []
    for p in map(Path, paths):
        out += sorted(str(q) for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES) \
            if p.is_dir() else [str(p)]
    return out


def _psnr(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return 10 * math.log10(1 / max(mse, 1e-12))


def _tensor(path: str) -> torch.Tensor:
    arr = load_image(path).array.astype(np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1)[None]


def _fitted_latent(model: torch.nn.Module, lat: torch.Tensor, x: torch.Tensor,
                   steps: int, lr: float = 0.01) -> float:
    """PSNR of g_s(u) after fitting u (started at ``lat``) to x by Adam on the MSE."""
    h, w = x.shape[-2:]
    u = lat.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([u], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            loss = torch.nn.functional.mse_loss(model.g_s(u)[..., :h, :w], x)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return _psnr(model.g_s(u)[..., :h, :w].clamp(0, 1), x)


def transform_ceiling(net: str, root: Path | None, images: list[str],
                      qualities: list[int], optimise_steps: int = 0) -> None:
    model, man = zoo.load_model(net, root=root)
    for prm in model.parameters():
        prm.requires_grad_(False)
    m = int(model.M)
    print(f"{net}: config {man['config']}, {man.get('total_steps', man.get('steps'))} steps")
    rows: dict[tuple[int, str], list[float]] = {}
    nonzero = {q: torch.zeros(m) for q in qualities}
    with torch.no_grad():
        for path in images:
            x = _tensor(path)
            h, w = x.shape[-2:]
            y, _ = model.g_a(pad_to(x, model.multiple))
            y = y[:, :m]
            for q in qualities:
                gain, inv_gain = model.gains(torch.tensor([q - 1]))
                gain, inv_gain = gain[:, :m], inv_gain[:, :m]
                nonzero[q] += (torch.round(y * gain) != 0).float().mean((0, 2, 3))
                for kind, lat in (("unquantised", y * gain), ("rounded", torch.round(y * gain))):
                    x_hat = model.g_s(lat * inv_gain)[..., :h, :w].clamp(0, 1)
                    rows.setdefault((q, kind), []).append(_psnr(x_hat, x))
                if optimise_steps:
                    rows.setdefault((q, "fitted"), []).append(
                        _fitted_latent(model, y * gain * inv_gain, x, optimise_steps))
    for q in qualities:
        print(f"  quality {q}: synthesis of the unquantised latent "
              f"{np.mean(rows[(q, 'unquantised')]):.2f} dB, of the rounded "
              f"{np.mean(rows[(q, 'rounded')]):.2f} dB ({len(images)} images); "
              f"{int((nonzero[q] / len(images) >= 0.01).sum())} of {m} channels live")
        if optimise_steps:
            print(f"  quality {q}: synthesis of a latent fitted to each image "
                  f"({optimise_steps} Adam steps): {np.mean(rows[(q, 'fitted')]):.2f} dB")


def _patches(path: str, p: int) -> np.ndarray:
    a = load_image(path).array.astype(np.float64) / 255.0
    h, w = a.shape[0] // p * p, a.shape[1] // p * p
    blocks = a[:h, :w].reshape(h // p, p, w // p, p, 3).transpose(0, 2, 1, 3, 4)
    return blocks.reshape(-1, p * p * 3)


def pca_bound(spec: str, fit: list[str], images: list[str]) -> None:
    p_text, ks = spec.split(":")
    p = int(p_text)
    train = np.concatenate([_patches(f, p) for f in fit])
    mean = train.mean(0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    test = np.concatenate([_patches(f, p) for f in images]) - mean
    for k in (int(v) for v in ks.split(",")):
        basis = vt[:k]
        print(f"  PCA of {p}x{p} patches, {k} of {p * p * 3} components: "
              f"{_psnr(test @ basis.T @ basis, test):.2f} dB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("images", nargs="+")
    ap.add_argument("--net", default="hyperprior", help="hyperprior or menet")
    ap.add_argument("--models", default=None, help="weights folder (default: the shipped)")
    ap.add_argument("-q", "--qualities", default="3,6,10")
    ap.add_argument("--limit", type=int, default=8, help="images used (evenly spaced)")
    ap.add_argument("--pca", action="append", default=[], metavar="P:K,K")
    ap.add_argument("--fit", nargs="*", default=[], help="images the PCA is fitted on")
    ap.add_argument("--optimise-latent", type=int, default=0, metavar="STEPS",
                    help="also fit the unquantised latent to each image (synthesis ceiling)")
    args = ap.parse_args()
    found = find_images(args.images)
    images = found[:: max(1, len(found) // args.limit)][: args.limit]
    torch.set_num_threads(1)
    transform_ceiling(args.net, Path(args.models) if args.models else None, images,
                      [int(v) for v in args.qualities.split(",")], args.optimise_latent)
    if args.pca:
        fit = find_images(args.fit) if args.fit else images
        fit = fit[:: max(1, len(fit) // 100)][:100]
        for spec in args.pca:
            pca_bound(spec, fit, images)


if __name__ == "__main__":
    main()
