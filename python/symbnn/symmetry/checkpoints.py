"""Checkpoint files of plain MLPs: reading and atomic writing of `.safetensors` and `.npz`, one
network or a folder of them (an ensemble). How a file lays out its network is
`checkpoint_layout`'s job.

Files are never unpickled (`np.load(..., allow_pickle=False)`), and a file is written to a
temporary name in the target folder and renamed into place, so no partial file is ever left.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..errors import CheckpointError, NonFiniteError, SymbnnError
from .checkpoint_layout import detect_layout

FORMATS = {".safetensors": "safetensors", ".npz": "npz"}


def format_of(path: str | os.PathLike) -> str:
    """`"safetensors"` or `"npz"` from the file name; anything else is a `CheckpointError`."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise CheckpointError(
            f"{os.fspath(path)}: unknown checkpoint format; expected a .safetensors or .npz file"
        )
    return fmt


@dataclass
class Checkpoint:
    """The contents of one file: named arrays in file order, and safetensors metadata."""

    arrays: dict[str, np.ndarray]
    metadata: dict[str, str] | None
    format: str


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Reads a `.safetensors` or `.npz` file (never unpickling anything)."""
    fmt = format_of(path)
    name = os.fspath(path)
    try:
        if fmt == "safetensors":
            from safetensors import safe_open

            with safe_open(name, framework="np") as f:
                metadata = f.metadata()
                arrays = {k: f.get_tensor(k) for k in f.keys()}
        else:
            metadata = None
            arrays = read_npz(name, CheckpointError, "cannot read as npz")
    except FileNotFoundError:
        raise CheckpointError(f"{name}: no such file") from None
    except CheckpointError:
        raise
    except Exception as e:  # safetensors and numpy raise many types for a damaged file
        raise CheckpointError(f"{name}: cannot read as {fmt}: {e}") from None
    if not arrays:
        raise CheckpointError(f"{name}: the file holds no arrays")
    return Checkpoint(arrays=arrays, metadata=dict(metadata) if metadata else None, format=fmt)


def read_npz(path: str | os.PathLike, error: type[Exception], what: str) -> dict[str, np.ndarray]:
    """Every array of an `.npz` archive, never unpickling; an empty, truncated or damaged file,
    or an entry that is not an array, is an `error` naming the file, then `what` went wrong."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            magic = fh.read(2)
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except OSError as e:
        raise error(f"{name}: cannot read ({e.strerror or e})") from None
    if magic != b"PK":  # every zip archive starts so; np.load would try other formats
        why = "an empty file" if not magic else "not a zip archive"
        raise error(f"{name}: {what} ({why})")
    try:
        with np.load(name, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # numpy and zipfile raise many types (and MemoryError) for damage
        raise error(f"{name}: {what} (damaged: {type(e).__name__}: {e})") from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):  # a zip member without the .npy suffix
            raise error(f"{name}: {what} (entry {key!r} is not an array)")
    return arrays


def write_checkpoint(path: str | os.PathLike, ckpt: Checkpoint) -> None:
    """Writes atomically: a temporary file in the same folder, then `os.replace`."""
    with atomic_path(path) as tmp:
        write_checkpoint_to(tmp, ckpt, path)


def write_checkpoint_to(tmp: str | os.PathLike, ckpt: Checkpoint, path: str | os.PathLike) -> None:
    """Writes `ckpt` into `tmp`, a temporary file that will become `path` (whose name decides
    the format). A failed write (a full disk) is an `OSError`, whichever library wrote."""
    path = Path(path)
    if format_of(path) != ckpt.format:
        raise CheckpointError(
            f"{path}: a {ckpt.format} checkpoint must be written to a "
            f".{ckpt.format} file (the output keeps the input's format)"
        )
    if ckpt.format == "safetensors":
        from safetensors import SafetensorError
        from safetensors.numpy import save_file

        arrays = {k: np.ascontiguousarray(v) for k, v in ckpt.arrays.items()}
        try:
            save_file(arrays, str(tmp), metadata=ckpt.metadata)
        except SafetensorError as e:  # how safetensors reports an I/O error
            code = re.search(r"os error (\d+)", str(e))
            if code is None:
                raise OSError(errno.EIO, f"cannot write: {e}") from None
            raise OSError(int(code[1]), os.strerror(int(code[1]))) from None
    else:
        with open(tmp, "wb") as f:
            np.savez(f, **ckpt.arrays)


def read_network(path: str | os.PathLike, activation: str = "tanh"):
    """One plain-MLP checkpoint as `(theta (d,) float64, MLP)`; the activation is not stored
    in such files and is passed in."""
    from ..model.mlp import MLP

    ckpt = read_checkpoint(path)
    try:
        layout = detect_layout(ckpt.arrays)
        s = layout.sizes
        spec = MLP(s[0], tuple(s[1:-1]), s[-1], activation=activation)
    except SymbnnError as e:
        raise type(e)(f"{os.fspath(path)}: {e}") from None
    theta = layout.to_flat(ckpt.arrays, np.float64)[: spec.num_params]
    if not np.isfinite(theta).all():  # here, where the file can still be named
        raise NonFiniteError(f"{os.fspath(path)}: non-finite value (NaN or inf) in the weights")
    return theta, spec


def read_ensemble(directory: str | os.PathLike, activation: str = "tanh"):
    """Every checkpoint in `directory` (sorted by name), one network each, as
    `(theta (members, d), MLP)`; all must have the same layer sizes."""
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.suffix in FORMATS and p.is_file())
    if not files:
        raise CheckpointError(f"{directory}: no .npz or .safetensors checkpoints")
    rows, spec = [], None
    for path in files:
        theta, this = read_network(path, activation)
        if spec is not None and this.sizes != spec.sizes:
            raise CheckpointError(
                f"{path}: layer sizes {list(this.sizes)} differ from the ensemble's "
                f"{list(spec.sizes)}"
            )
        rows.append(theta)
        spec = this
    return np.stack(rows), spec
