"""How a checkpoint file lays out a plain MLP, detected from its keys and shapes, and the map
between that layout and the flat vector (`model.layout`).

Three layouts are understood:

- `flax`: per layer a `kernel` of shape `(in, out)` and a `bias` (`Dense_0/kernel`,
  `params.Dense_0.bias`, ...);
- `torch`: per layer a `weight` of shape `(out, in)` and a `bias` (`0.weight`, `fc1.bias`, ...);
- `flat`: one array `(..., d)` in symbnn's flat layout, optionally followed by `log σ`; the layer
  sizes come from the caller, an integer array `sizes` in an `.npz`, or `sizes` in a
  safetensors file's metadata.

Layers are ordered by their names (natural order: `Dense_2` before `Dense_10`); numbered layers
must chain in that order (`out` of one layer = `in` of the next); for names without numbers that
do not chain in name order (`input`, `hidden`, `output`), the unique order in which the shapes
chain is used. Weights named `w`/`W` get their orientation from the bias lengths. Anything else
in the file (convolutions, normalisation layers and their statistics, optimizer state) is refused
with its key named, as is every ambiguity; nothing is guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import CheckpointError
from ..model import layout as flat_layout

LAYOUTS = ("auto", "flax", "torch", "flat")

_WEIGHT_NAMES = {"kernel": "flax", "weight": "torch", "w": None, "W": None}
_BIAS_NAMES = {"bias", "b"}
# Name fragments of layers and state that a plain MLP does not have.
_NOT_MLP = re.compile(
    r"conv|batch_?norm|layer_?norm|group_?norm|(^|[._/])(bn|ln|gn)\d*([._/]|$)|norm|running_|"
    r"num_batches|batch_stats|embed|attn|attention|(^|[._/])(mean|var|scale)$|"
    r"opt_state|optimizer|momentum|step$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DenseLayer:
    """One layer's keys; `transposed` means the weight is stored `(out, in)` (torch)."""

    name: str
    weight: str
    bias: str
    transposed: bool


@dataclass(frozen=True)
class MlpLayout:
    """Where an MLP's parameters are in a dict of arrays, and how they map to the flat vector.

    `batch_shape`: leading axes shared by every array (an ensemble stacked in one tree); `()` for
    a single network. For the flat layout, `flat_key` names the one array and `layers` is empty.
    """

    kind: str
    sizes: tuple[int, ...]
    layers: tuple[DenseLayer, ...]
    batch_shape: tuple[int, ...] = ()
    flat_key: str | None = None

    @property
    def num_params(self) -> int:
        return flat_layout.num_params(self.sizes)

    def to_flat(self, arrays: Mapping[str, np.ndarray], dtype) -> np.ndarray:
        """`(*batch_shape, d)` (or the flat array itself, `(..., d[+1])`) in `dtype`."""
        if self.flat_key is not None:
            return np.asarray(arrays[self.flat_key], dtype=dtype)
        parts = []
        lead = self.batch_shape
        for layer in self.layers:
            w = np.asarray(arrays[layer.weight], dtype=dtype)
            if layer.transposed:
                w = np.swapaxes(w, -1, -2)
            parts += [w.reshape(*lead, -1), np.asarray(arrays[layer.bias], dtype=dtype)]
        return np.concatenate(parts, axis=-1)

    def from_flat(
        self, theta: np.ndarray, template: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """The arrays of `template` (same keys, order, shapes and dtypes) with values from
        `theta`; keys the layout does not use are copied unchanged."""
        out = {k: v for k, v in template.items()}
        if self.flat_key is not None:
            out[self.flat_key] = theta.astype(template[self.flat_key].dtype, copy=False)
            return out
        weights_and_biases = flat_layout.unflatten(theta, self.sizes)
        for layer, (w, b) in zip(self.layers, weights_and_biases, strict=True):
            if layer.transposed:
                w = np.swapaxes(w, -1, -2)
            out[layer.weight] = np.ascontiguousarray(w, dtype=template[layer.weight].dtype)
            out[layer.bias] = np.ascontiguousarray(b, dtype=template[layer.bias].dtype)
        return out


def _natural_key(name: str) -> list:
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t]


def _listing(arrays: Mapping[str, np.ndarray]) -> str:
    return ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in arrays.items())


def _check_mlp_key(key: str, value: np.ndarray) -> None:
    if _NOT_MLP.search(key):
        raise CheckpointError(
            f"key {key!r} {tuple(value.shape)} is not part of a plain MLP (convolution, "
            "normalisation or optimizer state); symbnn handles dense layers only"
        )


