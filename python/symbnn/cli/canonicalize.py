"""Map MLP checkpoints into the reference set (paper.md §2–3): every network is replaced by the
one representative of its symmetry orbit, and written back with the same format and key names.

IN is a .safetensors or .npz file, or a directory of them (an ensemble, searched recursively).
One file is written to -o OUT, or next to it as NAME.canonical.EXT; directories need -o OUT_DIR
(files keep their relative paths) or --in-place. Every input is read and canonicalized before
anything is written, so a bad file means no output at all; each file is written to a temporary
name and renamed, and an input is never overwritten unless --in-place is given.

Layouts: flax (`kernel` (in, out), `bias`), torch (`weight` (out, in), `bias`), or flat (one
array (..., d) in symbnn's layout; give --sizes unless the file stores them).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from .._core import activation_symmetries
from ..errors import CheckpointError, SymbnnError

HELP = "map MLP checkpoints (.safetensors, .npz) into the reference set"

_SUFFIXES = (".safetensors", ".npz")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="IN", help="checkpoint files or directories")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output file (for one input file) or directory",
    )
    p.add_argument(
        "--activation",
        choices=sorted(activation_symmetries()),
        default=None,
        help="hidden activation (default: the file's `activation` metadata, else tanh)",
    )
    p.add_argument(
        "--layout",
        choices=("auto", "flax", "torch", "flat"),
        default="auto",
        help="how the file stores the layers (default: detect from names and shapes)",
    )
    p.add_argument(
        "--sizes",
        metavar="N,N,...",
        help="layer sizes for the flat layout, e.g. 8,16,16,16,1",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="compare original and canonical outputs on random probe inputs",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="largest accepted output difference for --check, relative to max(1, |output|) "
        "(default: the square root of the stored dtype's epsilon)",
    )
    p.add_argument("--probes", type=int, default=256, help="probe inputs for --check")
    p.add_argument("--seed", type=int, default=0, help="seed of the probe inputs")
    p.add_argument("--in-place", action="store_true", help="overwrite the input files (atomically)")


def _parse_sizes(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        sizes = [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise SymbnnError(f"--sizes must be comma-separated integers, got {text!r}") from None
    return sizes


def _find(inputs: list[str]) -> list[tuple[Path, Path | None]]:
    """`(file, the directory it was found in or None)` for every input."""
    from ..checkpoint import format_of

    files: list[tuple[Path, Path | None]] = []
    for name in inputs:
        p = Path(name)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in _SUFFIXES and not f.name.startswith(".")
            )
            if not found:
                raise CheckpointError(f"{p}: the directory holds no .safetensors or .npz files")
            files += [(f, p) for f in found]
        elif p.is_file():
            format_of(p)
            files.append((p, None))
        else:
            raise CheckpointError(f"{p}: no such file or directory")
    return files


def _plan(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    """`(input, output)` pairs, checked before any work: no input overwritten without
    --in-place, no two inputs written to one output, formats kept."""
    from ..checkpoint import format_of

    files = _find(args.inputs)
    if args.in_place:
        if args.output is not None:
            raise SymbnnError("--in-place and -o/--output exclude each other")
        return [(f, f) for f, _ in files]
    if args.output is None:
        if any(base is not None for _, base in files):
            raise SymbnnError("a directory input needs -o OUT_DIR (or --in-place)")
        plan = [(f, f.with_name(f"{f.stem}.canonical{f.suffix}")) for f, _ in files]
    else:
        out = Path(args.output)
        one_file = len(files) == 1 and files[0][1] is None
        if one_file and not out.is_dir() and out.suffix.lower() in _SUFFIXES:
            plan = [(files[0][0], out)]
        elif out.exists() and not out.is_dir():
            raise SymbnnError(
                f"{out} is a file; with a directory or several inputs, -o names a directory"
            )
        else:
            plan = [(f, out / (f.relative_to(base) if base else f.name)) for f, base in files]
    inputs = {f.resolve() for f, _ in plan}
    seen: dict[Path, Path] = {}
    for src, dst in plan:
        if format_of(dst) != format_of(src):
            raise SymbnnError(f"{dst}: the output keeps the input's format ({src.suffix})")
        key = dst.resolve()
        if key in inputs:
            raise SymbnnError(f"{dst} is an input; refusing to overwrite it without --in-place")
        if key in seen:
            raise SymbnnError(f"{seen[key]} and {src} would both be written to {dst}")
        seen[key] = src
    return plan


def _numpy_activation(name: str):
    from ..model import LEAKY_RELU_SLOPE

    if name == "gelu":
        from scipy.special import erf

        return lambda z: 0.5 * z * (1.0 + erf(z / np.sqrt(2.0)))
    return {
        "tanh": np.tanh,
        "relu": lambda z: np.maximum(z, 0.0),
        "leaky_relu": lambda z: np.where(z > 0, z, LEAKY_RELU_SLOPE * z),
        "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
        "sin": np.sin,
        "silu": lambda z: z / (1.0 + np.exp(-z)),
        "identity": lambda z: z,
    }[name]


def _forward(theta: np.ndarray, sizes, act, x: np.ndarray) -> np.ndarray:
    """`theta (n, ≥d)`, `x (p, in)` -> `(n, p, out)` in float64."""
    h, off = np.broadcast_to(x, (theta.shape[0], *x.shape)), 0
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        w = theta[:, off : off + a * b].reshape(-1, a, b)
        off += a * b
        h = h @ w + theta[:, None, off : off + b]
        off += b
        if i < len(sizes) - 2:
            h = act(h)
    return h


def _output_difference(before, after, sizes, activation, probes: int, seed: int) -> tuple:
    """Largest |f_before(x) - f_after(x)| over the probes and the output scale max|f|."""
    act = _numpy_activation(activation)
    x = np.random.default_rng(seed).standard_normal((probes, sizes[0]))
    d = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    b2 = before.reshape(-1, before.shape[-1])[:, :d].astype(np.float64)
    a2 = after.reshape(-1, after.shape[-1])[:, :d].astype(np.float64)
    diff, scale = 0.0, 0.0
    for i in range(0, b2.shape[0], 256):  # bounded memory for many stored samples
        y0 = _forward(b2[i : i + 256], sizes, act, x)
        y1 = _forward(a2[i : i + 256], sizes, act, x)
        diff = max(diff, float(np.max(np.abs(y0 - y1))))
        scale = max(scale, float(np.max(np.abs(y0))))
    return diff, scale


def _process(src: Path, args, sizes) -> tuple:
    """Reads, canonicalizes and (with --check) verifies one file, in memory."""
    from ..checkpoint import Checkpoint, detect_layout, read_checkpoint
    from ..symmetry import canonicalize

    ckpt = read_checkpoint(src)
    layout = detect_layout(ckpt.arrays, args.layout, sizes)
    activation = args.activation or (ckpt.metadata or {}).get("activation", "tanh")
    used = (
        [layout.flat_key]
        if layout.flat_key is not None
        else [k for layer in layout.layers for k in (layer.weight, layer.bias)]
    )
    dtypes = [ckpt.arrays[k].dtype for k in used]
    work = np.float64 if any(dt == np.float64 for dt in dtypes) else np.float32
    theta = layout.to_flat(ckpt.arrays, work)
    new = layout.from_flat(canonicalize(theta, (layout.sizes, activation)), ckpt.arrays)
    check = None
    if args.check:
        written = layout.to_flat(new, np.float64)
        diff, scale = _output_difference(
            theta, written, layout.sizes, activation, args.probes, args.seed
        )
        tol = args.tolerance
        if tol is None:
            tol = max(float(np.sqrt(np.finfo(dt).eps)) for dt in dtypes)
        if not diff <= tol * max(1.0, scale):
            raise SymbnnError(
                f"--check failed: the canonical network's outputs differ by {diff:.3g}, above "
                f"the tolerance {tol:.3g} x max(1, |output| = {scale:.3g})"
            )
        check = diff
    return Checkpoint(new, ckpt.metadata, ckpt.format), layout, check


def main(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..checkpoint import write_checkpoint

    if args.probes < 1:
        raise SymbnnError(f"--probes must be at least 1, got {args.probes}")
    sizes = _parse_sizes(args.sizes)
    plan = _plan(args)
    many = len(plan) > 1
    start = time.perf_counter()
    done = []
    for src, dst in tqdm(plan, unit="file", disable=None if many else True, leave=False):
        try:
            ckpt, layout, diff = _process(src, args, sizes)
        except SymbnnError as e:
            raise type(e)(f"{src}: {e}") from None
        done.append((src, dst, ckpt, layout, diff))
    for _, dst, ckpt, _, _ in done:
        try:
            write_checkpoint(dst, ckpt)
        except OSError as e:
            raise CheckpointError(f"{dst}: cannot write: {e}") from None
    elapsed = time.perf_counter() - start
    if not many:
        src, dst, _, layout, diff = done[0]
        print(f"{src} -> {dst}  ({layout.kind} layout, sizes {list(layout.sizes)})")
    if args.check:
        worst = max(done, key=lambda r: r[4])
        print(
            f"check: largest output difference {worst[4]:.3g} over {args.probes} probe inputs"
            + (f" ({worst[0]})" if many else "")
        )
    rate = len(done) / elapsed if elapsed > 0 else float("inf")
    print(
        f"canonicalized {len(done)} file{'s' if many else ''} in {elapsed:.2f} s "
        f"({rate:.0f} files/s)",
        file=sys.stdout,
    )
    return 0
