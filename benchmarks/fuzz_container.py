"""Mutation fuzzer for the .edms reader (docs/edms-format.md), without hypothesis.

Runs N inputs (default 100 000) through :func:`app.container.from_bytes` and checks the
reader's contract: every input is either accepted -- and then re-serialises to exactly
the same bytes (the format is canonical) -- or rejected with :class:`EdmsFormatError`.
Any other exception is reported and makes the script exit with status 1.

Inputs are drawn with a seeded :class:`random.Random` from four generators, the same
ones ``tests/test_container.py`` drives through hypothesis:

* ``random``     -- random bytes, half of them behind a valid magic + version;
* ``mutate``     -- valid files with 1-4 bit flips, byte sets, insertions, deletions,
  duplications or a truncation, half of them with the header CRC recomputed so the
  mutation reaches the field checks instead of stopping at the CRC;
* ``structured`` -- headers with random field values near and across every limit,
  written with correct CRCs (an independent writer that validates nothing).

Plain Python rather than atheris (not installed): the reader is pure Python, so
coverage guidance would add little over these structure-aware generators.

Usage: ``python benchmarks/fuzz_container.py [-n 100000] [--seed 0]``
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import sys
import time
import traceback
import zlib
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.container import EdmsFormatError, from_bytes, to_bytes  # noqa: E402
from app.pipelines.base import Encoded, Layer, LayerKind  # noqa: E402


def seed_files() -> list[bytes]:
    """Small valid files covering every field (payloads short so mutations hit headers)."""
    return [
        to_bytes(
            Encoded("hevc", 1, b"", 768, 512, {"qp": 32}, [Layer(LayerKind.IMAGE, 5, b"hevc")])
        ),
        to_bytes(
            Encoded(
                "dsslic",
                1,
                bytes.fromhex("1a2b3c4d5e6f7081"),
                768,
                512,
                {"qp": 32},
                [
                    Layer(LayerKind.SEMANTIC_MAP, 8, b"seg"),
                    Layer(LayerKind.COMPACT_IMAGE, 2, b""),
                    Layer(LayerKind.RESIDUAL, 5, b"residual"),
                ],
            )
        ),
        to_bytes(
            Encoded(
                "smic",
                3,
                bytes(range(32)),
                4000,
                3000,
                {"a": -7, "qp": 200000, "z_9": 0},
                [Layer(LayerKind.SIDE_INFO, 255, b"s"), Layer(LayerKind.LATENT, 0, b"latent")],
            )
        ),
    ]


# ------------------------------------------------------------------ independent writer


def uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def raw_file(
    pipeline: bytes,
    pversion: int,
    fingerprint: bytes,
    width: int,
    height: int,
    params: list[tuple[bytes, int]],
    layers: list[tuple[int, int, bytes]],
) -> bytes:
    """A file laid out as docs/edms-format.md says, with no validation at all."""
    body = bytearray(uvarint(len(pipeline)) + pipeline + uvarint(pversion))
    body += uvarint(len(fingerprint)) + fingerprint + uvarint(width) + uvarint(height)
    body += uvarint(len(params))
    for name, value in params:
        body += uvarint(len(name)) + name + uvarint(2 * value if value >= 0 else -2 * value - 1)
    body += uvarint(len(layers))
    for kind, codec, data in layers:
        body += bytes((kind, codec)) + uvarint(len(data)) + zlib.crc32(data).to_bytes(4, "little")
    head = b"EDMS\x01" + uvarint(len(body)) + body
    return head + zlib.crc32(head).to_bytes(4, "little") + b"".join(d for _, _, d in layers)


def fix_header_crc(data: bytearray) -> None:
    """Recompute the header CRC of a mutated file if its header length can be read."""
    if len(data) < 6 or data[:4] != b"EDMS":
        return
    body_len, shift, pos = 0, 0, 5
    while pos < len(data) and pos < 8:
        byte = data[pos]
        body_len |= (byte & 0x7F) << shift
        shift += 7
        pos += 1
        if not byte & 0x80:
            end = pos + body_len
            if end + 4 <= len(data):
                data[end : end + 4] = zlib.crc32(bytes(data[:end])).to_bytes(4, "little")
            return


# ------------------------------------------------------------------ generators


def gen_random(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = rng.randbytes(rng.randrange(0, 200))
    return b"EDMS\x01" + data if rng.random() < 0.5 else data


def gen_mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(("flip", "set", "insert", "delete", "truncate", "dup"))
        if not data and op != "insert":
            continue
        i = rng.randrange(max(len(data), 1))
        if op == "flip":
            data[i] ^= 1 << rng.randrange(8)
        elif op == "set":
            data[i] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op == "insert":
            data[i:i] = rng.randbytes(rng.randint(1, 4))
        elif op == "delete":
            del data[i : i + rng.randint(1, 4)]
        elif op == "truncate":
            del data[i:]
        else:
            data[i:i] = data[i : i + rng.randint(1, 8)]
    if rng.random() < 0.5:
        fix_header_crc(data)
    return bytes(data)


def _ascii(rng: random.Random, alphabet: str, max_len: int) -> bytes:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, max_len))).encode()


def gen_structured(rng: random.Random, seeds: list[bytes]) -> bytes:
    def edge(small: int, *edges: int) -> int:
        return rng.choice(edges) if rng.random() < 0.2 else rng.randint(0, small)

    params = [
        (
            _ascii(rng, rng.choice(("aqz", "aqz09_-Q")), 17),
            rng.choice((rng.randint(-1000, 1000), -(2**31) - 1, 2**31 - 1, 2**31)),
        )
        for _ in range(rng.choice((0, 1, 1, 2, 4)))
    ]
    params += [(b"z%02d" % i, i) for i in range(rng.choice((0, 0, 0, 28, 29)))]
    layers = [
        (rng.randint(0, 7), rng.randrange(256), rng.randbytes(rng.randint(0, 12)))
        for _ in range(rng.randint(0, 4))
    ]
    layers += [(int(LayerKind.LATENT), 1, b"")] * rng.choice((0, 0, 0, 60, 61))
    pipeline = _ascii(rng, rng.choice(("abz09-", "abz09-_A\xe9")), 34)
    if rng.random() < 0.1:
        pipeline = rng.randbytes(4)
    return raw_file(
        pipeline,
        edge(9, 2**31 - 1, 2**31, 2**40),
        rng.choice((rng.randbytes(rng.randint(0, 8)), bytes(64), bytes(65))),
        edge(2000, 16384, 65535, 65536, 10**6),
        edge(2000, 16384, 65535, 65536, 10**6),
        params,
        layers,
    )


GENERATORS = {"random": gen_random, "mutate": gen_mutate, "structured": gen_structured}
WEIGHTS = {"random": 0.15, "mutate": 0.6, "structured": 0.25}


def normalise(message: str) -> str:
    """Fold the numbers and quoted values out of a message, to count distinct kinds."""
    message = re.sub(r"starts with '[0-9a-f]*', expected '[0-9a-f]*'", "starts with <hex>", message)
    message = re.sub(r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\"", "<bytes>", message)
    message = re.sub(r"stored [0-9a-f]{8}, computed [0-9a-f]{8}", "stored <crc>", message)
    message = re.sub(r"'[a-z0-9_]*'", "<name>", message)
    return re.sub(r"\d+", "N", message)


def best_time(data: bytes, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        with contextlib.suppress(EdmsFormatError):
            from_bytes(data)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=100_000, help="inputs to try")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    seeds = seed_files()
    names = list(GENERATORS)
    weights = [WEIGHTS[n] for n in names]
    per_gen = Counter()
    accepted = Counter()
    messages: Counter[str] = Counter()
    unexpected: list[str] = []
    slowest: list[tuple[float, bytes]] = []  # the 10 slowest parses, re-timed below
    start = time.perf_counter()
    for _ in range(args.count):
        gen = rng.choices(names, weights)[0]
        data = GENERATORS[gen](rng, seeds)
        per_gen[gen] += 1
        t0 = time.perf_counter()
        try:
            encoded = from_bytes(data)
        except EdmsFormatError as exc:
            messages[normalise(str(exc))] += 1
        except Exception:
            unexpected.append(f"{data.hex()}\n{traceback.format_exc()}")
        else:
            accepted[gen] += 1
            if to_bytes(encoded) != data:
                unexpected.append(f"{data.hex()}\naccepted but does not re-serialise identically")
        elapsed = time.perf_counter() - t0
        if len(slowest) < 10 or elapsed > slowest[0][0]:
            slowest = sorted([*slowest, (elapsed, data)])[-10:]
    total = time.perf_counter() - start

    n_accepted = sum(accepted.values())
    print(
        f"inputs:     {args.count} (seed {args.seed}) in {total:.1f} s "
        f"({args.count / total:,.0f}/s including generation)"
    )
    for gen in names:
        print(f"  {gen:<11} {per_gen[gen]:>7} generated, {accepted[gen]:>6} accepted")
    print(f"accepted:   {n_accepted}")
    print(f"rejected:   {sum(messages.values())} (EdmsFormatError)")
    print(f"unexpected: {len(unexpected)}")
    # One-off timings are noisy (GC, other processes): re-time the slowest inputs.
    worst = max((best_time(data), len(data)) for _, data in slowest)
    print(f"slowest single parse (best of 5 re-runs): {worst[0] * 1e3:.3f} ms ({worst[1]} bytes)")
    print(f"distinct error messages ({len(messages)}, numbers folded to N):")
    for message, count in messages.most_common():
        print(f"  {count:>7}  {message}")
    for report in unexpected[:20]:
        print("UNEXPECTED:", report, file=sys.stderr)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
