"""scikit-learn estimators over `MLP` + `sample`: `BNNRegressor` and `BNNClassifier`.

`fit(X, y)` standardizes the features (and a regression target) with the training data's
moments, runs `symbnn.sample` and keeps the `Posterior` (`posterior_`, in standardized units);
every prediction maps back to the data's units. `score` is the mean log predictive density of
the data (the LPPD, higher is better), so `GridSearchCV` picks what predicts best as a
distribution, not as a point.

Needs scikit-learn (`pip install 'symbnn[sklearn]'`).
"""

from __future__ import annotations

import inspect
import numbers
from dataclasses import fields

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "symbnn's scikit-learn estimators need scikit-learn>=1.6: pip install 'symbnn[sklearn]'"
    ) from e

from ..chains.bound import chains_needed, halfnormal_weights
from ..errors import SymbnnError
from ..model.mlp import MLP
from ..predictive.metrics import lppd, predictive_quantiles
from ..predictive.ppd import predict as _predict
from ..sampling.driver import sample
from ..sampling.posterior import Posterior

_SAMPLE_DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(sample).parameters.items()
    if p.default is not inspect.Parameter.empty
}
# Arguments the estimator sets itself; `sample_options` may not override them.
_OWN = {"num_chains", "num_warmup", "num_samples", "kernel", "seed", "progress", "confidence"}


def _moments(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = a.mean(axis=0), a.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)  # a constant column stays as it is


class _BNN(BaseEstimator):
    """What both estimators share: the network, the sampler's settings, and `fit`."""

    _likelihood = "gaussian"

    def __init__(
        self,
        hidden=(3,),
        activation="tanh",
        prior_scale=1.0,
        kernel=None,
        num_chains="bound",
        num_warmup=None,
        num_samples=None,
        modes=3,
        confidence=0.99,
        random_state=0,
        sample_options=None,
        progress=False,
    ):
        self.hidden = hidden
        self.activation = activation
        self.prior_scale = prior_scale
        self.kernel = kernel
        self.num_chains = num_chains
        self.num_warmup = num_warmup
        self.num_samples = num_samples
        self.modes = modes
        self.confidence = confidence
        self.random_state = random_state
        self.sample_options = sample_options
        self.progress = progress

    # --- fitting --------------------------------------------------------------------------
    def _chains(self):
        n = self.num_chains
        if n == "bound":
            return chains_needed(halfnormal_weights(self.modes), self.confidence, method="exact")
        if n == "auto" or (isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0):
            return n
        raise SymbnnError(f"num_chains must be a positive int, 'auto' or 'bound', got {n!r}")

    def _seed(self) -> int:
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _sample(self, x: np.ndarray, y: np.ndarray, out: int) -> None:
        options = dict(self.sample_options or {})
        clash = sorted(_OWN & set(options))
        if clash:
            raise SymbnnError(f"sample_options may not set {clash}: they are estimator arguments")
        hidden = (self.hidden,) if isinstance(self.hidden, numbers.Integral) else self.hidden
        self.spec_ = MLP(
            x.shape[1], tuple(hidden), out, self.activation, self._likelihood, self.prior_scale
        )

        def default(value, name):
            return _SAMPLE_DEFAULTS[name] if value is None else value

        self.posterior_ = sample(
            self.spec_,
            x,
            y,
            num_chains=self._chains(),
            num_warmup=default(self.num_warmup, "num_warmup"),
            num_samples=default(self.num_samples, "num_samples"),
            kernel=default(self.kernel, "kernel"),
            seed=self._seed(),
            progress=self.progress,
            confidence=self.confidence,
            **options,
        )
        self.num_chains_ = self.posterior_.num_chains

    def _fitted(self):
        check_is_fitted(self, "posterior_")
        return self.posterior_

    def _inputs(self, X) -> np.ndarray:
        self._fitted()
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return (X - self.x_mean_) / self.x_scale_

    def _predictive(self, X):
        """Network outputs at `X` for every posterior sample (standardized units)."""
        Z = self._inputs(X)
        return _predict(self.posterior_, Z)

    # The network holds JAX functions, which do not pickle: pickle its description instead.
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: the live estimator stays as it is
        if "spec_" in state:
            state["spec_"] = state["spec_"].to_dict()
            post = state["posterior_"]
            state["posterior_"] = {f.name: getattr(post, f.name) for f in fields(post)}
            state["posterior_"]["spec"] = state["spec_"]
        return state

    def __setstate__(self, state):
        if isinstance(state.get("spec_"), dict):
            state = dict(state)
            state["spec_"] = MLP.from_dict(state["spec_"])
            state["posterior_"] = Posterior(**{**state["posterior_"], "spec": state["spec_"]})
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = not isinstance(self.random_state, numbers.Integral)
        return tags


