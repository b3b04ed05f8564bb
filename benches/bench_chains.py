"""The chain bound: symbnn (Rust) against the study's inclusion–exclusion in Python, side by side.

Run with `maturin develop --release` first:

    pytest benches/bench_chains.py --benchmark-enable

Groups (compare the rows within one group):
- `E[G] nu=20` and `exact count nu=20 p=0.99`: the study's loops over `itertools.combinations`
  (2^20 subsets; the exact count by bisection on the inclusion–exclusion CDF), the same sums
  vectorised with numpy, and symbnn. Target: symbnn at least 1000x faster than the study's code.
- `nu=100000`: symbnn alone (inclusion–exclusion cannot go there). Target: E[G] and the union
  count under 50 ms each.
"""

import itertools
import math

import numpy as np
import pytest

from symbnn import chains_needed, expected_chains, halfnormal_weights

NU = 20
CONFIDENCE = 0.99


def study_expected_chains(weights):
    """E[G] as the study computes it: Σ_q (−1)^{ν−1−q} Σ_{|J|=q} 1/(1 − Π_J)."""
    nu = len(weights)
    total = 0.0
    for q in range(nu):
        for subset in itertools.combinations(range(nu), q):
            total += (-1) ** (nu - 1 - q) / (1 - sum(weights[j] for j in subset))
    return total


def study_coverage(weights, t):
    """P(G ≤ t) = Σ_J (−1)^{|J|} (1 − Π_J)^t, subset by subset."""
    nu = len(weights)
    total = 0.0
    for q in range(nu + 1):
        for subset in itertools.combinations(range(nu), q):
            total += (-1) ** q * max(0.0, 1 - sum(weights[j] for j in subset)) ** t
    return total


def bisect_count(coverage, nu, upper, confidence):
    """The smallest t in (nu − 1, upper] with coverage(t) ≥ confidence."""
    lo, hi = nu - 1, upper
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if coverage(mid) >= confidence:
            hi = mid
        else:
            lo = mid
    return hi


def study_exact_count(weights, confidence):
    markov = math.ceil(study_expected_chains(weights) / (1 - confidence))
    return bisect_count(lambda t: study_coverage(weights, t), len(weights), markov, confidence)


def numpy_subsets(weights):
    """(signs, sums) over all 2^ν subsets, by doubling: a vectorised inclusion–exclusion."""
    sums, signs = np.zeros(1), np.ones(1)
    for p in weights:
        sums = np.concatenate([sums, sums + p])
        signs = np.concatenate([signs, -signs])
    return signs, sums


def numpy_expected_chains(weights):
    signs, sums = numpy_subsets(weights)
    return -np.sum(signs[1:] / sums[1:])


def numpy_exact_count(weights, confidence):
    signs, sums = numpy_subsets(weights)
    rest = np.clip(1.0 - sums, 0.0, None)
    markov = math.ceil(-np.sum(signs[1:] / sums[1:]) / (1 - confidence))
    return bisect_count(lambda t: float(np.sum(signs * rest**t)), len(weights), markov, confidence)


@pytest.fixture(scope="module")
def weights20():
    return halfnormal_weights(NU)


@pytest.fixture(scope="module")
def weights_large():
    return halfnormal_weights(100_000)


@pytest.mark.benchmark(group=f"E[G] nu={NU}")
def test_expected_study_loops(benchmark, weights20):
    w = weights20.tolist()
    value = benchmark.pedantic(study_expected_chains, args=(w,), rounds=1, iterations=1)
    assert value == pytest.approx(expected_chains(weights20), rel=1e-9)


@pytest.mark.benchmark(group=f"E[G] nu={NU}")
def test_expected_numpy(benchmark, weights20):
    value = benchmark.pedantic(numpy_expected_chains, args=(weights20,), rounds=5, iterations=1)
    assert value == pytest.approx(expected_chains(weights20), rel=1e-9)


@pytest.mark.benchmark(group=f"E[G] nu={NU}")
def test_expected_symbnn(benchmark, weights20):
    value = benchmark(expected_chains, weights20)
    assert value == pytest.approx(145.024085611, rel=1e-10)


@pytest.mark.benchmark(group=f"exact count nu={NU} p={CONFIDENCE}")
def test_exact_study_loops(benchmark, weights20):
    w = weights20.tolist()
    count = benchmark.pedantic(study_exact_count, args=(w, CONFIDENCE), rounds=1, iterations=1)
    assert count == chains_needed(weights20, CONFIDENCE, "exact")


@pytest.mark.benchmark(group=f"exact count nu={NU} p={CONFIDENCE}")
def test_exact_numpy(benchmark, weights20):
    count = benchmark.pedantic(
        numpy_exact_count, args=(weights20, CONFIDENCE), rounds=3, iterations=1
    )
    assert count == chains_needed(weights20, CONFIDENCE, "exact")


@pytest.mark.benchmark(group=f"exact count nu={NU} p={CONFIDENCE}")
def test_exact_symbnn(benchmark, weights20):
    count = benchmark(chains_needed, weights20, CONFIDENCE, "exact")
    assert count == 410


@pytest.mark.benchmark(group="nu=100000")
def test_large_expected_symbnn(benchmark, weights_large):
    value = benchmark(expected_chains, weights_large)
    assert value == pytest.approx(3_538_811.982081412, rel=1e-12)


@pytest.mark.benchmark(group="nu=100000")
def test_large_union_symbnn(benchmark, weights_large):
    assert benchmark(chains_needed, weights_large, CONFIDENCE, "union") == 5_065_640


@pytest.mark.benchmark(group="nu=100000")
def test_large_exact_symbnn(benchmark, weights_large):
    count = benchmark(chains_needed, weights_large, CONFIDENCE, "exact")
    assert count <= 5_065_640
