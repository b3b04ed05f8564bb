"""symbnn.chains.bound: the study's numbers, exactness against independent references (closed forms,
inclusion–exclusion, a seeded Monte Carlo simulation of the collector), and bad input."""

import math

import numpy as np
import pytest

import symbnn
from symbnn import (
    ShapeError,
    SymbnnError,
    UnsupportedError,
    WeightsError,
    chains_needed,
    coverage_probability,
    expected_chains,
    halfnormal_weights,
)
from symbnn.chains.bound import MAX_EXACT_MODES, MAX_INCLUSION_EXCLUSION_MODES, recommended_method

# paper.md §4, p = 0.99 with the study's weights: (modes, Markov, exact).
PUBLISHED = [(2, 798, 34), (3, 1274, 54), (5, 2385, 92), (8, 4367, 151), (12, 7423, 233)]


def test_study_weights():
    w = halfnormal_weights(3)
    assert w.shape == (3,) and w.dtype == np.float64
    np.testing.assert_allclose(w, [0.5665, 0.3505, 0.0830], atol=5e-4)
    x = np.linspace(0, 1.96, 40)
    density = np.exp(-x * x / 2)
    np.testing.assert_allclose(halfnormal_weights(40), density / density.sum(), rtol=1e-14)
    assert halfnormal_weights(1).tolist() == [1.0]


def test_published_numbers_for_three_modes():
    w = halfnormal_weights(3)
    assert expected_chains(w) == pytest.approx(12.73, abs=0.01)
    assert chains_needed(w, 0.99, "markov") == 1274
    assert chains_needed(w, 0.99, "exact") == 54
    assert chains_needed(w, 0.99, "union") == 54
    assert chains_needed(w) == 54  # the default is the exact count
    assert chains_needed(3) == 54  # an int means the study's weights


@pytest.mark.parametrize(("nu", "markov", "exact"), PUBLISHED)
def test_published_markov_and_exact(nu, markov, exact):
    w = halfnormal_weights(nu)
    assert chains_needed(w, 0.99, method="markov") == markov
    assert chains_needed(w, 0.99, method="exact") == exact
    assert chains_needed(w, 0.99, method="union") >= exact


@pytest.mark.parametrize("nu", [1, 2, 3, 10, 257, 1000, 20_000, 100_000])
def test_uniform_weights_give_nu_times_harmonic_number(nu):
    harmonic = math.fsum(1.0 / k for k in range(1, nu + 1))
    got = expected_chains(np.full(nu, 1.0 / nu))
    assert got == pytest.approx(nu * harmonic, rel=1e-9)


def _inclusion_exclusion(weights):
    """E[G] and P(G <= t) summed over all subsets, vectorised (the study's formula)."""
    sums, signs = np.zeros(1), np.ones(1)
    for p in weights:
        sums = np.concatenate([sums, sums + p])
        signs = np.concatenate([signs, -signs])
    expected = -np.sum(signs[1:] / sums[1:])

    def cdf(t):
        return float(np.sum(signs * np.clip(1.0 - sums, 0.0, None) ** t))

    return expected, cdf


@pytest.mark.parametrize("seed", range(4))
def test_against_inclusion_exclusion(seed):
    rng = np.random.default_rng(seed)
    nu = int(rng.integers(2, 11))
    w = rng.dirichlet(np.full(nu, 0.7))
    w = w / w.sum()
    expected, cdf = _inclusion_exclusion(w)
    assert expected_chains(w) == pytest.approx(expected, rel=1e-10)
    assert expected_chains(w, method="inclusion_exclusion") == pytest.approx(expected, rel=1e-12)
    for t in [nu, nu + 3, 50, 300, 2000]:
        assert coverage_probability(w, t) == pytest.approx(cdf(t), abs=1e-12)
    for p in [0.5, 0.99, 0.9999]:
        t = chains_needed(w, p, "exact")
        assert cdf(t) >= p > cdf(t - 1)
        assert chains_needed(w, p, "union") >= t


def test_exact_distribution_matches_a_simulated_collector():
    """Seeded simulation: run 40,000 collectors for the study's 5 modes."""
    rng = np.random.default_rng(20240101)
    w = halfnormal_weights(5)
    sims, horizon = 40_000, 400
    draws = rng.choice(len(w), size=(sims, horizon), p=w).astype(np.int8)
    # G = 1 + the latest first visit over the modes (a mode never seen counts as the horizon).
    g = np.zeros(sims, dtype=np.int64)
    for mode in range(len(w)):
        seen = draws == mode
        first = np.where(seen.any(axis=1), seen.argmax(axis=1), horizon)
        g = np.maximum(g, first + 1)
    assert coverage_probability(w, horizon) > 1 - 1e-8  # censoring is negligible
    for t in [5, 10, 20, 40, 60, 92, 150]:
        p = coverage_probability(w, t)
        empirical = np.mean(g <= t)
        se = math.sqrt(max(p * (1 - p), 1e-12) / sims)
        assert abs(empirical - p) <= 4 * se, (t, empirical, p)
    mean_se = g.std() / math.sqrt(sims)
    assert abs(g.mean() - expected_chains(w)) <= 4 * mean_se


