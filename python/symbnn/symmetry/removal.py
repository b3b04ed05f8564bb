"""Geometry-respecting symmetry removal across all samples of a posterior (paper.md §7).

Every hidden neuron `j` of layer `l` has a vector `φ = (incoming weights, bias, outgoing
weights)`. Removal moves the neurons of every sample by the network's own symmetries
(permutations, sign flips for odd activations, the sigmoid flip, positive rescaling for the ReLU
family) so that one position means one "role" in all samples. Each sample's function is
unchanged; what remains of the spread is the posterior's real multi-modality and width.

Methods (the work runs in Rust, in parallel, with the GIL released):

- ``"assignment"`` (default): per hidden layer, each sample's neurons are matched to per-layer
  templates by optimal assignment (the Hungarian algorithm on the `M×M` cost
  `min_{s=±1} ‖sφ − t‖²`, so sign and permutation are decided together), the templates become
  the means of what was matched, and both steps repeat until the labels settle (at most one
  sample in 10,000 changes, or the cost improves by less than 1e-4 of itself; at most
  `iterations` rounds). Several seeded starts (`restarts`, picked k-means++-style from a
  subsample) compete on the same cost. Layers go from the end of the network with more fixed
  coordinates (forward when `in ≥ out`); a layer's still-unaligned neighbour parts are left out
  of the first sweep, then whole-vector sweeps repeat until nothing moves. ReLU-family networks
  are first rescaled to unit-norm (incoming, bias). Time and memory are linear in the number
  of samples.
- ``"study"``: the study's algorithm for comparison: max-margin hyperplane signs and a greedy
  constrained k-nearest-neighbour vote (Gaussian similarity `σ = 1`, `k = 1024`, 256 rounds),
  kept as sparse neighbour lists rather than a dense `N×N` matrix.

Quality (the same number for both methods): the mean, over samples, hidden layers and neurons,
of `‖φ − t‖²` where `t` is the mean of that position's neuron vectors over the batch; in squared
parameter units, lower is better. See :func:`removal_quality`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _core
from ..errors import ShapeError, SymbnnError

METHODS = ("assignment", "study")


@dataclass(frozen=True)
class Removal:
    """Result of :func:`remove_symmetries`.

    `samples` has the input's shape (`(N, d)` or `(chains, draws, d)`) and floating dtype;
    `quality_*` are mean squared distances of neuron vectors to their templates (overall, and
    per hidden layer as `(num_hidden,)` arrays).
    """

    samples: np.ndarray
    quality_before: float
    quality_after: float
    layer_quality_before: np.ndarray
    layer_quality_after: np.ndarray
    method: str
    iterations: int
    sweeps: int
    converged: bool


def as_batch(theta, spec) -> tuple[np.ndarray, tuple[int, ...]]:
    """`(..., d)` -> a C-contiguous float64 `(N, d)` array and the leading shape."""
    theta = np.asarray(theta)
    d = spec.num_params
    if theta.ndim == 0 or theta.shape[-1] != d:
        got = theta.shape[-1] if theta.ndim else "a scalar"
        hint = ""
        if theta.ndim and theta.shape[-1] == d + 1:
            hint = " (it looks like sampler positions: drop the trailing log σ)"
        raise ShapeError(f"theta must have shape (..., {d}) for {spec!r}, got {got}{hint}")
    if not np.issubdtype(theta.dtype, np.number):
        raise ShapeError(f"theta must be numeric, got dtype {theta.dtype}")
    lead = theta.shape[:-1]
    return np.ascontiguousarray(theta.reshape(-1, d), dtype=np.float64), lead


def _overall(spec, per_layer: np.ndarray) -> float:
    """Mean over neurons: per-layer values weighted by the layer widths."""
    widths = np.asarray(spec.sizes[1:-1], dtype=np.float64)
    if widths.size == 0:
        return 0.0
    return float(np.dot(widths, per_layer) / widths.sum())


def removal_quality(theta, spec) -> float:
    """Mean squared distance of every hidden neuron's vector to its position's mean over the
    batch `theta` `(..., d)`: the removal quality number (lower is better)."""
    x, _ = as_batch(theta, spec)
    return _overall(spec, _core.removal_quality(x, list(spec.sizes), spec.activation))


def remove_symmetries(
    theta,
    spec,
    *,
    method: str = "assignment",
    iterations: int = 50,
    seed: int = 0,
    restarts: int = 4,
    max_sweeps: int = 10,
    study_k: int = 1024,
    study_sigma: float = 1.0,
    study_iterations: int = 256,
) -> Removal:
    """Map every sample of `theta` `(N, d)` or `(chains, draws, d)` to a symmetry-free
    representative, consistently across samples.

    `spec` is the network (an :class:`~symbnn.MLP`, or anything with `sizes`, `activation` and
    `num_params`). `iterations`, `restarts` and `max_sweeps` bound the assignment method;
    `study_*` set the study's method. `seed` fixes every random choice: the result is
    deterministic and does not depend on the thread count.
    """
    if method not in METHODS:
        raise SymbnnError(f"unknown removal method {method!r}; expected one of {METHODS}")
    x, lead = as_batch(theta, spec)
    if seed < 0:
        raise SymbnnError(f"seed must be non-negative, got {seed}")
    samples, before, after, its, sweeps, converged = _core.remove_symmetries(
        x,
        list(spec.sizes),
        spec.activation,
        method=method,
        iterations=iterations,
        restarts=restarts,
        max_sweeps=max_sweeps,
        seed=seed,
        study_k=study_k,
        study_sigma=study_sigma,
        study_iterations=study_iterations,
    )
    dtype = np.asarray(theta).dtype
    out_dtype = dtype if np.issubdtype(dtype, np.floating) else np.float64
    return Removal(
        samples=samples.reshape(*lead, spec.num_params).astype(out_dtype, copy=False),
        quality_before=_overall(spec, before),
        quality_after=_overall(spec, after),
        layer_quality_before=before,
        layer_quality_after=after,
        method=method,
        iterations=int(its),
        sweeps=int(sweeps),
        converged=bool(converged),
    )
