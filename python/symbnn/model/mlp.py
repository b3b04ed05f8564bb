"""The Bayesian MLP: layer sizes, activation and its symmetry group, and the log density
(paper.md §1), over the flat parameter layout of `model.layout` (for regression the sampler's
*position* is the flat network vector followed by `log σ`; for classification the vector alone).

Every function on `theta` or `position` batches over any leading axes: `theta` of shape
`(..., d)` gives outputs of shape `(..., n, out)`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import jax
import jax.numpy as jnp
import numpy as np

from .. import _core
from .._constants import HALF_LOG_2PI, LOG_HALFNORMAL_CONST
from ..errors import ShapeError, SymbnnError
from . import _chains_last, layout
from .activations import ACTIVATIONS


@dataclass(frozen=True)
class Symmetries:
    """The equioutput transformations of one hidden neuron (paper.md §2)."""

    permutation: bool
    sign_flip: bool
    positive_scaling: bool
    sigmoid_flip: bool


#: Activation name -> its symmetry group, read from the Rust core (the one place it is defined).
SYMMETRIES: MappingProxyType[str, Symmetries] = MappingProxyType(
    {name: Symmetries(**flags) for name, flags in _core.activation_symmetries().items()}
)

LIKELIHOODS = ("gaussian", "categorical")


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a large machine
        return 2**40


def _checked_sizes(in_features, hidden, out_features) -> tuple[int, ...]:
    """The layer sizes as Python ints. Checked here rather than left to the core, whose
    conversion to machine integers fails with an OverflowError and would truncate 3.5 to 3."""
    if isinstance(hidden, int | np.integer):
        hidden = (hidden,)
    try:
        hidden = tuple(hidden)
    except TypeError:
        raise SymbnnError(f"hidden must be a sequence of widths, got {hidden!r}") from None
    named = [("in_features", in_features)]
    named += [(f"hidden[{i}]", h) for i, h in enumerate(hidden)]
    named += [("out_features", out_features)]
    for name, size in named:
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise SymbnnError(f"{name} must be a positive integer, got {size!r}")
    sizes = tuple(int(s) for _, s in named)
    d = layout.num_params(sizes)
    # One float64 parameter vector must fit in memory; a sampler holds many more.
    if 8 * d > _memory_bytes():
        raise SymbnnError(
            f"layer sizes {list(sizes)} give {d:.3g} parameters: one float64 parameter vector "
            f"would take {8 * d / 1e9:.3g} GB, more than this machine's "
            f"{_memory_bytes() / 1e9:.3g} GB of memory"
        )
    return sizes


def shaped_targets(spec, y, n: int):
    """`y` in the shape the log likelihood uses, inside a traced log density: `(n, out)` for
    regression (`(n,)` accepted for one output), int32 labels `(n,)` for classification. Data
    are validated before they reach JAX (`_checks.check_targets`); this only shapes them."""
    y = jnp.asarray(y)
    if spec.likelihood == "categorical":
        if y.shape != (n,):
            raise ShapeError(f"class labels y must have shape ({n},), got {tuple(y.shape)}")
        return y.astype(jnp.int32)
    if y.ndim == 1 and spec.out_features == 1:
        y = y[:, None]
    if y.shape != (n, spec.out_features):
        raise ShapeError(
            f"y must have shape ({n}, {spec.out_features}) to match x, got {tuple(y.shape)}"
        )
    return y


class MLP:
    """A Bayesian MLP with an isotropic Gaussian prior `N(0, prior_scale²)` on every parameter.

    `likelihood="gaussian"`: `y ~ N(f(x), σ²)` with `σ ~ HalfNormal(1)`, sampled as `log σ`.
    `likelihood="categorical"`: `y` holds integer class labels, `f(x)` the logits.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (3,),
        out_features: int = 1,
        activation: str = "tanh",
        likelihood: str = "gaussian",
        prior_scale: float = 1.0,
    ) -> None:
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise SymbnnError(
                f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}"
            )
        if not isinstance(likelihood, str) or likelihood not in LIKELIHOODS:
            raise SymbnnError(
                f"unknown likelihood {likelihood!r}; expected one of {', '.join(LIKELIHOODS)}"
            )
        if (
            isinstance(prior_scale, bool)
            or not isinstance(prior_scale, int | float | np.integer | np.floating)
            or not (math.isfinite(prior_scale) and prior_scale > 0)
        ):
            raise SymbnnError(f"prior_scale must be positive and finite, got {prior_scale!r}")
        self.sizes: tuple[int, ...] = _checked_sizes(in_features, hidden, out_features)
        # The core validates the sizes (positive, at least two) and gives d.
        self.num_params: int = _core.num_params(list(self.sizes), activation)
        self.activation = activation
        self.likelihood = likelihood
        self.prior_scale = float(prior_scale)

    # --- description -----------------------------------------------------------------------
    @property
    def in_features(self) -> int:
        return self.sizes[0]

    @property
    def out_features(self) -> int:
        return self.sizes[-1]

    @property
    def hidden(self) -> tuple[int, ...]:
        return self.sizes[1:-1]

    @property
    def num_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def symmetries(self) -> Symmetries:
        return SYMMETRIES[self.activation]

    @property
    def position_size(self) -> int:
        """Length of a sampler position: `d`, plus one (`log σ`) for regression."""
        return self.num_params + (self.likelihood == "gaussian")

    def to_dict(self) -> dict:
        """JSON-ready description; `MLP.from_dict` inverts it."""
        return {
            "sizes": list(self.sizes),
            "activation": self.activation,
            "likelihood": self.likelihood,
            "prior_scale": self.prior_scale,
        }

    @classmethod
    def from_dict(cls, d: dict) -> MLP:
        sizes = list(d["sizes"])
        return cls(
            sizes[0],
            tuple(sizes[1:-1]),
            sizes[-1],
            activation=d.get("activation", "tanh"),
            likelihood=d.get("likelihood", "gaussian"),
            prior_scale=d.get("prior_scale", 1.0),
        )

    def __repr__(self) -> str:
        return (
            f"MLP(in_features={self.in_features}, hidden={self.hidden}, "
            f"out_features={self.out_features}, activation={self.activation!r}, "
            f"likelihood={self.likelihood!r}, prior_scale={self.prior_scale})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MLP) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.sizes, self.activation, self.likelihood, self.prior_scale))

    # --- the flat layout --------------------------------------------------------------------
    def _check_theta(self, theta, size: int, what: str = "theta"):
        if theta.shape[-1:] != (size,):
            raise ShapeError(
                f"{what} has trailing dimension {theta.shape[-1] if theta.ndim else None}, "
                f"but {self!r} needs {size}"
            )

    def unflatten(self, theta) -> list[tuple]:
        """`(..., d)` -> `[(W_l of shape (..., in, out), b_l of shape (..., out)), ...]`."""
        self._check_theta(theta, self.num_params)
        return layout.unflatten(theta, self.sizes)

    def flatten(self, layers: Sequence[tuple]) -> jax.Array | np.ndarray:
        """Inverse of `unflatten`; numpy in, numpy out (else jax)."""
        if len(layers) != self.num_layers:
            raise ShapeError(f"expected {self.num_layers} (W, b) pairs, got {len(layers)}")
        xp = np if all(isinstance(a, np.ndarray) for wb in layers for a in wb) else jnp
        for (w, b), lay in zip(layers, layout.layers(self.sizes), strict=True):
            a, o = lay.fan_in, lay.fan_out
            if w.shape[-2:] != (a, o) or b.shape[-1:] != (o,):
                raise ShapeError(
                    f"layer {lay.index}: expected W (..., {a}, {o}) and b (..., {o}), "
                    f"got {tuple(w.shape)} and {tuple(b.shape)}"
                )
        return layout.flatten(layers, xp)

    def split_position(self, position):
        """`(..., position_size)` -> `(theta (..., d), log_sigma (...) or None)`."""
        self._check_theta(position, self.position_size, "position")
        if self.likelihood == "gaussian":
            return position[..., : self.num_params], position[..., self.num_params]
        return position, None

    # --- the network ------------------------------------------------------------------------
    def apply(self, theta, x) -> jax.Array:
        """Network output: `theta (..., d)`, `x (n, in)` -> `(..., n, out)`."""
        x = jnp.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ShapeError(f"x must have shape (n, {self.in_features}), got {tuple(x.shape)}")
        layers = self.unflatten(jnp.asarray(theta))
        h = x
        for i, (w, b) in enumerate(layers):
            h = h @ w + b[..., None, :]
            if i < len(layers) - 1:
                h = ACTIVATIONS[self.activation](h)
        return h

    # --- the log density (paper.md §1) -------------------------------------------------------
    def log_prior(self, position) -> jax.Array:
        """Isotropic Gaussian on the network; for regression also HalfNormal(1) on σ with the
        Jacobian of σ = exp(log σ)."""
        theta, log_sigma = self.split_position(jnp.asarray(position))
        s = self.prior_scale
        lp = -0.5 * jnp.sum(theta**2, axis=-1) / s**2 - self.num_params * (
            math.log(s) + HALF_LOG_2PI
        )
        if log_sigma is not None:
            sigma = jnp.exp(log_sigma)
            lp = lp + LOG_HALFNORMAL_CONST - 0.5 * sigma**2 + log_sigma
        return lp

    def log_likelihood(self, position, x, y, weights=None) -> jax.Array:
        """Sum over the data of `log p(y_i | x_i, position)`, each term times `weights[i]` if
        given (`(n,)`; zero leaves a row out); shape: the leading axes."""
        position = jnp.asarray(position)
        theta, log_sigma = self.split_position(position)
        f = self.apply(theta, x)
        y = shaped_targets(self, y, f.shape[-2])
        if self.likelihood == "categorical":
            logp = jax.nn.log_softmax(f, axis=-1)
            per_row = jnp.take_along_axis(logp, y[:, None], axis=-1)[..., 0]
        else:
            ls = log_sigma[..., None, None]
            z = (y - f) * jnp.exp(-ls)
            per_row = jnp.sum(-0.5 * z**2 - ls - HALF_LOG_2PI, axis=-1)
        if weights is not None:
            per_row = per_row * jnp.asarray(weights, per_row.dtype)
        return jnp.sum(per_row, axis=-1)

    def log_density(self, position, x, y, weights=None) -> jax.Array:
        """Unnormalised log posterior: `log_prior + log_likelihood`."""
        return self.log_prior(position) + self.log_likelihood(position, x, y, weights)

    def logdensity_fn(self, x, y, weights=None) -> Callable[[jax.Array], jax.Array]:
        """`position -> log density` closed over the data (the form BlackJAX kernels take),
        its rows weighted by `weights` if given. Vmapped over chains, the gradient is computed
        for all chains at once (`model._chains_last`): chains on the last axis for a narrow
        network (two to three times as fast), batched products with the shared inputs in one
        product for a wide one (1.0-1.5x); the same values."""
        x, y = jnp.asarray(x), jnp.asarray(y)
        return _chains_last.logdensity_fn(self, x, y, self.log_density, weights=weights)

    def init_position(self, key, shape: tuple[int, ...] = ()) -> jax.Array:
        """Draws from the prior, shape `(*shape, position_size)` (log σ from HalfNormal(1))."""
        k1, k2 = jax.random.split(key)
        theta = self.prior_scale * jax.random.normal(k1, (*shape, self.num_params))
        if self.likelihood != "gaussian":
            return theta
        sigma = jnp.abs(jax.random.normal(k2, shape))
        return jnp.concatenate([theta, jnp.log(sigma)[..., None]], axis=-1)