def _dtype_ok(key: str, value: np.ndarray) -> None:
    if not np.issubdtype(value.dtype, np.floating):
        raise CheckpointError(f"key {key!r} holds {value.dtype} values; MLP parameters are floats")


def detect_layout(
    arrays: Mapping[str, np.ndarray],
    layout: str = "auto",
    sizes: Sequence[int] | None = None,
    *,
    batched: bool = False,
) -> MlpLayout:
    """Finds the MLP in `arrays` (see the module docstring); a `CheckpointError` naming the key
    or listing the keys found when it is not a plain MLP or is ambiguous.

    `batched=True` allows leading axes shared by all arrays (a stacked ensemble).
    """
    if layout not in LAYOUTS:
        raise CheckpointError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if not arrays:
        raise CheckpointError("no arrays found")
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise CheckpointError(f"key {key!r} is not an array ({type(value).__name__})")
    float_keys = [k for k, v in arrays.items() if np.issubdtype(v.dtype, np.floating)]
    named = any(k.replace("/", ".").rsplit(".", 1)[-1] in _WEIGHT_NAMES for k in arrays)
    if layout == "flat" or (layout == "auto" and not named and len(float_keys) == 1):
        return _flat_layout(arrays, sizes)
    if sizes is not None:
        raise CheckpointError("layer sizes are given only for the flat layout")
    return _dense_layout(arrays, layout, batched)


def _flat_layout(arrays: Mapping[str, np.ndarray], sizes: Sequence[int] | None) -> MlpLayout:
    keys = list(arrays)
    floats = [k for k in keys if np.issubdtype(arrays[k].dtype, np.floating)]
    extra = [k for k in keys if k not in floats and k != "sizes"]
    if len(floats) != 1 or extra:
        raise CheckpointError(
            "the flat layout needs exactly one float array (and optionally an integer `sizes`); "
            f"found: {_listing(arrays)}"
        )
    key = floats[0]
    if sizes is None and "sizes" in arrays:
        stored = arrays["sizes"]
        if stored.ndim != 1 or not np.issubdtype(stored.dtype, np.integer):
            raise CheckpointError(f"key 'sizes' must be a 1-D integer array, got {stored.dtype}")
        sizes = [int(s) for s in stored]
    if sizes is None:
        raise CheckpointError(
            f"key {key!r} {arrays[key].shape} is a flat parameter array, but the layer sizes are "
            "unknown; pass them (--sizes 8,16,16,16,1) or store them as `sizes`"
        )
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) <= 0:
        raise CheckpointError(f"layer sizes must be at least two positive integers, got {sizes}")
    layout = MlpLayout(kind="flat", sizes=sizes, layers=(), flat_key=key)
    d, shape = layout.num_params, arrays[key].shape
    if not shape or shape[-1] not in (d, d + 1):
        raise CheckpointError(
            f"key {key!r} has shape {shape}, but sizes {list(sizes)} need a last axis of "
            f"d = {d} (or {d + 1} with log sigma)"
        )
    return layout


