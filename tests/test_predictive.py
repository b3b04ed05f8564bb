"""predict, ppd_grid and functional_convergence against direct float64 numpy computations, and
the errors for bad input."""

from types import SimpleNamespace

import numpy as np
import pytest
from _posteriors import np_means, random_posterior
from scipy.stats import norm

import symbnn
from symbnn import (
    DataError,
    NonFiniteError,
    ShapeError,
    SymbnnError,
    UnsupportedError,
    functional_convergence,
    ppd_grid,
    predict,
)

X = np.linspace(-2, 2, 9)[:, None]


def test_predict_matches_numpy_forward():
    post = random_posterior(seed=1, chains=3, draws=4, in_features=2, hidden=(4, 3), out=2)
    x = np.random.default_rng(2).normal(size=(6, 2))
    pred = predict(post, x)
    assert pred.mean.shape == (3, 4, 6, 2) and pred.mean.dtype == np.float64
    assert pred.noise_std.shape == (3, 4)
    assert (pred.num_chains, pred.num_draws, pred.num_samples) == (3, 4, 12)
    mean, noise = pred.flat()
    np.testing.assert_allclose(mean, np_means(post, x), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(noise, post.noise_std.reshape(12))


def test_predict_float32_samples_are_computed_in_float64():
    post = random_posterior(seed=3)
    post32 = SimpleNamespace(
        spec=post.spec,
        samples=post.samples.astype(np.float32),
        noise_std=post.noise_std.astype(np.float32),
    )
    pred = predict(post32, X)
    assert pred.mean.dtype == np.float64
    ref = np_means(SimpleNamespace(spec=post.spec, samples=post32.samples.astype(np.float64)), X)
    np.testing.assert_allclose(pred.mean.reshape(ref.shape), ref, atol=1e-12)


def test_classification_probs():
    post = random_posterior(seed=4, likelihood="categorical", out=3)
    pred = predict(post, X)
    assert pred.noise_std is None
    p = pred.probs()
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-12)
    logits = np_means(post, X)
    ref = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(p.reshape(ref.shape), ref / ref.sum(-1, keepdims=True), atol=1e-12)


def _np_chain_ppd(post, xg, yg):
    """`(C, n_x, n_y)`: each chain's own PPD density, directly."""
    c, d = post.samples.shape[:2]
    mu = np_means(post, xg[:, None])[..., 0].reshape(c, d, len(xg))
    sd = post.noise_std
    return norm.pdf(yg[None, None, None, :], mu[..., None], sd[..., None, None]).mean(axis=1)


def test_ppd_grid_equals_direct_density():
    post = random_posterior(seed=5, chains=4, draws=3)
    xg, yg = np.linspace(-3, 3, 11), np.linspace(-4, 4, 23)
    dens = ppd_grid(post, xg, yg)
    assert dens.shape == (11, 23)
    np.testing.assert_allclose(dens, _np_chain_ppd(post, xg, yg).mean(0), rtol=1e-10, atol=0)
    # a column vector grid is the same grid
    np.testing.assert_allclose(ppd_grid(post, xg[:, None], yg), dens, rtol=1e-12)


@pytest.mark.parametrize("chains", [1, 2, 7])
def test_functional_convergence_equals_direct_recomputation(chains):
    post = random_posterior(seed=6, chains=chains, draws=2)
    xg, yg = np.linspace(-2, 2, 5), np.linspace(-3, 3, 40)
    curve = functional_convergence(post, xg, yg)
    per_chain = _np_chain_ppd(post, xg, yg)
    expected = []
    for k in range(2, chains + 1):  # the PPD from scratch for k and k-1 chains
        new, old = per_chain[:k].mean(0), per_chain[: k - 1].mean(0)
        new, old = new / new.sum(-1, keepdims=True), old / old.sum(-1, keepdims=True)
        expected.append(np.mean(np.sum(new * np.log(new / old), axis=-1)))
    np.testing.assert_array_equal(curve.num_chains, np.arange(2, chains + 1))
    np.testing.assert_allclose(curve.kl, expected, rtol=1e-9, atol=1e-14)
    assert curve.to_dict()["num_chains"] == list(range(2, chains + 1))


def test_functional_convergence_in_batches_of_draws(monkeypatch):
    """Force batches of 2 draws so that 5 draws per chain run as 3 steps with padding."""
    import symbnn.predictive.ppd as P

    post = random_posterior(seed=7, chains=3, draws=5)
    xg, yg = np.linspace(-2, 2, 4), np.linspace(-3, 3, 16)
    whole, dens = functional_convergence(post, xg, yg), ppd_grid(post, xg, yg)
    monkeypatch.setattr(P, "_BATCH_ELEMENTS", 2 * 4 * 16)
    assert P.items_per_batch(4 * 16, 5) == 2
    batched = functional_convergence(post, xg, yg)
    np.testing.assert_allclose(batched.kl, whole.kl, rtol=1e-12)
    np.testing.assert_allclose(ppd_grid(post, xg, yg), dens, rtol=1e-12)


def test_functional_convergence_far_apart_modes_stay_finite():
    """A chain whose density is below float64's range where the others' is not: the KL is
    large but finite (computed in log space)."""
    spec = symbnn.MLP(1, (1,))
    samples = np.zeros((3, 1, spec.num_params))
    samples[2, 0, -1] = 40.0  # output bias: chain 2 predicts 40 everywhere
    post = SimpleNamespace(spec=spec, samples=samples, noise_std=np.full((3, 1), 0.5))
    yg = np.linspace(-5, 45, 101)
    kl = functional_convergence(post, np.linspace(-1, 1, 3), yg).kl
    assert np.all(np.isfinite(kl)) and abs(kl[0]) < 1e-12 and kl[1] > 100
    per_chain = _np_chain_ppd(post, np.linspace(-1, 1, 3), yg)
    assert np.all(per_chain[:2].mean(0)[:, -1] == 0)  # underflows in linear space


