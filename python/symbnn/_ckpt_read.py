"""A minimal reader for an ensemble of plain-MLP checkpoints (one network per file), for
`symbnn modes CHECKPOINT_DIR`.

Each `.npz` or `.safetensors` file holds one network in one of two layouts:
- flax: `Dense_<i>/kernel` `(in, out)` and `Dense_<i>/bias` (any prefix such as `params/`,
  and `.` accepted in place of `/`);
- torch: `layers.<i>.weight` `(out, in)` and `layers.<i>.bias` (any prefix).
Layers are ordered by `<i>` and must chain. The activation is not stored in such files and is
passed in.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .errors import CheckpointError
from .model import MLP

_FLAX = re.compile(r"(?:^|[./])Dense_(\d+)[./](kernel|bias)$")
_TORCH = re.compile(r"(?:^|\.)layers\.(\d+)\.(weight|bias)$")
SUFFIXES = (".npz", ".safetensors")


def _tensors(path: Path) -> dict[str, np.ndarray]:
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                return {k: np.asarray(f[k]) for k in f.files}
        from safetensors.numpy import load_file

        return load_file(str(path))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read: {e}") from e


def read_layers(path) -> list[tuple[np.ndarray, np.ndarray]]:
    """`[(W (in, out), b (out,)), ...]` of one checkpoint file."""
    path = Path(path)
    tensors = _tensors(path)
    layers: dict[int, dict[str, np.ndarray]] = {}
    torch = False
    for key, value in tensors.items():
        m = _FLAX.search(key) or _TORCH.search(key)
        if m is None:
            continue
        kind = m.group(2)
        torch |= kind == "weight"
        slot = layers.setdefault(int(m.group(1)), {})
        slot["w" if kind in ("kernel", "weight") else "b"] = np.asarray(value, dtype=np.float64)
    if not layers:
        raise CheckpointError(
            f"{path}: no MLP layers found (expected Dense_<i>/kernel, bias or "
            f"layers.<i>.weight, bias); keys: {sorted(tensors)[:8]}"
        )
    out = []
    for i in sorted(layers):
        slot = layers[i]
        if set(slot) != {"w", "b"}:
            raise CheckpointError(f"{path}: layer {i} lacks its weight or bias")
        w, b = slot["w"], slot["b"]
        if torch:
            w = w.T  # torch stores (out, in)
        if w.ndim != 2 or b.shape != (w.shape[1],):
            raise CheckpointError(
                f"{path}: layer {i} has weight {w.shape} and bias {b.shape}, which do not fit"
            )
        if out and out[-1][0].shape[1] != w.shape[0]:
            raise CheckpointError(
                f"{path}: layer {i} takes {w.shape[0]} inputs but the previous layer gives "
                f"{out[-1][0].shape[1]}"
            )
        out.append((w, b))
    return out


def read_ensemble(directory, activation: str = "tanh") -> tuple[np.ndarray, MLP]:
    """All checkpoints in `directory` (sorted by name) as `(theta (members, d), MLP)`."""
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file())
    if not files:
        raise CheckpointError(f"{directory}: no .npz or .safetensors checkpoints")
    spec, rows = None, []
    for path in files:
        layers = read_layers(path)
        sizes = [layers[0][0].shape[0]] + [w.shape[1] for w, _ in layers]
        if spec is None:
            spec = MLP(sizes[0], tuple(sizes[1:-1]), sizes[-1], activation=activation)
        elif list(spec.sizes) != sizes:
            raise CheckpointError(
                f"{path}: layer sizes {sizes} differ from the ensemble's {list(spec.sizes)}"
            )
        rows.append(np.asarray(spec.flatten(layers)))
    assert spec is not None
    return np.stack(rows), spec
