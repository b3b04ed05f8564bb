"""Canonicalization into the reference set (paper.md §2–3), the group element it applied, and the
size of the discrete symmetry group.

The representative of an orbit, hidden layer by hidden layer from the input (the full rule is in
`rust/canonical.rs`): positive scaling makes each neuron's (incoming weights, bias) a unit vector
and moves the norm onto its outgoing weights; a sign or sigmoid flip makes its bias positive (a
zero bias defers to the first nonzero incoming weight, a dead neuron to its first nonzero
outgoing weight); then neurons are sorted by (bias, incoming weights, outgoing weights), dead
neurons (all-zero incoming weights and bias) last. Permutations and signs are exact; scales and
the sigmoid's bias update round in the last bits.

The work runs in Rust over all samples in parallel, with the GIL released.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .. import _core
from ..errors import NonFiniteError, ShapeError, SymbnnError, UnsupportedError
from ..model.mlp import MLP, SYMMETRIES
from .checkpoint_layout import MlpLayout, detect_layout

__all__ = [
    "Transform",
    "canonicalize",
    "canonicalize_pytree",
    "cardinality",
    "log_cardinality",
]


@dataclass(frozen=True)
class _Spec:
    sizes: tuple[int, ...]
    activation: str
    num_params: int
    row_lengths: tuple[int, ...]

    @property
    def hidden(self) -> tuple[int, ...]:
        return self.sizes[1:-1]


def _as_spec(spec) -> _Spec:
    """`MLP`, `(sizes, activation)` or `{"sizes": ..., "activation": ...}`."""
    if isinstance(spec, MLP):
        sizes, activation = spec.sizes, spec.activation
        rows = (spec.num_params, spec.position_size)
    else:
        if isinstance(spec, Mapping):
            try:
                sizes, activation = spec["sizes"], spec.get("activation", "tanh")
            except KeyError:
                raise SymbnnError("a spec mapping needs 'sizes' (and 'activation')") from None
        elif isinstance(spec, Sequence) and len(spec) == 2 and isinstance(spec[1], str):
            sizes, activation = spec
        else:
            raise SymbnnError(
                f"spec must be an MLP, (sizes, activation) or a mapping with 'sizes' and "
                f"'activation', got {spec!r}"
            )
        sizes = tuple(int(s) for s in sizes)
        if activation not in SYMMETRIES:
            raise SymbnnError(
                f"unknown activation {activation!r}; expected one of {', '.join(SYMMETRIES)}"
            )
        rows = (_core.num_params(list(sizes), activation),)
    d = rows[0]
    return _Spec(tuple(int(s) for s in sizes), activation, d, tuple(sorted(set(rows))))


def _check_theta(theta: np.ndarray, spec: _Spec, what: str = "theta") -> None:
    if theta.ndim == 0 or theta.shape[-1] not in spec.row_lengths:
        want = " or ".join(str(r) for r in spec.row_lengths)
        raise ShapeError(
            f"{what} has shape {theta.shape}, but an MLP with sizes {list(spec.sizes)} needs a "
            f"last axis of length {want} (d)"
        )


def _as_float(theta, what: str = "theta") -> tuple[np.ndarray, np.dtype]:
    """A C-ordered float32/float64 view of `theta` (a copy only if needed) and its own dtype."""
    arr = np.asarray(theta)
    if not np.issubdtype(arr.dtype, np.floating):
        raise UnsupportedError(f"{what} must hold floating-point values, got dtype {arr.dtype}")
    work = arr.dtype if arr.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    # float16 and friends widen exactly to float32; the result is cast back.
    return np.ascontiguousarray(arr, dtype=work), arr.dtype


def _locate_nonfinite(theta: np.ndarray, spec: _Spec, error: NonFiniteError) -> NonFiniteError:
    """Names the sample by its position along every leading axis (`(chain, draw)`)."""
    if theta.ndim <= 2:
        return error
    ok = np.isfinite(theta[..., : spec.num_params]).all(axis=-1)
    where = tuple(int(i) for i in np.argwhere(~ok)[0])
    return NonFiniteError(f"theta: non-finite value (NaN or inf) in sample {where}")


def _symmetry_names(symmetries: Iterable[str] | None) -> list[str] | None:
    if symmetries is None:
        return None
    if isinstance(symmetries, str):
        symmetries = [symmetries]
    return [str(s) for s in symmetries]


class Transform:
    """The group element canonicalization applied to each sample.

    For every hidden layer `l` with `M` neurons, arrays of shape `(*batch_shape, M)`:
    `permutations[l][..., k]` is the original neuron that became canonical neuron `k`;
    `signs[l]` (int8, ±1) and `scales[l]` (> 0; the norm moved onto the outgoing weights, 1
    without positive scaling) belong to that neuron. `apply(theta)` performs exactly these
    operations (on the original, it gives the canonical vector bit for bit); `inverse` undoes
    them.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str,
        perm: np.ndarray,
        sign: np.ndarray,
        scale: np.ndarray,
    ) -> None:
        spec = _as_spec((sizes, activation))
        # Regression positions (d + 1, log σ last) transform like their first d entries.
        self._spec = replace(spec, row_lengths=(spec.num_params, spec.num_params + 1))
        h = sum(self._spec.hidden)
        perm, sign, scale = np.asarray(perm), np.asarray(sign), np.asarray(scale)
        if not (perm.shape == sign.shape == scale.shape) or perm.shape[-1:] != (h,):
            raise ShapeError(
                f"permutation, sign and scale arrays must share a shape (..., {h}), got "
                f"{perm.shape}, {sign.shape} and {scale.shape}"
            )
        if not np.issubdtype(scale.dtype, np.floating):
            raise ShapeError(f"scales must be floats, got {scale.dtype}")
        self._perm = np.ascontiguousarray(perm, dtype=np.int64)
        self._sign = np.ascontiguousarray(sign, dtype=np.int8)
        self._scale = np.ascontiguousarray(scale)

    @property
    def sizes(self) -> tuple[int, ...]:
        return self._spec.sizes

    @property
    def activation(self) -> str:
        return self._spec.activation

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._perm.shape[:-1]

    def _split(self, arr: np.ndarray) -> list[np.ndarray]:
        return np.split(arr, np.cumsum(self._spec.hidden)[:-1], axis=-1)

    @property
    def permutations(self) -> list[np.ndarray]:
        return self._split(self._perm)

    @property
    def signs(self) -> list[np.ndarray]:
        return self._split(self._sign)

    @property
    def scales(self) -> list[np.ndarray]:
        return self._split(self._scale)

    def __repr__(self) -> str:
        return (
            f"Transform(sizes={list(self.sizes)}, activation={self.activation!r}, "
            f"batch_shape={self.batch_shape})"
        )

    def _run(self, theta, inverse: bool) -> np.ndarray:
        work, dtype = _as_float(theta)
        _check_theta(work, self._spec)
        lead = work.shape[:-1]
        if self.batch_shape not in ((), lead):
            raise ShapeError(
                f"the transform is for samples of shape {self.batch_shape}, theta has {lead}"
            )
        h = self._perm.shape[-1]
        out = _core.apply_transform(
            work.reshape(-1, work.shape[-1]),
            list(self.sizes),
            self.activation,
            self._perm.reshape(-1, h),
            self._sign.reshape(-1, h),
            np.ascontiguousarray(self._scale.reshape(-1, h), dtype=work.dtype),
            inverse,
        )
        return out.reshape(work.shape).astype(dtype, copy=False)

    def apply(self, theta) -> np.ndarray:
        """The transformed copy of `theta` (`(*batch_shape, d)`, or any `(..., d)` for a
        transform of one sample; a trailing `log σ` (`d + 1`) is kept)."""
        return self._run(theta, inverse=False)

    def inverse(self, theta) -> np.ndarray:
        """Undoes `apply`: `inverse(apply(theta)) == theta` (to rounding with scales or the
        sigmoid flip, exactly otherwise)."""
        return self._run(theta, inverse=True)


