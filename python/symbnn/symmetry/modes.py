"""Functionally distinct modes of a posterior sample, and the chain count they call for
(paper.md §3–§4).

:func:`find_modes` groups samples into modes: two samples belong to the same mode when a chain
of samples, each within RMS distance `tol` of the next, joins them (single linkage; computed
exactly in Rust without all pairs, near-linear when modes are tight and well separated).

- ``space="function"``: a sample's vector is its predictions on probe inputs (`(n_probe·out,)`;
  log-softmax for classification, so that logit shifts do not count). Two samples are in one
  mode when their predictions differ by at most about `tol` (RMS over probes, output units).
  Symmetric copies have identical predictions, so no removal is needed.
- ``space="parameter"``: a sample's vector is its symmetry-free parameter vector
  (:func:`~symbnn.remove_symmetries` first, then each sample re-aligned to the nearest
  representative of the modes found, so that a minor mode's copies line up with each other and
  not only with the global template); `tol` is in parameter units (RMS per coordinate).

`tol=None` picks it from the data's minimum spanning tree (up to 2048 evenly spaced samples):
within one mode consecutive tree edges grow smoothly, between modes they jump; the first jump by
a factor of 2 or more in the longer half of the edges (that keeps 90 % of the samples in groups
of three or more) sets `tol` in the middle of the jump; with no jump, `4 ×` the 90th percentile
of the edges (a smooth mode stays whole, far stragglers become singletons: evidence of unseen
modes for :func:`recommend_chains`). Pass `tol` to decide yourself: the mode count and the
singletons depend on it.
Clusters with fewer than `min_size`
samples are not modes: their samples get the label `-1`.

:func:`recommend_chains` turns the modes into a chain count with the union bound of paper.md §4,
folding in the mass of modes not seen yet (Good–Turing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _core
from ..chains.bound import chains_needed
from ..errors import ShapeError, SymbnnError, WeightsError
from .removal import as_batch, remove_symmetries

SPACES = ("function", "parameter")
#: Default number of probe inputs for function space.
NUM_PROBES = 128
#: Cap on floats per batch of predictions (memory of one jitted call).
_BATCH_FLOATS = 1 << 24


@dataclass(frozen=True)
class Modes:
    """Modes of a batch of `N` samples.

    labels: `(N,)` or `(chains, draws)` (the input's leading shape), int64; `-1` = in a
        cluster smaller than `min_size`.
    counts: `(K,)` samples per mode, decreasing (mode 0 is the heaviest).
    weights: `(K,)` `counts / N`; sums to less than 1 when some samples are unassigned.
    representatives: `(K, d)` for each mode, the member nearest the mode's mean (in the space
        clustered), as a parameter vector (symmetry-free in parameter space).
    representative_index: `(K,)` flat sample index of each representative.
    singletons: clusters of exactly one sample (the Good–Turing `f₁`).
    clusters: clusters of any size, before `min_size`.
    """

    labels: np.ndarray
    counts: np.ndarray
    weights: np.ndarray
    representatives: np.ndarray
    representative_index: np.ndarray
    space: str
    tol: float
    singletons: int
    clusters: int
    num_samples: int

    @property
    def num_modes(self) -> int:
        return int(self.counts.shape[0])

    @property
    def unassigned(self) -> int:
        return int(np.sum(self.labels < 0))


def default_probes(spec, num_probes: int = NUM_PROBES, seed: int = 0) -> np.ndarray:
    """Probe inputs for function space: `(num_probes, in_features)` standard-normal draws from
    `numpy.random.default_rng(seed)`. On standardized data they cover the data range and some
    extrapolation, where modes tend to differ most."""
    if num_probes < 1:
        raise SymbnnError(f"num_probes must be positive, got {num_probes}")
    return np.random.default_rng(seed).standard_normal((num_probes, spec.sizes[0]))


def predictions(theta, spec, x_probe) -> np.ndarray:
    """Flattened network outputs on `x_probe` `(n_probe, in)` for every sample: `(N, n_probe·out)`
    (log-softmax for classification). One jitted JAX program, in batches."""
    import jax
    import jax.numpy as jnp

    x, _ = as_batch(theta, spec)
    x_probe = np.asarray(x_probe, dtype=np.float64)
    if x_probe.ndim != 2 or x_probe.shape[1] != spec.sizes[0] or x_probe.shape[0] == 0:
        raise ShapeError(
            f"x_probe must have shape (n_probe, {spec.sizes[0]}) with n_probe > 0, "
            f"got {x_probe.shape}"
        )
    categorical = getattr(spec, "likelihood", "gaussian") == "categorical"
    xp = jnp.asarray(x_probe)

    @jax.jit
    def f(t):
        out = spec.apply(t, xp)
        return jax.nn.log_softmax(out, axis=-1) if categorical else out

    width = x_probe.shape[0] * max(spec.sizes)
    batch = max(1, _BATCH_FLOATS // width)
    n = x.shape[0]
    out = np.empty((n, x_probe.shape[0] * spec.sizes[-1]), dtype=np.float64)
    for start in range(0, n, batch):
        chunk = f(jnp.asarray(x[start : start + batch]))
        out[start : start + batch] = np.asarray(chunk).reshape(chunk.shape[0], -1)
    return out


def find_modes(
    theta,
    spec,
    *,
    space: str = "function",
    x_probe=None,
    tol: float | None = None,
    min_size: int = 2,
    num_probes: int = NUM_PROBES,
    seed: int = 0,
) -> Modes:
    """Functionally distinct modes of the samples `theta` `(N, d)` or `(chains, draws, d)`.

    `x_probe` `(n_probe, in)` defaults to :func:`default_probes` (`num_probes`, `seed`);
    `tol` (RMS distance, see the module docs) defaults to the data-driven choice; `seed` also
    seeds the removal in parameter space.
    """
    if space not in SPACES:
        raise SymbnnError(f"unknown space {space!r}; expected one of {SPACES}")
    if min_size < 1:
        raise SymbnnError(f"min_size must be at least 1, got {min_size}")
    if tol is not None and not (math.isfinite(tol) and tol > 0):
        raise SymbnnError(f"tol must be positive and finite, got {tol}")
    x, lead = as_batch(theta, spec)
    if space == "parameter":
        vectors = _symmetry_free(x, spec, tol=tol, min_size=min_size, seed=seed)
        source = vectors
    else:
        if x_probe is None:
            x_probe = default_probes(spec, num_probes, seed)
        vectors = predictions(x, spec, x_probe)
        source = x
    labels, counts, reps, singletons, clusters, used = _core.cluster_modes(
        np.ascontiguousarray(vectors, dtype=np.float64), tol=tol, min_size=min_size
    )
    n = x.shape[0]
    return Modes(
        labels=labels.reshape(lead),
        counts=counts,
        weights=counts / max(n, 1),
        representatives=source[reps],
        representative_index=reps,
        space=space,
        tol=float(used),
        singletons=int(singletons),
        clusters=int(clusters),
        num_samples=n,
    )


def _symmetry_free(x: np.ndarray, spec, *, tol, min_size: int, seed: int) -> np.ndarray:
    """Symmetry-free parameter vectors for clustering: one removal over all samples, then every
    sample re-aligned to the nearest representative of the modes that removal exposes. One
    global template can leave a minor mode's ambiguous neurons (near zero, say) flipped in some
    of its samples, splitting the mode in two; the representatives of such halves are symmetric
    copies of each other and are merged first (aligned to each other, within `tol`)."""
    sizes, act = list(spec.sizes), spec.activation
    free = remove_symmetries(x, spec, seed=seed).samples
    _, counts, reps, _, _, used = _core.cluster_modes(free, tol=tol, min_size=min_size)
    if counts.size == 0:
        return free
    refs = free[reps]
    kept = [0]
    for i in range(1, refs.shape[0]):
        _, _, sq = _core.align_to_references(refs[i : i + 1], refs[kept], sizes, act)
        if np.sqrt(sq[0] / refs.shape[1]) > used:
            kept.append(i)
    aligned, _, _ = _core.align_to_references(free, np.ascontiguousarray(refs[kept]), sizes, act)
    return aligned


@dataclass(frozen=True)
class ChainRecommendation:
    """Result of :func:`recommend_chains`.

    num_chains: independent chains so that every mode, the unseen pseudo-mode included, is
        visited with probability at least `confidence` (union bound, paper.md §4).
    weights: the mode weights used (seen modes, heaviest first; the unseen pseudo-mode last
        when `unseen_mass > 0`).
    unseen_mass: Good–Turing estimate of the total weight of modes no chain has visited:
        (modes visited by exactly one chain) / (chains).
    num_modes: modes visited by at least two chains.
    observed_chains: chains behind the estimate.
    """

    num_chains: int
    confidence: float
    weights: np.ndarray
    unseen_mass: float
    num_modes: int
    observed_chains: int
    method: str = "union"

    @property
    def additional_chains(self) -> int:
        """How many more chains than were observed the count asks for (0 when enough)."""
        return max(0, self.num_chains - self.observed_chains)


def _chain_labels(labels: np.ndarray) -> np.ndarray:
    """One label per chain: the most frequent mode among its draws (ties: the lower label),
    `-1` when none of its draws is in a mode."""
    out = np.full(labels.shape[0], -1, dtype=np.int64)
    for c, row in enumerate(labels):
        row = row[row >= 0]
        if row.size:
            out[c] = np.bincount(row).argmax()
    return out


def _chains_needed(weights: np.ndarray, confidence: float) -> int:
    """Chains for `weights`: the exact count (`symbnn.chains_needed`) when they form a
    distribution; when they hold only part of the mass (``unseen="none"`` drops the singleton
    modes), the union bound `Σ_j (1 − π_j)^t ≤ 1 − p` over those modes, which stays valid for
    any subset of the modes (paper.md §4). Modes of weight 0 cannot be found and are skipped."""
    w = np.asarray(weights, dtype=np.float64)
    w = w[w > 0]
    if w.size == 0 or np.any(w >= 1.0):
        return 1  # nothing to find, or one chain surely finds the only mode
    if abs(w.sum() - 1.0) < 1e-9:
        return chains_needed(w, confidence, normalize=True)
    log_q = np.log1p(-w)
    target = 1.0 - confidence

    def tail(t: int) -> float:
        return float(np.sum(np.exp(t * log_q)))

    hi = 1
    while tail(hi) > target:
        hi *= 2
    lo = hi // 2 + 1 if hi > 1 else 1
    while lo < hi:
        mid = (lo + hi) // 2
        if tail(mid) <= target:
            hi = mid
        else:
            lo = mid + 1
    return hi


def recommend_chains(
    modes: Modes,
    confidence: float = 0.99,
    *,
    unseen: str = "good-turing",
    min_weight: float = 1e-3,
) -> ChainRecommendation:
    """Chains needed to visit every mode with probability `confidence`, from estimated weights.

    The unit is the chain: with `(chains, draws)` labels each chain counts once, in the mode
    most of its draws are in (for one draw per chain, the study's protocol, chain = sample).
    A mode's weight is the fraction of chains in it. Modes seen by one chain only, and chains
    in no mode, are the evidence for modes not seen at all: their count over the number of
    chains is the Good–Turing estimate of the unseen mass `m₀`. With ``unseen="good-turing"``
    and `m₀ > 0`, the unseen mass joins the bound as one more mode of weight
    `max(m₀, min_weight)`: one mode is the hardest way to hide that mass from the union bound
    short of splitting it, and `min_weight` is the resolution (the lightest unseen mode worth
    chasing), which keeps the count finite: at most about `ln(ν/(1 − p)) / min_weight`.
    ``unseen="none"`` uses the seen modes only.
    """
    if not 0.0 < confidence < 1.0:
        raise SymbnnError(f"confidence must be in (0, 1), got {confidence}")
    if unseen not in ("good-turing", "none"):
        raise SymbnnError(f"unseen must be 'good-turing' or 'none', got {unseen!r}")
    if not 0.0 <= min_weight < 1.0:
        raise SymbnnError(f"min_weight must be in [0, 1), got {min_weight}")
    labels = np.asarray(modes.labels)
    if labels.ndim == 2:
        chain = _chain_labels(labels)
        chains = chain.shape[0]
        per_mode = np.bincount(chain[chain >= 0], minlength=modes.num_modes)
        singles = int(np.sum(per_mode == 1) + np.sum(chain < 0))
    elif labels.ndim == 1:
        chains = labels.shape[0]
        per_mode = np.asarray(modes.counts, dtype=np.int64)
        singles = int(modes.singletons)
    else:
        raise ShapeError(f"modes.labels must be (N,) or (chains, draws), got {labels.shape}")
    if chains == 0:
        raise WeightsError("no samples: mode weights cannot be estimated")
    seen = np.sort(per_mode[per_mode >= 2])[::-1] / chains
    unseen_mass = singles / chains
    weights = seen
    if unseen == "good-turing" and unseen_mass > 0:
        weights = np.append(seen, max(unseen_mass, min_weight))
        if weights.sum() > 1.0:  # the floor pushed the total past 1: shrink the seen ones
            weights[:-1] *= (1.0 - weights[-1]) / weights[:-1].sum()
    return ChainRecommendation(
        num_chains=_chains_needed(weights, confidence),
        confidence=float(confidence),
        weights=weights,
        unseen_mass=float(unseen_mass),
        num_modes=int(seen.shape[0]),
        observed_chains=int(chains),
    )
