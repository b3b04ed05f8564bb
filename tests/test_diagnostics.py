"""Split R-hat and bulk ESS: agreement with blackjax's implementation, their behaviour on iid,
shifted and autocorrelated chains, and the function-space versions on posteriors."""

from types import SimpleNamespace

import numpy as np
import pytest
from _posteriors import random_posterior

from symbnn import UnsupportedError, function_space_ess, function_space_rhat
from symbnn.predictive.diagnostics import ess_bulk, split_rhat


def _ar1(rng, shape, phi):
    e = rng.standard_normal(shape)
    x = np.empty(shape)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def test_matches_blackjax():
    """The same estimators as `blackjax.diagnostics.rhat` / `ess_bulk` (Vehtari et al. 2021),
    on iid, shifted autocorrelated, tied and constant quantities and an odd number of draws
    (one array: blackjax's functions take seconds to compile for each shape)."""
    import jax
    import jax.numpy as jnp
    from blackjax.diagnostics import ess_bulk as bj_ess
    from blackjax.diagnostics import rhat as bj_rhat

    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            rng.normal(size=(4, 41, 2)),
            _ar1(rng, (4, 41), 0.9)[..., None] + np.arange(4)[:, None, None] * 0.3,
            np.round(rng.normal(size=(4, 41, 1))),  # ties
            np.ones((4, 41, 1)),  # constant
        ],
        axis=-1,
    )
    ref_r = np.asarray(jax.jit(bj_rhat)(jnp.asarray(x)))
    ref_e = np.asarray(jax.jit(bj_ess)(jnp.asarray(x)))
    np.testing.assert_allclose(split_rhat(x), ref_r, rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(ess_bulk(x), ref_e, rtol=1e-10)
    assert np.isnan(ref_r[-1]) and ref_e[-1] == 0  # the constant quantity


def test_iid_chains():
    x = np.random.default_rng(1).normal(size=(4, 500, 10))
    r, e = split_rhat(x), ess_bulk(x)
    assert r.shape == e.shape == (10,)
    assert np.all(np.abs(r - 1) < 0.01)
    assert np.all(np.abs(e / 2000 - 1) < 0.15)


def test_shifted_chains():
    x = np.random.default_rng(2).normal(size=(4, 200, 3)) + np.array([0, 0, 0, 2.0])[:, None, None]
    assert np.all(split_rhat(x) > 1.2)


def test_scale_difference_is_caught_by_the_folded_rhat():
    x = np.random.default_rng(3).normal(size=(4, 500)) * np.array([1, 1, 1, 4.0])[:, None]
    assert split_rhat(x) > 1.05


def test_autocorrelated_chains():
    phi = 0.8
    x = _ar1(np.random.default_rng(4), (4, 2000), phi)
    expected = x.size * (1 - phi) / (1 + phi)
    assert abs(ess_bulk(x) / expected - 1) < 0.25


def test_needs_four_draws():
    with pytest.raises(UnsupportedError, match="at least 4 draws"):
        split_rhat(np.zeros((10, 3)))
    with pytest.raises(UnsupportedError, match="functional_convergence"):
        function_space_rhat(random_posterior(chains=5, draws=1), np.zeros((2, 1)))


def test_function_space_on_posteriors():
    x = np.linspace(-2, 2, 7)[:, None]
    rng = np.random.default_rng(5)
    base = random_posterior(seed=6, chains=1, draws=1)
    d = base.spec.num_params
    # Every chain draws iid around the same parameters: the functions agree.
    same = base.samples[0, 0] + 0.1 * rng.normal(size=(4, 300, d))
    agree = SimpleNamespace(spec=base.spec, samples=same, noise_std=np.ones((4, 300)))
    r = function_space_rhat(agree, x)
    assert r.shape == (7, 1) and np.all(r < 1.02)
    assert np.all(function_space_ess(agree, x) > 800)
    # Each chain in its own functionally different mode: the predictions disagree.
    apart = same + 2.0 * rng.normal(size=(4, 1, d))
    disagree = SimpleNamespace(spec=base.spec, samples=apart, noise_std=np.ones((4, 300)))
    assert np.max(function_space_rhat(disagree, x)) > 1.5


def test_symmetric_copies_agree_in_function_space():
    """Chains in sign-flipped copies of one mode: parameter R-hat is huge, function R-hat is 1."""
    base = random_posterior(seed=7, chains=1, draws=1)
    base.samples[0, 0, [0, 3, 6]] = (1.5, 0.5, -1.2)  # neuron 0, well away from its flip
    rng = np.random.default_rng(8)
    samples = base.samples[0, 0] + 0.05 * rng.normal(size=(4, 200, base.spec.num_params))
    # tanh (1-3-1): flip neuron 0 (W1[0,0], b1[0], W2[0,0]) in chains 2 and 3
    samples[2:, :, [0, 3, 6]] *= -1
    post = SimpleNamespace(spec=base.spec, samples=samples, noise_std=np.ones((4, 200)))
    assert split_rhat(samples)[0] > 1.5  # rank normalization bounds it for two groups
    assert np.all(function_space_rhat(post, np.linspace(-2, 2, 5)[:, None]) < 1.02)


def test_classification_uses_probabilities():
    post = random_posterior(seed=9, chains=2, draws=6, likelihood="categorical", out=3)
    r = function_space_rhat(post, np.zeros((4, 1)) + np.arange(4)[:, None])
    assert r.shape == (4, 3)
