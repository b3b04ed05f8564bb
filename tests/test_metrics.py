"""Every metric against an independent float64 numpy/scipy computation (to 1e-6), coverage of a
known Gaussian model at its nominal level, and the errors for bad input."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from _posteriors import np_means, random_posterior
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import logsumexp, softmax
from scipy.stats import norm

import symbnn
from symbnn import (
    DataError,
    ShapeError,
    SymbnnError,
    UnsupportedError,
    accuracy,
    coverage,
    crps,
    ece,
    evaluate,
    lppd,
    nll,
    predictive_quantiles,
    rmse,
)

TOL = 1e-6


@pytest.fixture(scope="module")
def regression():
    post = random_posterior(seed=11, chains=4, draws=5, in_features=2, hidden=(3,), out=1)
    rng = np.random.default_rng(12)
    x = rng.normal(size=(12, 2))
    y = rng.normal(size=(12, 1)) * 1.5
    return post, x, y, np_means(post, x), post.noise_std.reshape(-1)


@pytest.fixture(scope="module")
def classification():
    post = random_posterior(
        seed=13, chains=3, draws=5, in_features=2, out=4, likelihood="categorical"
    )
    rng = np.random.default_rng(14)
    x = rng.normal(size=(40, 2))
    y = rng.integers(0, 4, size=40)
    return post, x, y, softmax(np_means(post, x), axis=-1).mean(0)


def _mixture_quantile(mu, sd, q):
    cdf = lambda z: norm.cdf(z, mu, sd).mean() - q  # noqa: E731
    return brentq(cdf, mu.min() - 20 * sd.max(), mu.max() + 20 * sd.max(), xtol=1e-13)


# --- regression ------------------------------------------------------------------------------
def test_lppd(regression):
    post, x, y, mu, sd = regression
    logp = norm.logpdf(y[None, :, 0], mu[..., 0], sd[:, None])  # (S, n)
    per_point = logsumexp(logp, axis=0) - math.log(len(sd))
    res = lppd(post, x, y)
    np.testing.assert_allclose(res.per_point, per_point, rtol=0, atol=TOL)
    assert abs(res.mean - per_point.mean()) < TOL
    assert abs(res.se - per_point.std(ddof=1) / math.sqrt(len(y))) < TOL
    assert abs(lppd(post, x, y[:, 0]).mean - res.mean) < 1e-12  # y as (n,) for one output


def test_lppd_several_outputs_scores_the_joint_density():
    post = random_posterior(seed=15, chains=2, draws=3, in_features=1, out=2)
    x = np.linspace(-1, 1, 5)[:, None]
    y = np.random.default_rng(16).normal(size=(5, 2))
    mu, sd = np_means(post, x), post.noise_std.reshape(-1)
    logp = norm.logpdf(y[None], mu, sd[:, None, None]).sum(-1)
    np.testing.assert_allclose(
        lppd(post, x, y).per_point, logsumexp(logp, axis=0) - math.log(6), atol=TOL
    )


def test_rmse(regression):
    post, x, y, mu, _ = regression
    assert abs(rmse(post, x, y) - np.sqrt(np.mean((mu.mean(0) - y) ** 2))) < TOL


def test_predictive_quantiles_match_root_finding(regression):
    post, x, _, mu, sd = regression
    q = [0.025, 0.25, 0.5, 0.9]
    got = predictive_quantiles(post, x, q)
    assert got.shape == (4, 12, 1)
    for j, level in enumerate(q):
        for i in range(len(x)):
            assert abs(got[j, i, 0] - _mixture_quantile(mu[:, i, 0], sd, level)) < 1e-9


def test_coverage(regression):
    post, x, y, mu, sd = regression
    levels = (0.3, 0.5, 0.9)
    got = coverage(post, x, y, levels)
    assert list(got) == list(levels)
    for a in levels:
        inside = [
            _mixture_quantile(mu[:, i, 0], sd, (1 - a) / 2)
            <= y[i, 0]
            <= _mixture_quantile(mu[:, i, 0], sd, (1 + a) / 2)
            for i in range(len(y))
        ]
        assert abs(got[a] - np.mean(inside)) < TOL


def test_crps_equals_the_integral_definition(regression):
    """CRPS(F, y) = ∫ (F(z) - 1{z >= y})² dz, integrated numerically."""
    post, x, y, mu, sd = regression
    per_point = []
    for i in range(len(y)):
        cdf = lambda z, i=i: norm.cdf(z, mu[:, i, 0], sd).mean()  # noqa: E731
        left = quad(lambda z, cdf=cdf: cdf(z) ** 2, -np.inf, y[i, 0], epsabs=1e-12)[0]
        right = quad(lambda z, cdf=cdf: (1 - cdf(z)) ** 2, y[i, 0], np.inf, epsabs=1e-12)[0]
        per_point.append(left + right)
    assert abs(crps(post, x, y) - np.mean(per_point)) < TOL


def test_crps_in_batches_matches(regression, monkeypatch):
    import symbnn.predictive.ppd as P

    post, x, y, _, _ = regression
    whole = crps(post, x, y)
    monkeypatch.setattr(P, "_BATCH_ELEMENTS", 20 * 12 * 3)  # 3 rows of the S x S term a batch
    assert abs(crps(post, x, y) - whole) < 1e-12


def test_crps_of_a_single_gaussian_closed_form():
    """One sample, σ = 1, f = 0: CRPS(N(0,1), y) = y(2Φ(y)-1) + 2φ(y) - 1/√π."""
    spec = symbnn.MLP(1, (2,))
    post = SimpleNamespace(
        spec=spec, samples=np.zeros((1, 1, spec.num_params)), noise_std=np.ones((1, 1))
    )
    y = np.array([-1.3, 0.0, 0.4, 2.5])
    ref = y * (2 * norm.cdf(y) - 1) + 2 * norm.pdf(y) - 1 / math.sqrt(math.pi)
    assert abs(crps(post, np.zeros((4, 1)), y) - ref.mean()) < 1e-12


def test_coverage_of_the_true_model_is_nominal():
    """y drawn from the predictive itself (pick a sample, then y ~ N(f_s(x), σ_s²)): every
    central interval covers its level, within Monte Carlo error."""
    post = random_posterior(seed=17, chains=5, draws=4)
    rng = np.random.default_rng(18)
    n = 3000
    x = rng.uniform(-3, 3, size=(n, 1))
    mu = symbnn.predict(post, x).flat()[0][..., 0]  # (S, n)
    s = rng.integers(0, mu.shape[0], size=n)
    y = mu[s, np.arange(n)] + post.noise_std.reshape(-1)[s] * rng.standard_normal(n)
    levels = (0.5, 0.8, 0.9, 0.95)
    for level, frac in coverage(post, x, y, levels).items():
        assert abs(frac - level) < 4 * math.sqrt(level * (1 - level) / n), (level, frac)


# --- classification -------------------------------------------------------------------------
def test_classification_metrics(classification):
    post, x, y, p = classification
    assert abs(accuracy(post, x, y) - np.mean(p.argmax(1) == y)) < TOL
    ref_nll = -np.mean(np.log(p[np.arange(len(y)), y]))
    assert abs(nll(post, x, y) - ref_nll) < TOL
    res = lppd(post, x, y)
    np.testing.assert_allclose(res.per_point, np.log(p[np.arange(len(y)), y]), atol=TOL)


@pytest.mark.parametrize("n_bins", [1, 5, 10])
def test_ece(classification, n_bins):
    post, x, y, p = classification
    conf, hit = p.max(1), p.argmax(1) == y
    total = 0.0
    for b in range(n_bins):  # bins (b/B, (b+1)/B]
        lo, hi = b / n_bins, (b + 1) / n_bins
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.sum() / len(y) * abs(hit[m].mean() - conf[m].mean())
    assert abs(ece(post, x, y, n_bins=n_bins) - total) < TOL


def test_labels_may_be_whole_floats(classification):
    post, x, y, _ = classification
    assert accuracy(post, x, y.astype(float)) == accuracy(post, x, y)


# --- evaluate -------------------------------------------------------------------------------
def test_evaluate_regression(regression):
    post, x, y, _, _ = regression
    out = evaluate(post, x, y)
    assert out["lppd"] == lppd(post, x, y).mean
    assert out["rmse"] == rmse(post, x, y) and out["crps"] == crps(post, x, y)
    cov = coverage(post, x, y)
    assert [out["coverage_50"], out["coverage_90"], out["coverage_95"]] == list(cov.values())
    assert out["num_samples"] == 20 and out["num_points"] == 12
    assert {"rhat_max", "ess_bulk_min"} <= out.keys()  # 5 draws per chain
    json.dumps(out, allow_nan=False)


def test_evaluate_classification_single_draw_chains(classification):
    post, x, y, _ = classification
    one = SimpleNamespace(spec=post.spec, samples=post.samples[:, :1], noise_std=None)
    out = evaluate(one, x, y, levels=(0.5,))
    assert set(out) == {"lppd", "lppd_se", "accuracy", "nll", "ece", "num_samples", "num_points"}
    assert out["nll"] == -out["lppd"]
    json.dumps(out, allow_nan=False)


def test_single_point_has_no_standard_error(regression):
    post, x, y, _, _ = regression
    assert math.isnan(lppd(post, x[:1], y[:1]).se)


# --- bad input ------------------------------------------------------------------------------
def test_wrong_targets(regression, classification):
    post, x, y, _, _ = regression
    with pytest.raises(ShapeError, match=r"\(12, 1\)"):
        lppd(post, x, y[:5])
    with pytest.raises(DataError, match="row 3"):
        rmse(post, x, np.where(np.arange(12)[:, None] == 3, np.nan, y))
    cpost, cx, cy, _ = classification
    with pytest.raises(DataError, match="0..3"):
        accuracy(cpost, cx, np.full_like(cy, 4))
    with pytest.raises(DataError, match="whole"):
        nll(cpost, cx, cy + 0.5)
    with pytest.raises(ShapeError):
        ece(cpost, cx, cy[:, None])
    with pytest.raises(ShapeError, match=r"\(n, 2\)"):
        lppd(post, x[:, :1], y)


def test_metric_for_the_other_likelihood(regression, classification):
    post, x, y, _, _ = regression
    with pytest.raises(UnsupportedError, match="classification"):
        accuracy(post, x, y)
    cpost, cx, cy, _ = classification
    for metric in (rmse, crps, coverage):
        with pytest.raises(UnsupportedError, match="regression"):
            metric(cpost, cx, cy)


@pytest.mark.parametrize("levels", [(0.0,), (1.0,), (), (0.5, 1.5)])
def test_bad_levels(regression, levels):
    post, x, y, _, _ = regression
    with pytest.raises(SymbnnError, match="between 0 and 1"):
        coverage(post, x, y, levels)


def test_bad_bins(classification):
    post, x, y, _ = classification
    with pytest.raises(SymbnnError, match="n_bins"):
        ece(post, x, y, n_bins=0)


def test_crps_of_many_draws_is_estimated_within_its_error(monkeypatch):
    """Past `CRPS_EXACT_MAX` draws the pairwise term comes from random pairings: unbiased, and
    on a spread-out mixture within a few of its standard errors of the exact double sum."""
    import jax.numpy as jnp

    import symbnn.predictive.metrics as M

    rng = np.random.default_rng(5)
    s, p = 600, 7
    mu = rng.normal(size=(s, p)) * rng.uniform(0.1, 2.0, size=p)
    sigma = rng.uniform(0.05, 0.5, size=s)
    y = rng.normal(size=p)
    import jax

    with jax.enable_x64(True):
        exact = np.asarray(M._crps_mixture(jnp.asarray(mu), jnp.asarray(sigma), jnp.asarray(y), 64))
        perms = np.stack([rng.permutation(s) for _ in range(M.CRPS_PERMUTATIONS)])
        est, se = M._crps_mixture_paired(
            jnp.asarray(mu), jnp.asarray(sigma), jnp.asarray(y), jnp.asarray(perms)
        )
    assert 0 < float(se) < 0.01 * abs(exact.mean())
    assert abs(float(np.mean(est)) - exact.mean()) < 5 * float(se)
    # The public metric switches to the estimator above the threshold.
    post = random_posterior(seed=3, chains=30, draws=4)
    x = np.random.default_rng(4).normal(size=(5, post.spec.in_features))
    yy = np.random.default_rng(6).normal(size=5)
    whole = crps(post, x, yy)
    monkeypatch.setattr(M, "CRPS_EXACT_MAX", 16)
    assert abs(crps(post, x, yy) - whole) < 0.02 * abs(whole)