class BNNRegressor(RegressorMixin, _BNN):
    """Bayesian MLP regression by many-chain MCMC (`symbnn.sample`), as a scikit-learn
    estimator.

    Network: `hidden` widths, `activation`, `prior_scale` (see `symbnn.MLP`); noise σ is
    sampled with the weights. Sampling: `kernel` (None: `symbnn.sample`'s default),
    `num_chains` (an int; `"bound"`: the exact bound's count for `modes` modes at
    `confidence`, 54 for the defaults; `"auto"`: rounds of chains until the modes found call
    for no more), `num_warmup` and `num_samples` per chain (None: `sample`'s defaults),
    `random_state` (an int is `sample`'s seed), and any other keyword of `sample` in
    `sample_options` (e.g. `{"init": "ensemble"}` or kernel options).

    After `fit`: `posterior_` (standardized units), `spec_`, `num_chains_`, the moments
    `x_mean_`, `x_scale_`, `y_mean_`, `y_scale_`, and `n_features_in_`.
    """

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, multi_output=True)
        self._y_1d = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        self.x_mean_, self.x_scale_ = _moments(X)
        self.y_mean_, self.y_scale_ = _moments(y2)
        x, z = (X - self.x_mean_) / self.x_scale_, (y2 - self.y_mean_) / self.y_scale_
        self._sample(x, z, y2.shape[1])
        return self

    def _shape(self, a: np.ndarray) -> np.ndarray:
        """`(n, out, ...)` in data units -> `(n, ...)` when fitted on a 1-D target."""
        return a[:, 0] if self._y_1d else a

    def predict(self, X, return_std=False):
        """Predictive mean (`(n,)`, or `(n, outputs)` for a 2-D target); with `return_std`
        also the predictive standard deviation (noise and the spread of the networks)."""
        pred = self._predictive(X)
        f, sigma = pred.flat()
        mean = f.mean(axis=0) * self.y_scale_ + self.y_mean_
        if not return_std:
            return self._shape(mean)
        var = f.var(axis=0) + np.mean(sigma**2)
        return self._shape(mean), self._shape(np.sqrt(var) * self.y_scale_)

    def predict_quantiles(self, X, quantiles=(0.05, 0.5, 0.95)):
        """Quantiles of the predictive mixture: `(n, len(quantiles))`, or
        `(n, outputs, len(quantiles))` for a 2-D target."""
        q = predictive_quantiles(self._fitted(), self._inputs(X), quantiles)  # (L, n, out)
        q = q * self.y_scale_ + self.y_mean_
        return self._shape(np.moveaxis(q, 0, -1))

    def predict_interval(self, X, level=0.9):
        """`(lower, upper)`: the central `level` interval of the predictive, each shaped like
        `predict`'s output."""
        if not 0.0 < level < 1.0:
            raise SymbnnError(f"level must lie strictly between 0 and 1, got {level}")
        q = self.predict_quantiles(X, ((1 - level) / 2, (1 + level) / 2))
        return q[..., 0], q[..., 1]

    def sample_y(self, X, n_samples=1, random_state=0):
        """Draws from the posterior predictive at `X` (a posterior sample, then its noise):
        `(n, n_samples)`, or `(n, outputs, n_samples)` for a 2-D target."""
        rng = check_random_state(random_state)
        f, sigma = self._predictive(X).flat()
        pick = rng.randint(len(f), size=n_samples)
        z = f[pick] + sigma[pick, None, None] * rng.standard_normal((n_samples, *f.shape[1:]))
        return self._shape(np.moveaxis(z * self.y_scale_ + self.y_mean_, 0, -1))

    def score(self, X, y, sample_weight=None):
        """Mean log predictive density of `y` at `X` in the data's units (the LPPD; higher is
        better). Not R²: a distribution is scored, not a point."""
        Z = self._inputs(X)
        y = np.asarray(y, dtype=np.float64).reshape(len(Z), -1)
        lp = lppd(self.posterior_, Z, (y - self.y_mean_) / self.y_scale_).per_point
        lp = lp - np.sum(np.log(self.y_scale_))  # the density of y, not of standardized y
        return float(np.average(lp, weights=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.regressor_tags.poor_score = True  # `score` is the LPPD, not R² (which can be > 0.5)
        return tags


class BNNClassifier(ClassifierMixin, _BNN):
    """Bayesian MLP classification (categorical likelihood) by many-chain MCMC, as a
    scikit-learn estimator. Arguments as `BNNRegressor`'s.

    After `fit`: `classes_`, `posterior_` (on standardized features), `spec_`,
    `num_chains_`, `x_mean_`, `x_scale_` and `n_features_in_`.
    """

    _likelihood = "categorical"

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise SymbnnError(
                f"a classifier needs at least 2 classes in y; it has 1 class ({self.classes_[0]})"
            )
        self.x_mean_, self.x_scale_ = _moments(X)
        self._sample((X - self.x_mean_) / self.x_scale_, encoder.transform(y), len(self.classes_))
        return self

    def predict_proba(self, X):
        """`(n, classes)`: the class probabilities averaged over the posterior samples."""
        return self._predictive(X).probs().mean(axis=(0, 1))

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def sample_y(self, X, n_samples=1, random_state=0):
        """Labels drawn from the posterior predictive at `X`: `(n, n_samples)`."""
        rng = check_random_state(random_state)
        probs = self._predictive(X).probs()
        probs = probs.reshape(-1, *probs.shape[2:])  # (S, n, classes)
        pick = probs[rng.randint(len(probs), size=n_samples)]  # (n_samples, n, classes)
        u = rng.uniform(size=pick.shape[:2] + (1,))
        labels = (np.cumsum(pick, axis=-1) < u).sum(axis=-1)
        return self.classes_[np.minimum(labels, len(self.classes_) - 1)].T

    def score(self, X, y, sample_weight=None):
        """Mean log predictive probability of the labels `y` (the LPPD; higher is better; minus
        the log loss). Labels the classifier never saw score as an error."""
        Z = self._inputs(X)
        y = np.asarray(y)
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise SymbnnError(f"y holds labels not seen in fit: {np.unique(y[unknown])[:5]}")
        codes = np.searchsorted(self.classes_, y)
        lp = lppd(self.posterior_, Z, codes).per_point
        return float(np.average(lp, weights=sample_weight))


__all__ = ["BNNClassifier", "BNNRegressor"]