def test_coverage_probability():
    w = halfnormal_weights(4)
    assert coverage_probability(w, 0) == 0.0
    assert coverage_probability(w, 3) == 0.0
    assert 0 < coverage_probability(w, 4) < 1
    assert coverage_probability(w, 10**9) == 1.0
    tail = coverage_probability(w, 2000, complement=True)
    assert 0 < tail < 1e-30  # relative accuracy in the tail, where 1 - P rounds to 0
    rarest = w.min()
    assert tail == pytest.approx((1 - rarest) ** 2000, rel=1e-6)
    values = [coverage_probability(w, t) for t in range(4, 400, 7)]
    assert values == sorted(values)


def test_counts_are_ordered_and_tight():
    for nu in [2, 7, 40, 600]:
        w = halfnormal_weights(nu)
        exact, union, markov = (chains_needed(w, 0.99, m) for m in ("exact", "union", "markov"))
        assert exact <= union < markov
        assert coverage_probability(w, exact) >= 0.99 > coverage_probability(w, exact - 1)
        pi = np.sort(w)
        assert np.sum((1 - pi) ** union) <= 0.01 < np.sum((1 - pi) ** (union - 1))
        assert markov == math.ceil(expected_chains(w) / 0.01)


def test_many_modes():
    w = halfnormal_weights(100_000)
    e = expected_chains(w)
    assert e == pytest.approx(3_538_811.982081412, rel=1e-12)  # independent quadrature
    assert chains_needed(w, 0.99, "union") == 5_065_640


def test_normalize_and_order():
    w = halfnormal_weights(6)
    counts = w * 1234.5
    assert expected_chains(counts, normalize=True) == pytest.approx(expected_chains(w), rel=1e-14)
    shuffled = w[[3, 0, 5, 1, 4, 2]]
    assert expected_chains(shuffled) == expected_chains(w)
    assert chains_needed(shuffled, 0.95) == chains_needed(w, 0.95)
    assert chains_needed([1 / 3, 1 / 3, 1 / 3]) == chains_needed([1.0, 1.0, 1.0], normalize=True)
    assert recommended_method(MAX_EXACT_MODES) == "exact"
    assert recommended_method(MAX_EXACT_MODES + 1) == "union"


@pytest.mark.parametrize(
    ("weights", "pattern"),
    [
        ([], "at least one mode"),
        ([0.5, -0.2, 0.7], r"weights\[1\] = -0.2 is negative"),
        ([0.5, 0.0, 0.5], r"weights\[1\] is zero"),
        ([0.5, float("nan"), 0.5], r"weights\[1\] = NaN is not finite"),
        ([0.5, float("inf")], r"weights\[1\] = inf is not finite"),
        ([0.5, 0.3, 0.1], "sum to 0.9"),
        (["a", "b"], "must be numbers"),
    ],
)
def test_bad_weights(weights, pattern):
    for call in (
        lambda: expected_chains(weights),
        lambda: chains_needed(weights),
        lambda: coverage_probability(weights, 10),
    ):
        with pytest.raises(WeightsError, match=pattern):
            call()


def test_bad_arguments():
    w = halfnormal_weights(3)
    with pytest.raises(ShapeError, match="1-D"):
        expected_chains(np.full((2, 2), 0.25))
    for p in [0.0, 1.0, -0.5, 1.5, float("nan")]:
        with pytest.raises(SymbnnError, match="confidence"):
            chains_needed(w, p)
    with pytest.raises(ValueError, match="confidence"):  # SymbnnError is a ValueError
        chains_needed(w, 2.0)
    with pytest.raises(SymbnnError, match="confidence"):
        chains_needed(w, "high")
    with pytest.raises(UnsupportedError, match="unknown chain-count method"):
        chains_needed(w, 0.9, "bogus")
    with pytest.raises(UnsupportedError, match="unknown method"):
        expected_chains(w, method="bogus")
    with pytest.raises(SymbnnError, match="chains must be at least 0"):
        coverage_probability(w, -1)
    with pytest.raises(SymbnnError, match="chains must be an integer"):
        coverage_probability(w, 2.5)
    with pytest.raises(SymbnnError, match="nu must be at least 1"):
        halfnormal_weights(0)
    with pytest.raises(UnsupportedError, match="more than 2\\^53"):
        chains_needed(w, 1 - 1e-16, "markov")


def test_too_many_modes_for_the_method():
    nu = MAX_INCLUSION_EXCLUSION_MODES + 1
    with pytest.raises(UnsupportedError, match="2\\^nu subsets"):
        expected_chains(halfnormal_weights(nu), method="inclusion_exclusion")
    big = np.full(MAX_EXACT_MODES + 1, 1.0 / (MAX_EXACT_MODES + 1))
    with pytest.raises(UnsupportedError, match="union bound"):
        chains_needed(big, 0.9, "exact")
    with pytest.raises(UnsupportedError):
        coverage_probability(big, 10**8)


def test_public_names():
    for name in ("expected_chains", "chains_needed", "coverage_probability", "halfnormal_weights"):
        assert name in symbnn.__all__ and callable(getattr(symbnn, name))
