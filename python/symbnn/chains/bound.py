"""How many independent chains visit every functionally distinct mode (paper.md §4).

A chain ends in mode `j` with probability `weights[j]`; the number `G` of independent chains
until every one of the `ν` modes has been visited is a coupon collector with unequal
probabilities. The study sized its runs with Markov's inequality, `⌈E[G] / (1 − p)⌉` chains
(1274 for its three modes at `p = 0.99`); the exact distribution of `G` asks for far fewer (54).

- `expected_chains(weights)`: `E[G]`, exact to about 1e-13 relative for any number of modes.
- `chains_needed(weights, confidence, method)`: `"exact"` (the smallest `t` with
  `P(G ≤ t) ≥ p`, for up to `MAX_EXACT_MODES` modes), `"union"` (the smallest `t` with
  `Σ_j (1 − π_j)^t ≤ 1 − p`, never below the exact count, any number of modes) or `"markov"` (the
  study's). The default is the tightest rigorous one available: exact, else union.
  Where `exact` is exact: `P(G > t)` is computed to about 1e-12 relative and compared with
  `1 − p` with a 1e-10 margin on the safe side, so the count is exact to the chain whenever the
  rarest weight exceeds about 1e-10 (counts below about 10^10); beyond, it may exceed the true
  quantile by about a relative 1e-10, never fall below it.
- `coverage_probability(weights, chains)`: `P(G ≤ chains)`, exact (relative error about 1e-12).
- `halfnormal_weights(nu)`: the study's default weights.

`weights` is a 1-D array of positive probabilities summing to 1 (pass `normalize=True` to rescale
counts or unnormalised masses), or an int `ν` for the study's default `halfnormal_weights(ν)`.
The work runs in Rust without the GIL.
"""

from __future__ import annotations

import numbers
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from .. import _core
from ..errors import ShapeError, SymbnnError, WeightsError

Method = Literal["exact", "union", "markov"]

METHODS: tuple[Method, ...] = ("exact", "union", "markov")
"""The chain-count methods of `chains_needed`, tightest first."""

MAX_EXACT_MODES: int = _core.MAX_EXACT_MODES
"""The largest number of modes for the exact distribution and the exact count."""

MAX_INCLUSION_EXCLUSION_MODES: int = _core.MAX_INCLUSION_EXCLUSION_MODES
"""The largest number of modes for `expected_chains(..., method="inclusion_exclusion")`."""


def halfnormal_weights(nu: int) -> np.ndarray:
    """The study's default mode weights, shape `(nu,)`: the HalfNormal(1) density at
    `linspace(0, 1.96, nu)`, normalised. `halfnormal_weights(3) ≈ (0.567, 0.350, 0.083)`."""
    return _core.halfnormal_weights(_count(nu, "nu", minimum=1))


def expected_chains(
    weights: ArrayLike | int,
    *,
    method: Literal["integral", "inclusion_exclusion"] = "integral",
    normalize: bool = False,
) -> float:
    """`E[G]`, the expected number of independent chains until every mode has been visited.

    `method="integral"` evaluates `∫_0^∞ (1 − Π_j (1 − e^{−π_j t})) dt` (any number of modes,
    relative error about 1e-13); `"inclusion_exclusion"` is the study's sum over all `2^ν`
    subsets, kept as a cross-check for at most `MAX_INCLUSION_EXCLUSION_MODES` modes.
    """
    return _core.expected_chains(_weights(weights), normalize=normalize, method=method)


def chains_needed(
    weights: ArrayLike | int,
    confidence: float = 0.99,
    method: Method | None = None,
    *,
    normalize: bool = False,
) -> int:
    """The number of independent chains that visit every mode with probability at least
    `confidence`.

    `method`: `"exact"`, `"union"`, `"markov"` (see the module notes), or None for the tightest
    rigorous method available for this many modes (`recommended_method(ν)`).
    """
    return _core.chains_needed(
        _weights(weights), confidence=_confidence(confidence), method=method, normalize=normalize
    )


def coverage_probability(
    weights: ArrayLike | int,
    chains: int,
    *,
    normalize: bool = False,
    complement: bool = False,
) -> float:
    """`P(G ≤ chains)`: the probability that `chains` independent chains visit every mode.

    Exact up to rounding (relative error about 1e-12) for up to `MAX_EXACT_MODES` modes. With
    `complement=True` returns `P(G > chains)` instead, accurate relative to its own (possibly
    tiny) size.
    """
    return _core.coverage_probability(
        _weights(weights),
        _count(chains, "chains", minimum=0),
        normalize=normalize,
        complement=complement,
    )


def recommended_method(nu: int) -> str:
    """The method `chains_needed` uses by default for `nu` modes: "exact", else "union"."""
    return _core.recommended_method(_count(nu, "nu", minimum=1))


def _weights(weights: ArrayLike | int) -> np.ndarray:
    """`weights` as a 1-D float64 array (an int `ν` means the study's weights)."""
    if isinstance(weights, numbers.Integral) and not isinstance(weights, bool):
        return halfnormal_weights(int(weights))
    try:
        array = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise WeightsError(f"mode weights must be numbers: {e}") from None
    if array.ndim != 1:
        raise ShapeError(
            f"mode weights must be a 1-D array (one probability per mode), got shape {array.shape}"
        )
    return array


def _confidence(confidence: float) -> float:
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        raise SymbnnError(f"confidence must be a number in (0, 1), got {confidence!r}") from None
    return value


def _count(value: int, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SymbnnError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise SymbnnError(f"{name} must be at least {minimum}, got {value}")
    if value >= 2**64:
        raise SymbnnError(f"{name} = {value} does not fit 64 bits")
    return int(value)


__all__ = [
    "MAX_EXACT_MODES",
    "MAX_INCLUSION_EXCLUSION_MODES",
    "METHODS",
    "Method",
    "chains_needed",
    "coverage_probability",
    "expected_chains",
    "halfnormal_weights",
    "recommended_method",
]
