"""Would the learned codecs gain from a dead zone, as classical quantisers do?

    python benchmarks/rounding_offset.py IMAGES... [--net hyperprior] [-d 0.05,0.1,0.2]

Encoder-side only (the decoder and the file format are unchanged): each gained latent
value is quantised as sign(y)·floor(|y| + 1/2 − δ) instead of rounded, so values just past
a half step fall back toward zero and cost fewer bits. For every quality it prints bpp
(from the likelihoods under the scale table's entries, as the coder sees them) and PSNR
of the 8-bit reconstruction, and per δ the BD-rate against plain rounding (δ = 0) over all
qualities. The synthesis was trained on rounded latents (straight-through), so a dead zone
may cost more distortion than it saves bits: this measures it. Run it on images that were
not trained on (never tune on Kodak).
"""

from __future__ import annotations

import argparse
import math

import bjontegaard as bd
import numpy as np
import torch
from e2e_ceiling import find_images

from app.entropy.models import GaussianConditional, scale_indices, scale_table
from app.imageio import load_image
from app.nets import zoo
from app.nets.hyperprior import LAMBDAS, pad_to


def measure(model: torch.nn.Module, images: list[str], deltas: list[float]
            ) -> dict[float, list[tuple[float, float]]]:
    """{δ: [(bpp, PSNR) per quality]}; bpp pooled over the images, PSNR averaged."""
    table = scale_table()
    m = int(model.M)
    latents = []
    with torch.no_grad():
        for path in images:
            x = torch.from_numpy(load_image(path).array.astype(np.float32) / 255)
            x = x.permute(2, 0, 1)[None]
            y, _ = model.g_a(pad_to(x, model.multiple))
            latents.append((x, y[:, :m]))
        out: dict[float, list[tuple[float, float]]] = {d: [] for d in deltas}
        for q in range(len(LAMBDAS)):
            gain, inv_gain = model.gains(torch.tensor([float(q)]))
            gain, inv_gain = gain[:, :m], inv_gain[:, :m]
            for d in deltas:
                bits, pixels, psnrs = 0.0, 0, []
                for x, y in latents:
                    h, w = x.shape[-2:]
                    lat = y * gain
                    z_hat = torch.round(model.h_a(lat.abs()))
                    hl, wl = lat.shape[-2:]
                    sigma = table[scale_indices(model.h_s(z_hat)[:, :m, :hl, :wl])]
                    y_hat = torch.sign(lat) * torch.floor(lat.abs() + 0.5 - d)
                    _, z_lik = model.entropy_bottleneck(z_hat)
                    lik = GaussianConditional.likelihood(y_hat, sigma)
                    bits += float(-(torch.log2(lik).sum() + torch.log2(z_lik).sum()))
                    pixels += h * w
                    x_hat = torch.round(model.g_s(y_hat * inv_gain)[..., :h, :w]
                                        .clamp(0, 1) * 255) / 255
                    psnrs.append(10 * math.log10(1 / float(((x_hat - x) ** 2).mean())))
                out[d].append((bits / pixels, float(np.mean(psnrs))))
            print(f"quality {q + 1}: " + "  ".join(
                f"δ {d:g}: {out[d][-1][0]:.3f} bpp {out[d][-1][1]:.2f} dB" for d in deltas),
                flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("images", nargs="+")
    ap.add_argument("--net", default="hyperprior", help="hyperprior (or menet: its image latent)")
    ap.add_argument("-d", "--deltas", default="0.05,0.1,0.15,0.2")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, _ = zoo.load_model(args.net)
    model.eval()
    deltas = [0.0] + [float(v) for v in args.deltas.split(",")]
    res = measure(model, find_images(args.images), deltas)
    base = np.array(res[0.0])
    for d in deltas[1:]:
        r = np.array(res[d])
        rate = bd.bd_rate(base[:, 0], base[:, 1], r[:, 0], r[:, 1], method="akima")
        print(f"δ {d:g}: BD-rate {rate:+.1f} % against rounding")


if __name__ == "__main__":
    main()
