"""The scikit-learn estimators: scikit-learn's own estimator checks, Pipeline and GridSearchCV,
and what they add to `sample` (standardization, intervals, LPPD scores, predictive draws)."""

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import symbnn  # noqa: E402
from symbnn import SymbnnError  # noqa: E402
from symbnn.interop.sklearn import BNNClassifier, BNNRegressor  # noqa: E402

# Tiny settings: HMC from prior draws compiles fastest, and the checks fit dozens of times.
TINY = dict(
    hidden=2,
    kernel="hmc",
    num_chains=2,
    num_warmup=10,
    num_samples=2,
    sample_options={"num_integration_steps": 2, "init": "prior"},
)


@parametrize_with_checks([BNNRegressor(**TINY), BNNClassifier(**TINY)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def regression_table(n=48, seed=0):
    """Two features on very different scales; the target in units far from 1."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(-3, 3, n), rng.uniform(0, 1000, n)])
    y = 500.0 + 80.0 * np.sin(X[:, 0]) + 5.0 * rng.normal(size=n)
    return X, y


def test_regressor_is_sample_on_standardized_data():
    X, y = regression_table()
    est = BNNRegressor(**TINY, random_state=4).fit(X, y)
    xs = (X - X.mean(0)) / X.std(0)
    zs = ((y - y.mean()) / y.std())[:, None]
    post = symbnn.sample(
        symbnn.MLP(2, (2,), 1), xs, zs, num_chains=2, num_warmup=10, num_samples=2,
        kernel="hmc", init="prior", num_integration_steps=2, seed=4, progress=False,
    )  # fmt: skip
    np.testing.assert_allclose(est.posterior_.samples, post.samples)
    assert est.num_chains_ == 2 and est.n_features_in_ == 2
    # Predictions come back in the data's units.
    f, sigma = symbnn.predict(post, xs).flat()
    np.testing.assert_allclose(est.predict(X), f.mean(0)[:, 0] * y.std() + y.mean())
    mean, std = est.predict(X, return_std=True)
    np.testing.assert_allclose(std, np.sqrt(f.var(0)[:, 0] + np.mean(sigma**2)) * y.std())
    # The LPPD of y is the LPPD of standardized y minus log of the scale (the Jacobian).
    expect = symbnn.lppd(post, xs, zs).mean - np.log(y.std())
    assert est.score(X, y) == pytest.approx(expect)


def test_regressor_intervals_and_draws():
    X, y = regression_table()
    est = BNNRegressor(**TINY).fit(X, y)
    q = est.predict_quantiles(X[:5], (0.05, 0.5, 0.95))
    assert q.shape == (5, 3) and np.all(np.diff(q, axis=1) > 0)
    lo, hi = est.predict_interval(X[:5], level=0.9)
    np.testing.assert_allclose(lo, q[:, 0])
    np.testing.assert_allclose(hi, q[:, 2])
    draws = est.sample_y(X[:5], n_samples=4000, random_state=1)
    assert draws.shape == (5, 4000)
    mean, std = est.predict(X[:5], return_std=True)
    np.testing.assert_allclose(draws.mean(1), mean, atol=5 * std.max() / np.sqrt(4000))
    inside = (lo[:, None] <= draws) & (draws <= hi[:, None])
    assert abs(inside.mean() - 0.9) < 0.03
    # A 2-D target keeps its output axis everywhere.
    est2 = BNNRegressor(**TINY).fit(X, np.column_stack([y, -y]))
    assert est2.predict(X[:3]).shape == (3, 2)
    assert est2.predict_quantiles(X[:3], (0.1, 0.9)).shape == (3, 2, 2)
    assert est2.sample_y(X[:3], n_samples=5).shape == (3, 2, 5)
    with pytest.raises(SymbnnError, match="level must lie strictly between 0 and 1"):
        est.predict_interval(X, level=1.5)


def test_classifier_probabilities_labels_and_score():
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 2)) * [1.0, 50.0]
    labels = np.array(["low", "mid", "high"])
    y = labels[(X[:, 0] > -0.5).astype(int) + (X[:, 0] > 0.5)]
    est = BNNClassifier(**TINY).fit(X, y)
    assert list(est.classes_) == ["high", "low", "mid"]
    proba = est.predict_proba(X)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(1)])
    assert est.score(X, y) == pytest.approx(-log_loss(y, proba, labels=est.classes_))
    draws = est.sample_y(X[:4], n_samples=7)
    assert draws.shape == (4, 7) and set(draws.ravel()) <= set(labels)
    with pytest.raises(SymbnnError, match="labels not seen in fit"):
        est.score(X[:2], ["low", "tall"])
    with pytest.raises(SymbnnError, match="at least 2 classes"):
        BNNClassifier(**TINY).fit(X, np.zeros(60))


def test_pipeline_and_grid_search():
    from sklearn.preprocessing import StandardScaler

    X, y = regression_table(n=40)
    pipe = make_pipeline(StandardScaler(), BNNRegressor(**TINY))
    search = GridSearchCV(pipe, {"bnnregressor__hidden": [1, 2]}, cv=2).fit(X, y)
    assert search.best_params_["bnnregressor__hidden"] in (1, 2)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.predict(X[:3]).shape == (3,)
    # A transformer in front changes nothing the estimator sees (it standardizes anyway).
    same = make_pipeline(FunctionTransformer(lambda a: 3.0 * a + 1.0), BNNRegressor(**TINY))
    np.testing.assert_allclose(
        same.fit(X, y).predict(X), BNNRegressor(**TINY).fit(X, y).predict(X), rtol=1e-6
    )


def test_chain_counts_and_defaults(monkeypatch):
    import inspect

    import symbnn.interop.sklearn as est_mod

    seen = {}

    def fake_sample(spec, x, y, **kwargs):
        seen.update(kwargs)
        rng = np.random.default_rng(0)
        return symbnn.Posterior(
            spec=spec,
            samples=rng.normal(size=(2, 1, spec.num_params)),
            noise_std=np.ones((2, 1)),
        )

    monkeypatch.setattr(est_mod, "sample", fake_sample)
    X, y = regression_table(n=10)
    BNNRegressor().fit(X, y)
    defaults = inspect.signature(symbnn.sample).parameters
    assert seen["kernel"] == defaults["kernel"].default  # None: the package's default
    assert seen["num_warmup"] == defaults["num_warmup"].default
    assert seen["num_chains"] == symbnn.chains_needed(symbnn.halfnormal_weights(3), 0.99)
    BNNRegressor(num_chains="auto", modes=2, sample_options={"pilot_chains": 8}).fit(X, y)
    assert seen["num_chains"] == "auto" and seen["pilot_chains"] == 8
    assert seen["confidence"] == 0.99
    for bad in (0, "many", 2.5, True):
        with pytest.raises(SymbnnError, match="num_chains must be"):
            BNNRegressor(num_chains=bad).fit(X, y)
    with pytest.raises(SymbnnError, match=r"sample_options may not set \['seed'\]"):
        BNNRegressor(sample_options={"seed": 3}).fit(X, y)


def test_pickle_round_trip_keeps_predictions():
    X, y = regression_table(n=20)
    est = BNNRegressor(**TINY).fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(back.predict(X), est.predict(X))
    assert back.posterior_.spec == est.spec_ and hasattr(est.posterior_, "spec")


def test_estimators_load_from_the_package_on_first_use():
    assert symbnn.BNNRegressor is BNNRegressor and symbnn.BNNClassifier is BNNClassifier
    with pytest.raises(AttributeError, match="has no attribute 'BNNRidge'"):
        symbnn.BNNRidge  # noqa: B018
