"""`Posterior.to_arviz`: symmetric copies no longer read as disagreeing chains, function-space
outputs and the pointwise log likelihood for `az.loo`/`az.waic`."""

import numpy as np
import pytest

import symbnn
from symbnn import Posterior, SymbnnError
from symbnn.symmetry.canonical import Transform

az = pytest.importorskip("arviz")

PERMS = [(0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0)]
SIGNS = [(1, 1, 1), (-1, 1, -1), (1, -1, 1), (-1, -1, -1)]


def mirrored_posterior(draws=200, seed=0, likelihood="gaussian"):
    """Four chains around one mode of a 1-3-1 tanh network (or 2-3-3 classifier), each chain
    in a different symmetric copy: the same functions, labelled differently."""
    rng = np.random.default_rng(seed)
    if likelihood == "gaussian":
        spec = symbnn.MLP(1, (3,), 1)
    else:
        spec = symbnn.MLP(2, (3,), 3, likelihood="categorical")
    mode = rng.normal(size=spec.num_params) * 1.5
    chains = []
    for perm, sign in zip(PERMS, SIGNS, strict=True):
        draws_c = mode + 0.05 * rng.normal(size=(draws, spec.num_params))
        t = Transform(spec.sizes, "tanh", np.array(perm), np.array(sign), np.ones(3))
        chains.append(t.apply(draws_c))
    samples = np.stack(chains)
    noise = np.exp(-1 + 0.05 * rng.normal(size=(4, draws))) if likelihood == "gaussian" else None
    return Posterior(
        spec=spec,
        samples=samples,
        noise_std=noise,
        diagnostics={"divergences": np.zeros(4, int), "finite": np.ones(4, bool)},
        settings={"kernel": "nuts", "device": "cpu: cpu × 1"},
    )


def max_rhat(idata, var):
    return float(az.rhat(idata, var_names=[var])[var].max())


def test_symmetric_copies_read_as_agreement():
    post = mirrored_posterior()
    x = np.linspace(-2, 2, 7)[:, None]
    raw = post.to_arviz(x, symmetries=None)
    canonical = post.to_arviz(x)
    removed = post.to_arviz(x, symmetries="remove")
    assert max_rhat(raw, "theta") > 1.5  # the lie this export exists to avoid
    assert max_rhat(canonical, "theta") < 1.05
    assert max_rhat(removed, "theta") < 1.05
    assert removed.attrs["removal_quality_after"] < 0.1
    assert canonical.attrs["symmetries"] == "canonicalize"
    # Function space never sees the labelling: the same outputs whatever the export.
    for idata in (canonical, removed):
        np.testing.assert_allclose(idata.posterior["f"].values, raw.posterior["f"].values)
    assert max_rhat(raw, "f") < 1.05
    summary = az.summary(canonical, var_names=["theta", "noise_std", "f"])
    assert summary["r_hat"].max() < 1.05
    assert "theta[w1[0,0]]" in summary.index and "f[6, 0]" in summary.index


def test_layout_and_coordinates():
    post = mirrored_posterior(draws=5)
    idata = post.to_arviz(np.zeros((2, 1)))
    assert idata.posterior["theta"].dims == ("chain", "draw", "param")
    assert idata.posterior["theta"].shape == (4, 5, 10)
    assert list(idata.posterior["param"].values[[0, 3, 6, 9]]) == [
        "w1[0,0]", "b1[0]", "w2[0,0]", "b2[0]",
    ]  # fmt: skip
    assert idata.posterior["f"].shape == (4, 5, 2, 1)
    assert idata.posterior["noise_std"].shape == (4, 5)
    assert idata.sample_stats["divergences"].shape == (4, 5)
    assert "log_likelihood" not in idata.groups()
    assert idata.attrs["device"] == "cpu: cpu × 1"


# ArviZ warns about Pareto k and WAIC's variance on this made-up data; the numbers are checked.
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("likelihood", ["gaussian", "categorical"])
def test_log_likelihood_matches_lppd_and_feeds_loo(likelihood):
    post = mirrored_posterior(draws=50, likelihood=likelihood)
    rng = np.random.default_rng(1)
    n = 12
    x = rng.normal(size=(n, post.spec.in_features))
    if likelihood == "gaussian":
        y = rng.normal(size=(n, 1))
    else:
        y = rng.integers(0, 3, n)
    idata = post.to_arviz(x, y)
    ll = idata.log_likelihood["y"].values
    assert ll.shape == (4, 50, n)
    # log mean_s p(y_i | θ_s) from the exported values is the package's own LPPD.
    per_point = np.logaddexp.reduce(ll.reshape(-1, n), axis=0) - np.log(ll[..., 0].size)
    np.testing.assert_allclose(per_point, symbnn.lppd(post, x, y).per_point, rtol=1e-9)
    loo = az.loo(idata, pointwise=True)
    waic = az.waic(idata)
    assert np.isfinite(loo.elpd_loo) and np.isfinite(waic.elpd_waic)
    assert loo.elpd_loo <= symbnn.lppd(post, x, y).mean * n + 1e-9  # LOO pays for fitting
    np.testing.assert_array_equal(np.squeeze(idata.observed_data["y"].values), np.squeeze(y))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_plot_trace_of_function_space():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    post = mirrored_posterior(draws=20)
    axes = az.plot_trace(post.to_arviz(np.zeros((1, 1))), var_names=["f", "noise_std"])
    assert axes.shape == (2, 2)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_bad_arguments():
    post = mirrored_posterior(draws=5)
    with pytest.raises(SymbnnError, match="symmetries must be"):
        post.to_arviz(symmetries="sorted")
    with pytest.raises(SymbnnError, match="y needs the inputs x"):
        post.to_arviz(y=np.zeros(3))
    with pytest.raises(SymbnnError, match="removal_options apply to symmetries='remove'"):
        post.to_arviz(removal_options={"restarts": 1})
    with pytest.raises(symbnn.ShapeError):
        post.to_arviz(np.zeros((3, 2)))
    idata = post.to_arviz(symmetries="remove", removal_options={"restarts": 1, "seed": 3})
    assert idata.posterior["theta"].shape == (4, 5, 10)