def test_functional_convergence_default_grid_and_identical_chains():
    post = random_posterior(seed=8, chains=1, draws=2)
    post.samples = np.repeat(post.samples, 4, axis=0)
    post.noise_std = np.repeat(post.noise_std, 4, axis=0)
    curve = functional_convergence(post)  # the study's 128 x 128 grid on [-3, 3]
    np.testing.assert_allclose(curve.kl, 0.0, atol=1e-12)
    assert curve.settled_at(1e-6) == 1


def test_settled_at():
    c = symbnn.FunctionalConvergence(np.arange(2, 7), np.array([0.5, 0.01, 0.2, 1e-4, 1e-5]))
    assert c.settled_at(1e-3) == 4  # the step to 5 chains is the first that stays small
    assert c.settled_at(0.3) == 2
    assert c.settled_at(1e-6) is None
    assert symbnn.FunctionalConvergence(np.arange(2, 2), np.zeros(0)).settled_at() is None


# --- bad input ----------------------------------------------------------------------------------
def test_empty_posterior():
    post = random_posterior()
    post.samples = post.samples[:0]
    post.noise_std = post.noise_std[:0]
    with pytest.raises(ShapeError, match="empty"):
        predict(post, X)


def test_posterior_and_spec_disagree():
    post = random_posterior()
    post.samples = np.concatenate([post.samples, post.samples[..., :1]], axis=-1)
    with pytest.raises(ShapeError, match="log σ"):
        predict(post, X)
    post.samples = post.samples[..., :5]
    with pytest.raises(ShapeError, match="d = 5"):
        symbnn.lppd(post, X, X[:, 0])


@pytest.mark.parametrize(
    ("samples_shape", "noise_shape", "match"),
    [
        ((3, 4 * 10), (3, 4), "chains, draws, d"),
        ((3, 4, 10), (12,), "noise_std"),
        ((3, 4, 10), None, "noise_std"),
    ],
)
def test_malformed_posterior(samples_shape, noise_shape, match):
    rng = np.random.default_rng(0)
    post = SimpleNamespace(
        spec=symbnn.MLP(1, (3,)),
        samples=rng.normal(size=samples_shape),
        noise_std=None if noise_shape is None else np.ones(noise_shape),
    )
    with pytest.raises(ShapeError, match=match):
        predict(post, X)


def test_not_a_posterior():
    with pytest.raises(SymbnnError, match="spec"):
        predict(SimpleNamespace(samples=np.zeros((1, 1, 10))), X)


def test_non_finite_samples_are_named():
    post = random_posterior()
    post.samples[1, 2, 3] = np.nan
    with pytest.raises(NonFiniteError, match="chain 1, draw 2"):
        predict(post, X)
    post = random_posterior()
    post.noise_std[0, 1] = -1.0
    with pytest.raises(SymbnnError, match="positive"):
        predict(post, X)


@pytest.mark.parametrize("x", [np.zeros((5, 2)), np.zeros(5), np.zeros((0, 1))])
def test_wrong_inputs(x):
    with pytest.raises(ShapeError, match=r"\(n, 1\)"):
        predict(random_posterior(), x)


def test_non_finite_inputs():
    with pytest.raises(DataError, match="row 2"):
        predict(random_posterior(), np.array([[0.0], [1.0], [np.inf]]))


@pytest.mark.parametrize(
    ("xg", "yg", "error"),
    [
        (np.zeros((4, 2)), np.linspace(0, 1, 5), ShapeError),
        (np.linspace(0, 1, 4), np.array(1.0), ShapeError),
        (np.linspace(0, 1, 4), np.linspace(0, 1, 1), ShapeError),
        (np.linspace(0, 1, 4), np.linspace(1, 0, 5), DataError),
        (np.array([0.0, np.nan]), np.linspace(0, 1, 5), DataError),
    ],
)
def test_bad_grids(xg, yg, error):
    with pytest.raises(error):
        ppd_grid(random_posterior(), xg, yg)
    with pytest.raises(error):
        functional_convergence(random_posterior(), xg, yg)


def test_grid_of_multi_input_points():
    post = random_posterior(seed=9, chains=3, draws=2, in_features=2)
    pts, yg = np.random.default_rng(10).normal(size=(6, 2)), np.linspace(-3, 3, 30)
    mu = np_means(post, pts)[..., 0]  # (S, n_x)
    ref = norm.pdf(yg, mu[..., None], post.noise_std.reshape(-1)[:, None, None]).mean(0)
    np.testing.assert_allclose(ppd_grid(post, pts, yg), ref, rtol=1e-10)
    assert functional_convergence(post, pts, yg).kl.shape == (2,)
    with pytest.raises(ShapeError, match=r"\(n_x, 2\)"):
        ppd_grid(post, np.zeros(3), yg)  # a 1-D grid is for one input only


def test_grid_needs_one_output_regression():
    with pytest.raises(UnsupportedError, match="one output"):
        ppd_grid(random_posterior(out=2), np.zeros(3), np.linspace(0, 1, 3))
    with pytest.raises(UnsupportedError):
        functional_convergence(random_posterior(likelihood="categorical", out=2))