def canonicalize(
    theta,
    spec,
    *,
    return_transform: bool = False,
    symmetries: Iterable[str] | None = None,
    in_place: bool = False,
):
    """Maps every sample to its orbit's representative in the reference set.

    `theta`: `(d,)`, `(N, d)`, `(chains, draws, d)` or any `(..., d)`; for an `MLP` with a
    Gaussian likelihood, positions `(..., d + 1)` are accepted and `log σ` is kept as is.
    `spec`: an `MLP`, `(sizes, activation)` or a mapping with `sizes` and `activation`.
    `symmetries`: which to remove (`"permutation"`, `"sign_flip"`, `"positive_scaling"`,
    `"sigmoid_flip"`); by default all the activation has. Asking for one it lacks raises
    `UnsupportedError`. For instance `("permutation", "sign_flip")` keeps ReLU scales as they
    are (the Gaussian prior is not invariant to them).
    `in_place`: overwrite `theta` (a writable C-ordered float32/float64 numpy array) and return
    it; on an error it is left unchanged.

    Returns a numpy array of `theta`'s shape and dtype, and with `return_transform=True` also
    the `Transform`. A NaN or infinity raises `NonFiniteError` naming the sample.
    """
    s = _as_spec(spec)
    names = _symmetry_names(symmetries)
    if in_place:
        if not isinstance(theta, np.ndarray) or theta.dtype not in (np.float32, np.float64):
            raise SymbnnError("in_place needs a float32 or float64 numpy array")
        if not (theta.flags.c_contiguous and theta.flags.writeable):
            raise SymbnnError("in_place needs a writable C-contiguous array")
        _check_theta(theta, s)
        try:
            parts = _core.canonicalize_in_place(
                theta, list(s.sizes), s.activation, names, return_transform
            )
        except NonFiniteError as e:
            raise _locate_nonfinite(theta, s, e) from None
        if return_transform:
            return theta, Transform(s.sizes, s.activation, *parts)
        return theta
    work, dtype = _as_float(theta)
    _check_theta(work, s)
    try:
        result = _core.canonicalize(work, list(s.sizes), s.activation, names, return_transform)
    except NonFiniteError as e:
        raise _locate_nonfinite(work, s, e) from None
    if not return_transform:
        return result.astype(dtype, copy=False)
    out, perm, sign, scale = result
    return out.astype(dtype, copy=False), Transform(s.sizes, s.activation, perm, sign, scale)


