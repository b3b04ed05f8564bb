"""Map MLP checkpoints into the reference set (paper.md §2–3): every network is replaced by the
one representative of its symmetry orbit, and written back with the same format and key names.

IN is a .safetensors or .npz file, or a directory of them (an ensemble, searched recursively).
One file is written to -o OUT, or next to it as NAME.canonical.EXT; directories need -o OUT_DIR
(files keep their relative paths) or --in-place. Every input is read and canonicalized before
anything is written, so a bad file means no output at all; each file is written to a temporary
name and renamed, and an input is never overwritten unless --in-place is given.

Layouts: flax (`kernel` (in, out), `bias`), torch (`weight` (out, in), `bias`), or flat (one
array (..., d) in symbnn's layout; give --sizes unless the file stores them). A posterior written
by `symbnn sample` or `symbnn run` carries its network: its samples are canonicalized and the
rest of the file is copied.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
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
    p.add_argument("--probes", type=int, default=256, help="probe inputs for --check (default 256)")
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
    from ..symmetry.checkpoints import format_of

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


def _inode(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _plan(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    """`(input, output)` pairs, checked before any work: no input overwritten without
    --in-place, no two inputs written to one output, formats kept."""
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
    # Inputs by inode (links and different spellings included), outputs by absolute path.
    inputs = {_inode(f) for f, _ in plan}
    seen: dict[str, Path] = {}
    for src, dst in plan:
        if os.path.splitext(dst)[1].lower() != os.path.splitext(src)[1].lower():
            raise SymbnnError(f"{dst}: the output keeps the input's format ({src.suffix})")
        if dst.exists() and _inode(dst) in inputs:
            raise SymbnnError(f"{dst} is an input; refusing to overwrite it without --in-place")
        key = os.path.abspath(dst)
        if key in seen:
            raise SymbnnError(f"{seen[key]} and {src} would both be written to {dst}")
        seen[key] = src
    return plan


def _output_difference(before, after, sizes, activation, probes: int, seed: int):
    """Per row of `before`/`after` (`(rows, ≥d)`): the largest |f_before(x) - f_after(x)| over
    the probes and outputs, and the output scale max|f_before(x)|."""
    from ..model import layout
    from ..model.activations import numpy_forward

    x = np.random.default_rng(seed).standard_normal((probes, sizes[0]))
    d = layout.num_params(sizes)
    diff, scale = np.zeros(before.shape[0]), np.zeros(before.shape[0])
    for i in range(0, before.shape[0], 256):  # bounded memory for many stored samples
        y0 = numpy_forward(before[i : i + 256, :d].astype(np.float64), sizes, activation, x)
        y1 = numpy_forward(after[i : i + 256, :d].astype(np.float64), sizes, activation, x)
        diff[i : i + 256] = np.abs(y0 - y1).max(axis=(1, 2))
        scale[i : i + 256] = np.abs(y0).max(axis=(1, 2))
    return diff, scale


@dataclass
class _Job:
    """One file on its way through: read, flattened, canonicalized, checked, written."""

    src: Path
    dst: Path
    ckpt: object = None
    layout: object = None
    activation: str = "tanh"
    dtypes: tuple = ()
    theta: np.ndarray | None = None  # (rows, row_len) in the working dtype
    new: dict | None = None
    diff: float = 0.0


def _failing(job: _Job, error: SymbnnError) -> SymbnnError:
    """The error with the file named once."""
    if str(error).startswith(f"{job.src}: "):
        return error
    return type(error)(f"{job.src}: {error}")


def _read(job: _Job) -> _Job:
    from ..symmetry.checkpoints import read_checkpoint

    try:
        job.ckpt = read_checkpoint(job.src)
    except SymbnnError as e:
        raise _failing(job, e) from None
    return job


def _posterior_layout(job: _Job, args, sizes):
    """(layout, activation) of a posterior written by `symbnn sample` or `run`: its network is
    in the file, its `samples` in the flat layout; the other entries are copied unchanged."""
    from ..sampling.posterior import posterior_from_arrays
    from ..symmetry.checkpoint_layout import MlpLayout

    spec = posterior_from_arrays(job.ckpt.arrays, str(job.src)).spec
    stored = ",".join(map(str, spec.sizes))
    given = {
        "--layout": (args.layout, args.layout in ("auto", "flat"), "flat"),
        "--sizes": (args.sizes, sizes is None or tuple(sizes) == spec.sizes, stored),
        "--activation": (args.activation, args.activation in (None, spec.activation), None),
    }
    for option, (value, fits, in_file) in given.items():
        if not fits:
            raise CheckpointError(
                f"{job.src}: {option} {value} contradicts the symbnn posterior in the file "
                f"({in_file or getattr(spec, option[2:])})"
            )
    layout = MlpLayout(kind="flat", sizes=spec.sizes, layers=(), flat_key="samples")
    return layout, spec.activation


def _prepare(job: _Job, args, sizes, layouts: dict) -> None:
    """Layout (detected once per distinct set of keys, shapes and dtypes), activation, and the
    parameters as rows in the working dtype."""
    from ..errors import NonFiniteError
    from ..symmetry.checkpoint_layout import detect_layout

    arrays = job.ckpt.arrays
    if job.ckpt.format == "npz" and {"metadata", "samples"} <= set(arrays):
        job.layout, job.activation = _posterior_layout(job, args, sizes)
    else:
        signature = tuple((k, v.shape, v.dtype.str) for k, v in arrays.items())
        if signature not in layouts:
            layouts[signature] = detect_layout(arrays, args.layout, sizes)
        job.layout = layouts[signature]
        job.activation = args.activation or (job.ckpt.metadata or {}).get("activation", "tanh")
    layout = job.layout
    used = (
        [layout.flat_key]
        if layout.flat_key is not None
        else [k for layer in layout.layers for k in (layer.weight, layer.bias)]
    )
    job.dtypes = tuple(arrays[k].dtype for k in used)
    work = np.float64 if any(dt == np.float64 for dt in job.dtypes) else np.float32
    theta = layout.to_flat(arrays, work)
    job.theta = theta.reshape(-1, theta.shape[-1])
    ok = np.isfinite(job.theta[:, : layout.num_params]).all(axis=1)
    if ok.all():
        return
    if layout.flat_key is None:
        key = next(k for k in used if not np.isfinite(arrays[k]).all())
        raise NonFiniteError(f"{job.src}: non-finite value (NaN or inf) in key {key!r}")
    where = tuple(int(i) for i in np.unravel_index(int(np.argmin(ok)), theta.shape[:-1]))
    sample = where[0] if len(where) == 1 else where
    raise NonFiniteError(
        f"{job.src}: non-finite value (NaN or inf) in key {layout.flat_key!r}, sample {sample}"
    )


def _canonicalize_group(jobs: list[_Job], args) -> None:
    """All files of one network and dtype in one call into the core."""
    from ..symmetry.canonical import canonicalize

    first = jobs[0]
    stacked = np.concatenate([job.theta for job in jobs]) if len(jobs) > 1 else first.theta
    canonical = canonicalize(stacked, (first.layout.sizes, first.activation))
    diff = scale = None
    at = 0
    pieces = []
    for job in jobs:
        rows = job.theta.shape[0]
        piece = canonical[at : at + rows]
        at += rows
        shape = job.ckpt.arrays[job.layout.flat_key].shape if job.layout.flat_key else ()
        job.new = job.layout.from_flat(piece.reshape(shape or piece.shape[-1:]), job.ckpt.arrays)
        pieces.append(job.layout.to_flat(job.new, np.float64).reshape(rows, -1))
    if not args.check:
        return
    written = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
    diff, scale = _output_difference(
        stacked, written, first.layout.sizes, first.activation, args.probes, args.seed
    )
    at = 0
    for job in jobs:
        rows = job.theta.shape[0]
        d, sc = float(diff[at : at + rows].max()), float(scale[at : at + rows].max())
        at += rows
        tol = args.tolerance
        if tol is None:
            tol = max(float(np.sqrt(np.finfo(dt).eps)) for dt in job.dtypes)
        if not d <= tol * max(1.0, sc):
            raise SymbnnError(
                f"{job.src}: --check failed: the canonical network's outputs differ by "
                f"{d:.3g}, above the tolerance {tol:.3g} x max(1, |output| = {sc:.3g})"
            )
        job.diff = d


def _write_all(jobs: list[_Job], pool) -> None:
    """Every output into a temporary file first, renamed into place only once all are
    written: a failed write (a full disk) leaves no output at all."""
    from .._atomic import atomic_path
    from ..symmetry.checkpoints import Checkpoint, write_checkpoint_to

    def write(job: _Job, tmp: Path) -> None:
        write_checkpoint_to(tmp, Checkpoint(job.new, job.ckpt.metadata, job.ckpt.format), job.dst)

    with ExitStack() as stack:
        temps = [stack.enter_context(atomic_path(job.dst)) for job in jobs]
        list(pool.map(write, jobs, temps))


def main(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.probes < 1:
        raise SymbnnError(f"--probes must be at least 1, got {args.probes}")
    sizes = _parse_sizes(args.sizes)
    plan = _plan(args)
    many = len(plan) > 1
    start = time.perf_counter()
    jobs = [_Job(src, dst) for src, dst in plan]
    # Files are read and written by a few threads (the I/O releases the GIL); the arithmetic
    # happens in one call into the core per kind of network.
    workers = min(8, 2 * (os.cpu_count() or 1)) if many else 1
    layouts: dict = {}
    groups: dict[tuple, list[_Job]] = {}
    with ThreadPoolExecutor(workers) as pool:
        read = pool.map(_read, jobs)
        for job in tqdm(
            read, total=len(jobs), unit="file", disable=None if many else True, leave=False
        ):
            try:
                _prepare(job, args, sizes, layouts)
            except SymbnnError as e:
                raise _failing(job, e) from None
            key = (job.layout.sizes, job.activation, job.theta.dtype, job.theta.shape[1])
            groups.setdefault(key, []).append(job)
        for group in groups.values():
            _canonicalize_group(group, args)
        _write_all(jobs, pool)
    elapsed = time.perf_counter() - start
    if not many:
        job = jobs[0]
        print(f"{job.src} -> {job.dst}  ({job.layout.kind} layout, sizes {list(job.layout.sizes)})")
    if args.check:
        worst = max(jobs, key=lambda j: j.diff)
        print(
            f"check: largest output difference {worst.diff:.3g} over {args.probes} probe inputs"
            + (f" ({worst.src})" if many else "")
        )
    rate = len(jobs) / elapsed if elapsed > 0 else float("inf")
    print(
        f"canonicalized {len(jobs)} file{'s' if many else ''} in {elapsed:.2f} s "
        f"({rate:.0f} files/s)"
    )
    return 0
