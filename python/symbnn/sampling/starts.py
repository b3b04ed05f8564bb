"""Where chains start: a prior draw per chain (the study's protocol), or, by default, a start
optimised on the negative log posterior (`init="ensemble"`, as deep-ensemble-initialised MCMC and
MILE do). Runs inside the chunk program: every chain's start is one row of a vmapped optimiser.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._checks import positive_int
from ..errors import NonFiniteError, ShapeError, SymbnnError
from ..model import MLP, layout
from . import progress

INITS = ("prior", "ensemble")
#: Defaults of `init="ensemble"`: full-batch Adam on the negative log posterior, its learning
#: rate decayed along a cosine to 1 % of the start, from fan-in scaled starts (see
#: `fan_in_scale`). Measured on f2 (airfoil, 32 chains): 4000 such steps reach a noise σ of
#: 0.083 where prior-scaled starts reach 0.14 and minibatch AdamW (MILE's recipe, 300 epochs)
#: 0.17; the sampler then needs far fewer steps to settle. Each start holds out `holdout` of
#: the rows and keeps its best iterate on them, checked every `check_every` steps (see
#: `optimize_starts`; `holdout=0` trains on all rows to the end); `"auto"` holds out
#: `AUTO_HOLDOUT` where the network can interpolate its training rows, none elsewhere (see
#: `holdout_fraction`).
ENSEMBLE_DEFAULTS = {
    "optimizer": "adam",
    "learning_rate": 2e-2,
    "num_steps": 3000,
    "schedule": "cosine",
    "start": "fan_in",
    "holdout": "auto",
    "check_every": 100,
}
AUTO_HOLDOUT = 0.1
_SCHEDULES = ("constant", "cosine")
_STARTS = ("prior", "fan_in")
_OPTIMIZERS = {"adam": optax.adam, "rmsprop": optax.rmsprop, "sgd": optax.sgd}


def holdout_fraction(holdout: float | str, spec: MLP, rows: int) -> float:
    """The share of rows a start holds out. `"auto"`: `AUTO_HOLDOUT` when the network has at
    least as many weights as there are training rows, 0 otherwise.

    Why the count: with `d >= n` weights a network can generically fit `n` rows exactly, the
    regression posterior's density grows without bound as σ -> 0 there, and an optimiser run
    to the end lands in that spike (diabetes f2, 737 weights, 353 rows: σ 0.005, test LPPD
    -81); the held-out stop keeps the starts out of it. With fewer weights than rows the
    optimum is finite and deeper starts are better ones: the stop would only cut them short
    (airfoil f2, 657 weights, 1202 rows, 128 chains: 0.55 with it, 0.62 without; every f1
    cell of the study equal or better without it; `benches/bench_default.py`)."""
    if holdout != "auto":
        return float(holdout)
    return AUTO_HOLDOUT if spec.num_params >= rows else 0.0


def holdout_score(spec: MLP) -> Callable:
    """`(position, x, y) -> score` of a start on held-out rows, higher is better. Regression
    scores the network by its mean squared error alone, the Gaussian log likelihood with σ
    profiled out: the sampler re-fits σ in a few steps, whereas a σ the optimiser has not yet
    caught up with would make the score prefer the untrained start (measured on airfoil, f2:
    starts stopped by the σ-dependent likelihood reach σ 0.18, by this score 0.10)."""
    if spec.likelihood == "categorical":
        return lambda position, x, y: spec.log_likelihood(position[: spec.num_params], x, y)
    return lambda position, x, y: -jnp.mean((y - spec.apply(position[: spec.num_params], x)) ** 2)


def prior_start(spec: MLP, noise_std: float | None, key) -> jax.Array:
    pos = spec.init_position(key)
    return pos[: spec.num_params] if noise_std is not None else pos


def fan_in_scale(spec: MLP, size: int) -> np.ndarray:
    """Per-coordinate factors that turn a standard-normal prior draw into a LeCun-normal
    network start: weights with standard deviation `1/√fan_in`, biases and `log σ` zero.
    Prior-scale weights (sd 1) saturate the tanh units of 16-wide layers, and an optimiser
    started there stalls at a much worse fit (measured: σ 0.14 against 0.08 on airfoil)."""
    scale = layout.fan_in_scale(spec.sizes)
    return np.concatenate([scale, np.zeros(size - len(scale))])  # log σ (if any) starts at 0


def optimize_starts(
    logdensity_fn, starts, *, optimizer, learning_rate, num_steps, schedule="constant",
    holdout=None, keys=None,
):  # fmt: skip
    """Full-batch optax on `-logdensity_fn` for every start `(C, D)`, vmapped; a start that
    ends non-finite falls back to its initial point (the sampler then reports the chain).
    `schedule="cosine"` decays the learning rate to 1 % of `learning_rate` over the steps.

    `holdout=(build, score_fn, x, y, fraction, check_every)` stops early as MILE's deep
    ensembles do: each start (its key in `keys`) trains on its own random `1 - fraction` of
    the rows (`build(x, y, weights)` gives that part's log density, the others weighted 0,
    so that the data stay shared by all chains) and keeps the iterate that scores
    best on the rest (`score_fn(position, x, y)`, checked every `check_every` steps).
    Without it a network with more weights than the data has rows interpolates the training
    set with a vanishing noise σ, a region of huge density that no sampler leaves in a short
    run (measured on diabetes, f2: σ 0.005, test LPPD -134; stopped early: σ 0.38, -1.23)."""
    lr = learning_rate
    if schedule == "cosine":
        lr = optax.cosine_decay_schedule(learning_rate, num_steps, alpha=0.01)
    opt = _OPTIMIZERS[optimizer](lr)

    def run(p0, ld, steps):
        grad = jax.grad(lambda p: -ld(p))

        def step(carry, _):
            p, s = carry
            updates, s = opt.update(grad(p), s, p)
            p = optax.apply_updates(p, updates)
            progress.report_steps(progress.one_per_chain(p))  # the bar's steps
            return (p, s), None

        return jax.lax.scan(step, p0, None, length=steps)[0]

    def finite_or(p, p0):
        return jnp.where(jnp.all(jnp.isfinite(p)) & jnp.isfinite(logdensity_fn(p)), p, p0)

    if holdout is None:
        return jax.vmap(
            lambda p0: finite_or(run((p0, opt.init(p0)), logdensity_fn, num_steps)[0], p0)
        )(starts)

    build, score_fn, x, y, fraction, check_every = holdout
    n = x.shape[0]
    n_val = max(1, round(fraction * n))
    rounds, rest = divmod(num_steps, check_every)

    def one(p0, key):
        order = jax.random.permutation(key, n)
        val = order[:n_val]
        ld_fit = build(x, y, jnp.ones(n, x.dtype).at[val].set(0.0))

        def score(p):
            v = score_fn(p, x[val], y[val])
            return jnp.where(jnp.isfinite(v), v, -jnp.inf)

        def check(carry, _):
            state, best, best_p = carry
            state = run(state, ld_fit, check_every)
            v = score(state[0])
            better = v > best
            return (state, jnp.where(better, v, best), jnp.where(better, state[0], best_p)), None

        carry = ((p0, opt.init(p0)), score(p0), p0)
        (state, best, best_p), _ = jax.lax.scan(check, carry, None, length=rounds)
        if rest:
            state = run(state, ld_fit, rest)
            better = score(state[0]) > best
            best_p = jnp.where(better, state[0], best_p)
        return finite_or(best_p, p0)

    return jax.vmap(one)(starts, keys)


def check_init(init, init_options, num_chains: int, dim: int):
    """-> (explicit starts or None, init name, ensemble options)."""
    if isinstance(init, str):
        if init not in INITS:
            raise SymbnnError(f"init must be one of {', '.join(INITS)} or an array, got {init!r}")
        opts = {}
        if init == "ensemble":
            unknown = set(init_options or {}) - set(ENSEMBLE_DEFAULTS)
            if unknown:
                raise SymbnnError(
                    f"unknown init_options {sorted(unknown)}; "
                    f"expected some of {list(ENSEMBLE_DEFAULTS)}"
                )
            opts = {**ENSEMBLE_DEFAULTS, **(init_options or {})}
            for name, allowed in (
                ("optimizer", tuple(_OPTIMIZERS)),
                ("schedule", _SCHEDULES),
                ("start", _STARTS),
            ):
                if opts[name] not in allowed:
                    raise SymbnnError(
                        f"init_options {name} must be one of {', '.join(allowed)}, "
                        f"got {opts[name]!r}"
                    )
            opts["num_steps"] = positive_int(opts["num_steps"], "init_options num_steps")
            opts["learning_rate"] = float(opts["learning_rate"])
            opts["check_every"] = positive_int(opts["check_every"], "init_options check_every")
            h = opts["holdout"]
            if h != "auto" and (
                isinstance(h, bool) or not isinstance(h, int | float) or not 0 <= h < 0.5
            ):
                raise SymbnnError(
                    f"init_options holdout must be 'auto' or a fraction in [0, 0.5), got {h!r}"
                )
            opts["holdout"] = h if h == "auto" else float(h)
        elif init_options:
            raise SymbnnError("init_options apply to init='ensemble' only")
        return None, init, opts
    starts = np.asarray(init, dtype=np.float64)
    if starts.shape != (num_chains, dim):
        raise ShapeError(f"init array must have shape ({num_chains}, {dim}), got {starts.shape}")
    bad = np.argwhere(~np.isfinite(starts))
    if len(bad):
        raise NonFiniteError(f"init array holds a non-finite value at chain {bad[0][0]}")
    return starts, "array", {}