# --- pytrees ---------------------------------------------------------------------------------
def _flatten_tree(tree: Mapping, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    out: dict[tuple[str, ...], object] = {}
    for key, value in tree.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping):
            out.update(_flatten_tree(value, path))
        else:
            out[path] = value
    return out


def _rebuild(tree: Mapping, values: dict[tuple[str, ...], object], prefix=()) -> dict:
    out = {}
    for key, value in tree.items():
        path = (*prefix, str(key))
        out[key] = _rebuild(value, values, path) if isinstance(value, Mapping) else values[path]
    return out


def canonicalize_pytree(
    params: Mapping,
    activation: str = "tanh",
    *,
    return_transform: bool = False,
    symmetries: Iterable[str] | None = None,
):
    """`canonicalize` for a Flax-style parameter tree.

    `params`: `{"Dense_0": {"kernel": (in, out), "bias": (out,)}, ...}`, optionally wrapped as
    `{"params": {...}}`; PyTorch-style `weight` `(out, in)` leaves work too. Every leaf may carry
    the same leading axes (a stacked ensemble). Layer order and orientation are detected as for
    checkpoints (`symbnn.checkpoint`); anything that is not a dense layer is refused.

    Returns a tree of the same structure, leaf types (numpy or JAX) and dtypes, and with
    `return_transform=True` also the `Transform`.
    """
    if not isinstance(params, Mapping):
        raise SymbnnError(f"params must be a mapping of layers, got {type(params).__name__}")
    leaves = _flatten_tree(params)
    arrays = {"/".join(path): np.asarray(leaf) for path, leaf in leaves.items()}
    layout: MlpLayout = detect_layout(arrays, "auto", batched=True)
    if layout.flat_key is not None:
        raise SymbnnError("canonicalize_pytree needs a tree of dense layers, not a flat vector")
    dtype = np.result_type(*arrays.values())
    theta = layout.to_flat(arrays, dtype if dtype == np.float64 else np.float32)
    result = canonicalize(
        theta,
        (layout.sizes, activation),
        return_transform=return_transform,
        symmetries=symmetries,
    )
    canonical, transform = result if return_transform else (result, None)
    new = layout.from_flat(canonical, arrays)
    values = {}
    for path, leaf in leaves.items():
        value = new["/".join(path)]
        if not isinstance(leaf, np.ndarray) and type(leaf).__module__.startswith("jax"):
            import jax.numpy as jnp

            value = jnp.asarray(value)
        values[path] = value
    tree = _rebuild(params, values)
    return (tree, transform) if return_transform else tree


# --- group size ------------------------------------------------------------------------------
def _hidden_and_flip(spec) -> tuple[tuple[int, ...], bool]:
    s = _as_spec(spec)
    sym = SYMMETRIES[s.activation]
    return s.hidden, sym.sign_flip or sym.sigmoid_flip


def cardinality(spec) -> int:
    """Exact size of the discrete symmetry group `|E| = Π_l M_l! · 2^{M_l}` (`M_l!` alone when
    the activation has no sign or sigmoid flip); continuous scalings are not counted."""
    hidden, flip = _hidden_and_flip(spec)
    return math.prod(math.factorial(m) * (2**m if flip else 1) for m in hidden)


def log_cardinality(spec) -> float:
    """Natural log of `cardinality(spec)`, without forming the integer."""
    hidden, flip = _hidden_and_flip(spec)
    return sum(math.lgamma(m + 1) + (m * math.log(2) if flip else 0.0) for m in hidden)
