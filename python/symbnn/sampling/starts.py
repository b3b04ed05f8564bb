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
from . import lbfgs, progress

INITS = ("prior", "ensemble")
#: Defaults of `init="ensemble"`: full-batch optimisation of the negative log posterior from
#: fan-in scaled starts (see `fan_in_scale`): Adam, its learning rate decayed along a cosine to
#: 1 % of the start, then, where the starts train to the end, L-BFGS (`resolve_optimizer`).
#: Measured on f2 (airfoil, 32 chains): 4000 Adam steps reach a noise σ of 0.083 where
#: prior-scaled starts reach 0.14 and minibatch AdamW (MILE's recipe, 300 epochs) 0.17; the
#: sampler then needs far fewer steps to settle. Each start holds out `holdout` of
#: the rows and keeps its best iterate on them, checked every `check_every` steps (see
#: `optimize_starts`; `holdout=0` trains on all rows to the end); `"auto"` holds out
#: `AUTO_HOLDOUT` where the network can interpolate its training rows, none elsewhere (see
#: `holdout_fraction`).
ENSEMBLE_DEFAULTS = {
    "optimizer": "auto",
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
_OPTAX = {"adam": optax.adam, "rmsprop": optax.rmsprop, "sgd": optax.sgd}
_OPTIMIZERS = ("auto", *_OPTAX, "lbfgs", "adam_lbfgs")
#: L-BFGS's memory of curvature pairs. Measured on airfoil f2: 3,000 iterations from 32 fan-in
#: starts reach σ 0.081 with 5 pairs, 0.072 with 10, 0.067 with 20, 0.060 with 40; with the
#: default kernel (128 chains) 20 pairs gave 0.775 ± 0.067 in 260 s and 10 pairs 0.755 ± 0.059
#: in 206 s. The two-loop recursion over the pairs costs ~50 µs per pair and iteration for
#: 1274 f1 starts (small kernels, one per pair), more than the f1 gradient: 10 it is.
LBFGS_MEMORY = 10
#: `adam_lbfgs`: the share of the steps that Adam takes (its cosine schedule over them) before
#: L-BFGS takes over from its result.
ADAM_SHARE = 1 / 3


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


def resolve_optimizer(optimizer: str, holdout: float) -> str:
    """`"auto"`: `adam_lbfgs` where the starts train on all rows to the end (`holdout` 0),
    `adam` where the held-out stop picks the iterate.

    Why: trained to the end, a start is as good as the optimum it reaches, and L-BFGS gets
    there in far fewer gradients than Adam (airfoil f2, 128 chains: 0.62 with 3,000 Adam
    steps, 0.76 with 1,000 Adam steps then 2,000 of L-BFGS). Under the held-out stop the
    depth is cut anyway, and L-BFGS's bookkeeping only adds time (with 20 pairs about 35 µs
    per start and iteration; diabetes f2: same LPPD, 1.6x the wall time). Adam first,
    because L-BFGS from the fan-in start settles in the nearest basin: on f1 izmailov L-BFGS
    alone lost 0.06 of test LPPD over three seeds, the hybrid gained 0.01
    (`benches/bench_default.py`)."""
    if optimizer != "auto":
        return optimizer
    return "adam_lbfgs" if holdout == 0 else "adam"


def resolve(init_options: dict, spec: MLP, rows: int) -> tuple[float, str]:
    """-> `(held-out fraction, optimizer)` of a run's starts on `rows` training rows: the
    options' `"auto"`s resolved (`holdout_fraction`, `resolve_optimizer`); fewer than 10 rows
    leave none to hold out."""
    fraction = holdout_fraction(init_options["holdout"], spec, rows)
    if rows < 10:
        fraction = 0.0
    return fraction, resolve_optimizer(init_options["optimizer"], fraction)


def evaluations(optimizer: str, num_steps: int) -> int:
    """Log-density evaluations of `num_steps` steps: one each, plus L-BFGS's evaluation of
    its start (at the handover from Adam in `adam_lbfgs`)."""
    return num_steps + (optimizer in ("lbfgs", "adam_lbfgs"))


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
    """Full-batch `optimizer` (optax's `adam`, `rmsprop`, `sgd`; `lbfgs`; `adam_lbfgs`, see
    `_optimizer`) on `-logdensity_fn` for every start `(C, D)`, vmapped; a start that
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
    init, advance = _optimizer(optimizer, learning_rate, num_steps, schedule)

    def run(state, ld, steps):
        def one_step(state, _):
            state = advance(state, ld)
            progress.report_steps(progress.one_per_chain(state[0]))  # the bar's steps
            return state, None

        return jax.lax.scan(one_step, state, None, length=steps)[0]

    def finite_or(p, p0):
        return jnp.where(jnp.all(jnp.isfinite(p)) & jnp.isfinite(logdensity_fn(p)), p, p0)

    if holdout is None:
        return jax.vmap(
            lambda p0: finite_or(run(init(p0, logdensity_fn), logdensity_fn, num_steps)[0], p0)
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

        carry = (init(p0, ld_fit), score(p0), p0)
        (state, best, best_p), _ = jax.lax.scan(check, carry, None, length=rounds)
        if rest:
            state = run(state, ld_fit, rest)
            better = score(state[0]) > best
            best_p = jnp.where(better, state[0], best_p)
        return finite_or(best_p, p0)

    return jax.vmap(one)(starts, keys)


def _optimizer(name, learning_rate, num_steps, schedule):
    """-> `(init(x, logdensity), advance(state, logdensity))`, the state's first field the
    current point. `lbfgs` (see `lbfgs.py`) sets its own steps: no learning rate or schedule."""
    if name == "lbfgs":

        def value_and_grad(ld):
            return jax.value_and_grad(lambda p: -ld(p))

        return (
            lambda x, ld: lbfgs.init(value_and_grad(ld), x, LBFGS_MEMORY),
            lambda state, ld: lbfgs.step(value_and_grad(ld), state),
        )
    if name == "adam_lbfgs":
        first = max(1, min(num_steps - 1, round(ADAM_SHARE * num_steps)))
        adam_init, adam_step = _optimizer("adam", learning_rate, first, schedule)
        lbfgs_init, lbfgs_step = _optimizer("lbfgs", learning_rate, num_steps - first, schedule)

        def hybrid_init(x, ld):  # L-BFGS starts where Adam ends: a placeholder until then
            return x, adam_init(x, ld), lbfgs.blank(x, LBFGS_MEMORY), jnp.int32(0)

        def hybrid_step(state, ld):
            # `i` is the same for every start, so under `vmap` the `cond`s stay branches
            _, adam, lbfgs_state, i = state

            def by_adam():
                a = adam_step(adam, ld)
                handover = jax.lax.cond(
                    i == first - 1, lambda: lbfgs_init(a[0], ld), lambda: lbfgs_state
                )
                return a[0], a, handover

            def by_lbfgs():
                b = lbfgs_step(lbfgs_state, ld)
                return b.x, adam, b

            return (*jax.lax.cond(i < first, by_adam, by_lbfgs), i + 1)

        return hybrid_init, hybrid_step
    lr = learning_rate
    if schedule == "cosine":
        lr = optax.cosine_decay_schedule(learning_rate, num_steps, alpha=0.01)
    opt = _OPTAX[name](lr)

    def advance(state, ld):
        p, s = state
        updates, s = opt.update(jax.grad(lambda p: -ld(p))(p), s, p)
        return optax.apply_updates(p, updates), s

    return (lambda x, ld: (x, opt.init(x))), advance


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
                ("optimizer", _OPTIMIZERS),
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
