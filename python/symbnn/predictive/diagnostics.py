"""Convergence diagnostics in function space: split R-hat and bulk effective sample size of the
predictions at chosen inputs, across chains.

Parameters of a BNN are not identifiable (every mode has `|E|` symmetric copies, paper.md §2),
so R-hat of the weights flags chains that agree on the function but sit in different copies.
The predictions `f_θ(x)` are invariant to those symmetries; their R-hat is the meaningful one.

Both are the rank-normalized versions of Vehtari et al. (2021), written here in vectorized
numpy (every input and output at once) and checked against `blackjax.diagnostics.rhat` /
`ess_bulk`, whose conventions they follow: chains split in half (an odd last draw dropped),
average ranks, Blom's plotting position; R-hat is the larger of the bulk and the folded split
R-hat; ESS uses Geyer's initial monotone sequence. (blackjax's versions take tens of seconds to
compile on a small CPU; these take milliseconds.) The quantity is the network output for
regression and the class probabilities for classification. They need chains of at least 4
draws; the study's protocol (one draw per chain) has no within-chain information: use
`functional_convergence` there.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.fft import next_fast_len
from scipy.special import ndtri
from scipy.stats import rankdata

from .._checks import check_inputs
from ..errors import ShapeError, UnsupportedError
from .ppd import Predictive, posterior_arrays, predict

MIN_DRAWS = 4


# --- the estimators on arrays (chains, draws, ...) ----------------------------------------------
def _split_chains(x: np.ndarray) -> np.ndarray:
    """`(m, n, ...)` -> `(2m, n // 2, ...)`: first and second half of every chain."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, half : 2 * half]], axis=0)


def _rank_normalize(x: np.ndarray) -> np.ndarray:
    """Pooled average ranks `r` of all draws -> `Φ⁻¹((r - 3/8) / (N + 1/4))`, per quantity."""
    m, n = x.shape[:2]
    ranks = rankdata(x.reshape(m * n, -1), axis=0, method="average")
    return ndtri((ranks - 0.375) / (m * n + 0.25)).reshape(x.shape)


def _psrf(x: np.ndarray) -> np.ndarray:
    """Gelman–Rubin potential scale reduction of `(m, n, ...)`, `m >= 2`."""
    n = x.shape[1]
    between = n * x.mean(axis=1).var(axis=0, ddof=1)
    within = x.var(axis=1, ddof=1).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + n - 1) / n)


def _ess(x: np.ndarray) -> np.ndarray:
    """Effective sample size of `(m, n, ...)` by Geyer's initial monotone sequence of
    autocorrelation pair sums (as Stan); 0 for a constant quantity."""
    m, n = x.shape[:2]
    flat = x.reshape(m, n, -1)
    chain_mean = flat.mean(axis=1)
    centered = flat - chain_mean[:, None]
    size = next_fast_len(2 * n)
    f = np.fft.rfft(centered, n=size, axis=1)
    acov = np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :n] / n
    mean_acov = acov.mean(axis=0)  # (n, Q)
    var0 = mean_acov[0] * n / (n - 1.0)
    degenerate = ~np.any(flat != flat[:, :1], axis=(0, 1)) | (var0 <= 0)
    var_plus = var0 * (n - 1.0) / n + (chain_mean.var(axis=0, ddof=1) if m > 1 else 0.0)
    var_plus = np.where(degenerate, 1.0, var_plus)
    n_even = n - n % 2
    rho = np.concatenate([np.ones_like(var0)[None], 1.0 - (var0 - mean_acov[1:n_even]) / var_plus])
    even, odd = rho[0::2], rho[1::2]
    k = len(even)
    cols = np.arange(even.shape[1])
    # Initial positive sequence: pairs up to the first non-positive pair sum.
    keep = np.cumprod((even + odd) > 0, axis=0).astype(bool)
    last = np.maximum(keep.sum(axis=0) - 1, 0)
    nxt = np.minimum(last + 1, k - 1)
    odd = np.where(keep, odd, 0.0)
    keep_even = keep.copy()
    beyond = last + 1 < k  # the even term after the cut still counts when positive
    keep_even[nxt[beyond], cols[beyond]] = even[nxt[beyond], cols[beyond]] > 0
    even = np.where(keep_even, even, 0.0)
    # Initial monotone sequence: pair sums may only decrease.
    sums = even + odd
    mono = np.minimum.accumulate(sums, axis=0)
    lowered = sums > np.concatenate([sums[:1], mono[:-1]])
    even = np.where(lowered, mono / 2.0, even)
    tau = -1.0 + 2.0 * mono.sum(axis=0) - even[nxt, cols]
    tau = np.maximum(tau, 1.0 / math.log10(m * n))
    ess = np.where(degenerate, 0.0, m * n / tau)
    ess = np.where(np.isnan(flat).any(axis=(0, 1)), np.nan, ess)
    return ess.reshape(x.shape[2:])


def split_rhat(x) -> np.ndarray:
    """Rank-normalized split R-hat of `x (chains, draws, ...)` -> `(...)`: the larger of the
    bulk and the folded (about the pooled median) version. Needs at least 4 draws."""
    xs = _split_chains(_check_draws(x))
    bulk = _psrf(_rank_normalize(xs))
    median = np.median(xs.reshape(-1, *xs.shape[2:]), axis=0)
    tail = _psrf(_rank_normalize(np.abs(xs - median)))
    return np.maximum(bulk, tail)


def ess_bulk(x) -> np.ndarray:
    """Bulk effective sample size of `x (chains, draws, ...)` -> `(...)`, in draws."""
    return _ess(_rank_normalize(_split_chains(_check_draws(x))))


def _check_draws(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2 or x.shape[0] < 1:
        raise ShapeError(f"expected an array (chains, draws, ...), got shape {x.shape}")
    if x.shape[1] < MIN_DRAWS:
        raise UnsupportedError(
            f"split R-hat and ESS need at least {MIN_DRAWS} draws per chain, got {x.shape[1]} "
            "(with one draw per chain, use functional_convergence instead)"
        )
    return x


# --- in function space ------------------------------------------------------------------------
def _quantity(pred: Predictive) -> np.ndarray:
    """`(chains, draws, n, out)`: what the diagnostics are computed on."""
    return pred.probs() if pred.likelihood == "categorical" else pred.mean


def rhat_ess_of(pred: Predictive) -> tuple[np.ndarray, np.ndarray]:
    q = _quantity(pred)
    return split_rhat(q), ess_bulk(q)


def _prepare(posterior, x) -> Predictive:
    spec, _, _ = posterior_arrays(posterior)
    return predict(posterior, check_inputs(spec, x))


def function_space_rhat(posterior, x) -> np.ndarray:
    """Rank-normalized split R-hat of the predictions at `x (n, in)`: `(n, out)` (about 1 when
    the chains agree; above 1.01 suggests they do not). NaN where a prediction is constant."""
    return split_rhat(_quantity(_prepare(posterior, x)))


def function_space_ess(posterior, x) -> np.ndarray:
    """Bulk effective sample size of the predictions at `x (n, in)`: `(n, out)`, in draws
    (about `chains * draws` for independent draws)."""
    return ess_bulk(_quantity(_prepare(posterior, x)))


__all__ = ["MIN_DRAWS", "ess_bulk", "function_space_ess", "function_space_rhat", "split_rhat"]
