"""Functional convergence: the incremental pass against recomputing the PPD from scratch for
every chain count (what a direct implementation of paper.md §6 does), side by side.

    python -m pytest benches/test_bench_predictive.py --benchmark-enable -p no:cacheprovider
"""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.special import logsumexp

import symbnn

CHAINS = 200
GRID = np.linspace(-3.0, 3.0, 128)


@pytest.fixture(scope="module")
def posterior():
    rng = np.random.default_rng(0)
    spec = symbnn.MLP(1, (3,), 1)
    return SimpleNamespace(
        spec=spec,
        samples=0.5 * rng.normal(size=(CHAINS, 1, spec.num_params)),
        noise_std=np.exp(rng.normal(-1.0, 0.2, size=(CHAINS, 1))),
    )


def _from_scratch(posterior):
    """Per chain count k: the PPD of the first k chains from all their samples, then KL."""
    mu = symbnn.predict(posterior, GRID[:, None]).mean[:, 0, :, 0]  # (C, n_x)
    sd = posterior.noise_std[:, 0]
    logp = -0.5 * ((GRID - mu[..., None]) / sd[:, None, None]) ** 2 - np.log(sd)[:, None, None]
    kls, prev = [], None
    for k in range(1, len(mu) + 1):
        ppd = logsumexp(logp[:k], axis=0)
        q = ppd - logsumexp(ppd, axis=-1, keepdims=True)
        if prev is not None:
            kls.append(np.mean(np.sum(np.exp(q) * (q - prev), axis=-1)))
        prev = q
    return np.array(kls)


def test_from_scratch(benchmark, posterior):
    benchmark.group = "functional convergence, 200 chains, 128 x 128 grid"
    benchmark.pedantic(_from_scratch, args=(posterior,), rounds=2, warmup_rounds=1)


def test_incremental(benchmark, posterior):
    benchmark.group = "functional convergence, 200 chains, 128 x 128 grid"
    curve = benchmark.pedantic(
        symbnn.functional_convergence, args=(posterior,), rounds=5, warmup_rounds=1
    )
    np.testing.assert_allclose(
        curve.kl, np.maximum(_from_scratch(posterior), 0), rtol=1e-8, atol=1e-15
    )