def _dense_layout(arrays: Mapping[str, np.ndarray], layout: str, batched: bool) -> MlpLayout:
    groups: dict[str, dict[str, str]] = {}
    for key, value in arrays.items():
        _check_mlp_key(key, value)
        prefix, _, leaf = key.replace("/", ".").rpartition(".")
        if leaf in _WEIGHT_NAMES:
            role = "weight"
        elif leaf in _BIAS_NAMES:
            role = "bias"
        else:
            raise CheckpointError(
                f"key {key!r} {tuple(value.shape)} is neither a dense weight ('kernel', 'weight') "
                f"nor a bias; keys found: {_listing(arrays)}"
            )
        _dtype_ok(key, value)
        if role in groups.setdefault(prefix, {}):
            raise CheckpointError(
                f"layer {prefix!r} has two {role}s: {groups[prefix][role]!r} and {key!r}"
            )
        groups[prefix][role] = key
    for prefix, g in groups.items():
        if "weight" not in g or "bias" not in g:
            missing = "bias" if "weight" in g else "weight"
            raise CheckpointError(
                f"layer {prefix or '(top level)'!r} has no {missing}; keys found: "
                f"{_listing(arrays)}"
            )
    # Leading (batch) axes and each layer's trailing shapes.
    lead: tuple[int, ...] | None = None
    shapes = {}
    for prefix, g in groups.items():
        w, b = arrays[g["weight"]], arrays[g["bias"]]
        if w.ndim < 2 or (w.ndim != 2 and not batched):
            raise CheckpointError(
                f"key {g['weight']!r} has shape {w.shape}; a dense weight is 2-dimensional "
                "(a higher-dimensional one is a convolution or a stacked ensemble)"
            )
        if b.ndim != w.ndim - 1 or b.shape[:-1] != w.shape[:-2]:
            raise CheckpointError(
                f"key {g['bias']!r} has shape {b.shape}, which does not fit weight "
                f"{g['weight']!r} of shape {w.shape}"
            )
        if lead is None:
            lead = w.shape[:-2]
        elif w.shape[:-2] != lead:
            raise CheckpointError(
                f"key {g['weight']!r} has leading axes {w.shape[:-2]}, others {lead}"
            )
        shapes[prefix] = (w.shape[-2:], b.shape[-1])
    names = {p: g["weight"].replace("/", ".").rsplit(".", 1)[-1] for p, g in groups.items()}
    transposed = _orientation(arrays, groups, names, shapes, layout)
    # (in, out) of every layer.
    io = {}
    for p, ((r, c), nb) in shapes.items():
        i, o = (c, r) if transposed else (r, c)
        if nb != o:
            kind = "torch (out, in)" if transposed else "flax (in, out)"
            raise CheckpointError(
                f"bias {groups[p]['bias']!r} has length {nb}, but weight {groups[p]['weight']!r} "
                f"of shape {(r, c)} has {o} outputs in the {kind} layout"
            )
        io[p] = (i, o)
    order = _layer_order(io, arrays)
    sizes = tuple([io[order[0]][0]] + [io[p][1] for p in order])
    layers = tuple(
        DenseLayer(
            name=p, weight=groups[p]["weight"], bias=groups[p]["bias"], transposed=transposed
        )
        for p in order
    )
    return MlpLayout(
        kind="torch" if transposed else "flax",
        sizes=sizes,
        layers=layers,
        batch_shape=lead or (),
    )


def _orientation(arrays, groups, names, shapes, layout: str) -> bool:
    """True for `(out, in)` weights. From `layout`, else the names, else the bias lengths."""
    if layout in ("flax", "torch"):
        return layout == "torch"
    declared = {_WEIGHT_NAMES[n] for n in names.values()} - {None}
    if len(declared) > 1:
        raise CheckpointError(
            "the keys mix flax 'kernel' and torch 'weight' names; pass the layout explicitly; "
            f"keys found: {_listing(arrays)}"
        )
    if declared:
        return declared.pop() == "torch"
    # Unnamed orientation: the bias length says which axis is the output.
    votes = set()
    for (r, c), nb in shapes.values():
        if r == c:
            continue
        if nb == c:
            votes.add(False)
        elif nb == r:
            votes.add(True)
    if len(votes) != 1:
        raise CheckpointError(
            "cannot tell whether the weights are stored (in, out) or (out, in); pass --layout "
            f"flax or torch; keys found: {_listing(arrays)}"
        )
    return votes.pop()


def _layer_order(io: dict[str, tuple[int, int]], arrays) -> list[str]:
    """Layers by name if that order chains, else the one order in which the shapes chain.
    Numbered names (`Dense_0`, `fc1`, `0`) fix the order: there a break is refused, since
    reordering would build a different network than the one that was trained."""
    by_name = sorted(io, key=_natural_key)
    pairs = list(zip(by_name, by_name[1:], strict=False))
    broken = [(a, b) for a, b in pairs if io[a][1] != io[b][0]]
    if not broken:
        return by_name
    if all(re.search(r"\d", p) for p in by_name):
        a, b = broken[0]
        raise CheckpointError(
            f"the layer shapes do not chain: layer {a!r} has {io[a][1]} outputs but the next "
            f"layer by name, {b!r}, has {io[b][0]} inputs; keys found: {_listing(arrays)}"
        )
    found: list[list[str]] = []
    budget = [100_000]  # search steps; equal shapes could make the search exponential

    def extend(path: list[str], left: set[str]) -> None:
        budget[0] -= 1
        if len(found) > 1 or budget[0] < 0:
            return
        if not left:
            found.append(list(path))
            return
        for p in sorted(left, key=_natural_key):
            if not path or io[path[-1]][1] == io[p][0]:
                path.append(p)
                extend(path, left - {p})
                path.pop()

    extend([], set(io))
    if len(found) == 1 and budget[0] >= 0:
        return found[0]
    if not found and budget[0] >= 0:
        why = "the layer shapes do not chain (outputs of one layer = inputs of the next)"
    else:
        why = "the layers chain in several orders, and their name order is not one of them"
    raise CheckpointError(f"{why}; keys found: {_listing(arrays)}")
