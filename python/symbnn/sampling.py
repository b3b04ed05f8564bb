"""`sample`: thousands of MCMC chains on a Bayesian MLP, on one device or several.

How a run is organised:
- Chains are cut into chunks of `chunk_size` (padded up to a whole number of chunks, so one
  program serves them all). Each chunk is one jitted program: start positions, warm-up and
  sampling for all its chains (vmap over chains, scan over steps). Chunks bound memory.
- The program is `shard_map`ped over a 1-D mesh of `devices` (axis `"chains"`): every device
  advances its own slice of the chunk, with no communication.
- Chain `i` draws everything from `fold_in(key(seed), i)`, so a chain's result does not depend
  on the chunk size, on the number of devices or on the other chains (except for kernels that
  adapt across an ensemble of chains, `chees`, whose ensembles are fixed blocks of chain
  indices).
- Kernels are runners from `_kernels.RUNNERS` (name -> function with one shared signature).
- Timings: compilation (`jit(...).lower(...).compile()`) and execution are measured apart.

Multi-host: after `jax.distributed.initialize()` on every host, `devices=None` means all
devices of all hosts; every process calls `sample` with the same arguments and gets the whole
`Posterior` back.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from . import _chains_last
from ._kernels import GROUPED, RUNNERS
from .convergence import ConvergenceWarning, assess
from .errors import NonFiniteError, ShapeError, SymbnnError, UnsupportedError
from .model import MLP
from .posterior import Posterior

INITS = ("prior", "ensemble")
#: Defaults of `init="ensemble"`: full-batch Adam on the negative log posterior, its learning
#: rate decayed along a cosine to 1 % of the start, from fan-in scaled starts (see
#: `_fan_in_scale`). Measured on f2 (airfoil, 32 chains): 4000 such steps reach a noise σ of
#: 0.083 where prior-scaled starts reach 0.14 and minibatch AdamW (MILE's recipe, 300 epochs)
#: 0.17; the sampler then needs far fewer steps to settle. Each start holds out `holdout` of
#: the rows and keeps its best iterate on them, checked every `check_every` steps (see
#: `_optimize_starts`; `holdout=0` trains on all rows to the end).
ENSEMBLE_DEFAULTS = {
    "optimizer": "adam",
    "learning_rate": 2e-2,
    "num_steps": 3000,
    "schedule": "cosine",
    "start": "fan_in",
    "holdout": 0.1,
    "check_every": 100,
}
_SCHEDULES = ("constant", "cosine")
_STARTS = ("prior", "fan_in")
_OPTIMIZERS = {"adam": optax.adam, "rmsprop": optax.rmsprop, "sgd": optax.sgd}
DEFAULT_CHUNK = 4096
#: `sample`'s kernel, and the CLI's and `reproduce --budget cpu`'s: Metropolis-adjusted MCLMC
#: (README, "The default sampler": side by side with unadjusted MCLMC on the five f2 data sets
#: it matches or beats it and its runs pass the convergence verdict where MCLMC's still drift).
DEFAULT_KERNEL = "adjusted_mclmc"
#: Training inputs at which the convergence verdict compares chains in function space.
PROBE_INPUTS = 64


def sample(
    spec: MLP,
    x,
    y,
    *,
    num_chains: int | str,
    num_warmup: int = 1024,
    num_samples: int = 1,
    kernel: str = DEFAULT_KERNEL,
    init: str | np.ndarray = "ensemble",
    seed: int = 0,
    thinning: int = 1,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = True,
    noise_std: float | None = None,
    init_options: dict | None = None,
    first_chain: int = 0,
    confidence: float = 0.99,
    pilot_chains: int = 32,
    max_chains: int = 4096,
    **kernel_options,
) -> Posterior:
    """Run `num_chains` independent chains of `kernel` on the posterior of `spec` given
    training data `x` `(n, in_features)` and `y` (`(n,)` or `(n, out)`; class labels `(n,)`
    for a categorical likelihood).

    The default is the many-chain configuration: every chain's start is optimised first
    (`init="ensemble"`: full-batch Adam on the negative log posterior from a fan-in scaled
    start, as deep-ensemble-initialised MCMC and MILE do), then `kernel="adjusted_mclmc"`
    (Metropolis-adjusted MCLMC) tunes for `num_warmup` steps from a small step size and
    draws. The rule is the same for every data set; the run's `Posterior.convergence` says
    whether it settled (a `ConvergenceWarning` when not).

    - `kernel`: `"adjusted_mclmc"` (Metropolis-adjusted MCLMC, default), `"mclmc"`
      (unadjusted MCLMC with its tuner), `"nuts"` (window adaptation per chain, the study's
      protocol), `"nuts_vmap"`, `"hmc"` (fixed `num_integration_steps`,
      window adaptation), `"chees"` (ChEES-HMC adapted across ensembles of `ensemble_size`
      chains). Further keyword arguments are the kernel's options (see `symbnn._kernels`).
    - `num_warmup` adaptation steps, then `num_samples` draws kept every `thinning` steps.
    - `init`: `"ensemble"` (default: each start optimised by optax on the negative log
      posterior of a random 90 % of the rows and stopped where it predicts the other 10 %
      best; `init_options` overrides `ENSEMBLE_DEFAULTS`), `"prior"` (a prior draw per
      chain, the study's protocol), or an array of starts `(num_chains, position_size)`.
    - `noise_std`: regression with a *known* noise σ; the chains then sample the network
      parameters alone and `Posterior.noise_std` holds σ everywhere.
    - `chunk_size`: chains per jitted program (default: all, up to 4096); `devices`: where
      to shard each chunk (default: all devices); `first_chain`: index of the first chain,
      so that later runs can add chains that differ from earlier ones.

    - `num_chains="auto"`: rounds of chains, starting with `pilot_chains`, until the chain
      count that the modes found so far call for at `confidence` is met or `max_chains` is
      reached (`symbnn.adaptive`); `Posterior.rounds` records each round.

    Returns a `Posterior`. Chains that diverge or end non-finite are kept and flagged in
    `diagnostics["finite"]` (with a warning), never dropped.
    """
    if isinstance(num_chains, str):
        if num_chains != "auto":
            raise SymbnnError(f"num_chains must be a positive int or 'auto', got {num_chains!r}")
        from .adaptive import sample_auto

        return sample_auto(
            sample, spec, x, y, confidence=confidence, pilot_chains=pilot_chains,
            max_chains=max_chains, first_chain=first_chain, num_warmup=num_warmup,
            num_samples=num_samples, kernel=kernel, init=init, seed=seed, thinning=thinning,
            chunk_size=chunk_size, devices=devices, progress=progress, noise_std=noise_std,
            init_options=init_options, **kernel_options,
        )  # fmt: skip
    t_start = time.perf_counter()
    # --- validation: everything before anything compiles --------------------------------
    if not isinstance(spec, MLP):
        raise SymbnnError(f"spec must be an MLP, got {type(spec).__name__}")
    num_chains = _positive_int(num_chains, "num_chains")
    num_warmup = _positive_int(num_warmup, "num_warmup", minimum=0)
    num_samples = _positive_int(num_samples, "num_samples")
    thinning = _positive_int(thinning, "thinning")
    first_chain = _positive_int(first_chain, "first_chain", minimum=0)
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise SymbnnError(f"seed must be an integer, got {seed!r}")
    x, y = _check_data(spec, x, y)
    if noise_std is not None:
        if spec.likelihood != "gaussian":
            raise SymbnnError("noise_std applies to regression (likelihood='gaussian') only")
        if not (math.isfinite(noise_std) and noise_std > 0):
            raise SymbnnError(f"noise_std must be positive and finite, got {noise_std}")
        noise_std = float(noise_std)
    if kernel not in RUNNERS:
        raise UnsupportedError(f"unknown kernel {kernel!r}; expected one of {', '.join(RUNNERS)}")
    runner = RUNNERS[kernel]
    options = _kernel_options(kernel, runner, kernel_options)
    dim = spec.num_params if noise_std is not None else spec.position_size
    starts, init_name, init_opts = _check_init(init, init_options, num_chains, dim)
    devices = _check_devices(devices)
    # Kernels that adapt across a group of consecutive chains need whole groups per chunk.
    group = _positive_int(options[GROUPED[kernel]], GROUPED[kernel]) if kernel in GROUPED else 1
    if chunk_size is not None:
        chunk_size = _positive_int(chunk_size, "chunk_size")
    unit = math.lcm(len(devices), group)  # a chunk must split evenly over devices and groups
    chunk = _round_up(min(num_chains, chunk_size or DEFAULT_CHUNK), unit)
    num_chunks = -(-num_chains // chunk)

    # --- one program per chunk ----------------------------------------------------------
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)  # float32 unless x64 is enabled
    mesh = Mesh(np.asarray(devices), ("chains",))
    rep, shard = NamedSharding(mesh, P()), NamedSharding(mesh, P("chains"))
    base_key = _replicate(jax.random.key(int(seed)), rep)
    xd, yd = _replicate(jnp.asarray(x, dtype), rep), _replicate(jnp.asarray(y), rep)

    def chunk_args(k):
        ids = np.arange(first_chain + k * chunk, first_chain + (k + 1) * chunk, dtype=np.uint32)
        args = [base_key, _put(ids, shard), xd, yd]
        if starts is not None:
            block = np.zeros((chunk, dim), dtype)
            real = starts[k * chunk : (k + 1) * chunk]
            block[: len(real)] = real
            block[len(real) :] = real[-1]  # padding chains: any finite start will do
            args.append(_put(block, shard))
        return args

    recipe = _Recipe(
        spec,
        noise_std,
        kernel,
        _frozen(options),
        num_warmup,
        num_samples,
        thinning,
        init_name,
        _frozen(init_opts),
        starts is not None,
        tuple(devices),
    )
    # Printed and kept, so that a CUDA install that silently fell back to the CPU is visible.
    device = _describe(devices)
    if progress:
        print(f"symbnn.sample: {num_chains} chains of {kernel} on {device}", file=sys.stderr)
    first_args = chunk_args(0)
    shapes = tuple((a.shape, a.dtype) for a in first_args)
    t0 = time.perf_counter()
    compiled, cached = _compiled_program(recipe, mesh, first_args, shapes)
    compile_s = time.perf_counter() - t0

    draws_parts, info_parts = [], []
    run_s = 0.0
    bar = _progress(progress, num_chains, kernel)
    for k in range(num_chunks):
        args = first_args if k == 0 else chunk_args(k)
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        run_s += time.perf_counter() - t0
        draws, info = _to_host(out)
        keep = min(chunk, num_chains - k * chunk)
        draws_parts.append(draws[:keep])
        info_parts.append({n: v[:keep] for n, v in info.items()})
        if bar is not None:
            bar.update(keep)
            bar.set_postfix(compile_s=f"{compile_s:.1f}", run_s=f"{run_s:.1f}")
    if bar is not None:
        bar.close()

    positions = np.concatenate(draws_parts)
    diagnostics = {n: np.concatenate([p[n] for p in info_parts]) for n in info_parts[0]}
    if noise_std is not None:
        samples, sigma = positions, np.full(positions.shape[:2], noise_std, positions.dtype)
    elif spec.likelihood == "gaussian":
        samples, sigma = positions[..., :-1], np.exp(positions[..., -1])
    else:
        samples, sigma = positions, None
    finite = np.all(np.isfinite(positions), axis=(1, 2)) & np.isfinite(diagnostics["log_density"])
    diagnostics["finite"] = finite
    if not finite.all():
        bad = np.flatnonzero(~finite)
        warnings.warn(
            f"{len(bad)} of {num_chains} chains ended non-finite (chains "
            f"{', '.join(map(str, bad[:10] + first_chain))}{', ...' if len(bad) > 10 else ''}); "
            "they are kept and flagged in diagnostics['finite']",
            RuntimeWarning,
            stacklevel=2,
        )

    settings = {
        "kernel": kernel,
        "kernel_options": options,
        "num_chains": num_chains,
        "num_warmup": num_warmup,
        "num_samples": num_samples,
        "thinning": thinning,
        "seed": int(seed),
        "first_chain": first_chain,
        "init": init_name,
        "init_options": init_opts,
        "noise_std": noise_std,
        "chunk_size": chunk,
        "num_chunks": num_chunks,
        "num_devices": len(devices),
        "platform": devices[0].platform,
        "device": device,
        "dtype": np.dtype(dtype).name,
        "jax_version": jax.__version__,
        "compile_cached": cached,
    }
    timings = {
        "compile_s": compile_s,
        "run_s": run_s,
        "total_s": time.perf_counter() - t_start,
    }
    post = Posterior(
        spec=spec,
        samples=samples,
        noise_std=sigma,
        diagnostics=diagnostics,
        timings=timings,
        settings=settings,
        rounds=[],
    )
    verdict = assess(post, x_probe=x[:PROBE_INPUTS])
    settings["convergence"] = verdict.to_dict()
    if not verdict.converged:
        warnings.warn(f"sample ({kernel}): {verdict}", ConvergenceWarning, stacklevel=2)
    return post


# --- the program ----------------------------------------------------------------------------
class _Recipe(NamedTuple):
    """Everything a chunk program depends on besides its array arguments (hashable)."""

    spec: MLP
    noise_std: float | None
    kernel: str
    options: tuple
    num_warmup: int
    num_samples: int
    thinning: int
    init: str
    init_options: tuple
    given_starts: bool
    devices: tuple


# Compiled programs by (recipe, argument shapes): repeated runs (more chains, another seed,
# other data of the same shape) skip compilation. Small: a program holds little memory.
_CACHE: dict = {}
_CACHE_SIZE = 16


def _compiled_program(recipe: _Recipe, mesh: Mesh, args: list, shapes: tuple):
    """-> (compiled chunk program, whether it came from the cache)."""
    key = (recipe, shapes, RUNNERS[recipe.kernel])
    if key in _CACHE:
        return _CACHE[key], True
    in_specs = (P(), P("chains"), P(), P()) + ((P("chains"),) if recipe.given_starts else ())
    # check_vma=False: BlackJAX code mixes per-chain and replicated values in cond/scan.
    fn = jax.jit(
        jax.shard_map(
            partial(_program, recipe),
            mesh=mesh,
            in_specs=in_specs,
            out_specs=P("chains"),
            check_vma=False,
        )
    )
    compiled = fn.lower(*args).compile()
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = compiled
    return compiled, False


def _program(r: _Recipe, base_key, chain_ids, x, y, *given):
    """One device's share of a chunk: chain ids `(c,)` -> draws `(c, S, D)` and info."""
    keys = jax.vmap(lambda i: jax.random.fold_in(base_key, i))(chain_ids)
    init_keys, run_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
    ld = _logdensity_builder(r.spec, r.noise_std)(x, y)
    optimised = False
    if given:
        pos = given[0]
    else:
        pos = jax.vmap(partial(_prior_start, r.spec, r.noise_std))(init_keys)
        if r.init == "ensemble":
            opts = dict(r.init_options)
            if opts.pop("start") == "fan_in":
                pos = pos * jnp.asarray(_fan_in_scale(r.spec, pos.shape[-1]), pos.dtype)
            fraction, check_every = opts.pop("holdout"), opts.pop("check_every")
            holdout = None
            if fraction > 0 and x.shape[0] >= 10:
                build = _logdensity_builder(r.spec, r.noise_std)
                holdout = (
                    build,
                    _holdout_score(r.spec),
                    x,
                    y,
                    fraction,
                    min(check_every, opts["num_steps"]),
                )
            split_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(init_keys)
            pos = _optimize_starts(ld, pos, **opts, holdout=holdout, keys=split_keys)
            optimised = True
    draws, info = RUNNERS[r.kernel](
        ld,
        pos,
        run_keys,
        num_warmup=r.num_warmup,
        num_samples=r.num_samples,
        thinning=r.thinning,
        **dict(r.options),
    )
    if optimised:  # the starts' optimiser steps count as gradients of the run
        info["num_grad_evals"] = info["num_grad_evals"] + dict(r.init_options)["num_steps"]
    draws_ld = jax.vmap(jax.vmap(ld))(draws)  # (C, S): forward passes only, cheap
    info["log_density"] = draws_ld[:, -1]
    info["draws_log_density"] = draws_ld
    info["init_log_density"] = jax.vmap(ld)(pos)
    return draws, info


def _frozen(d: dict) -> tuple:
    return tuple(sorted(d.items()))


# --- the log density and the starts -------------------------------------------------------
def _logdensity_builder(spec: MLP, noise_std: float | None) -> Callable:
    """`(x, y, weights=None) -> (position -> log density)`; with a known `noise_std` the
    position is the network vector alone (σ's prior term is then a constant)."""
    if noise_std is None:
        return spec.logdensity_fn
    log_sigma = math.log(noise_std)

    def ld(theta, x, y, weights):
        full = jnp.concatenate([theta, jnp.full((1,), log_sigma, theta.dtype)])
        return spec.log_density(full, x, y, weights)

    def build(x, y, weights=None):
        return _chains_last.logdensity_fn(spec, x, y, ld, log_sigma, weights)

    return build


def _holdout_score(spec: MLP) -> Callable:
    """`(position, x, y) -> score` of a start on held-out rows, higher is better. Regression
    scores the network by its mean squared error alone, the Gaussian log likelihood with σ
    profiled out: the sampler re-fits σ in a few steps, whereas a σ the optimiser has not yet
    caught up with would make the score prefer the untrained start (measured on airfoil, f2:
    starts stopped by the σ-dependent likelihood reach σ 0.18, by this score 0.10)."""
    if spec.likelihood == "categorical":
        return lambda position, x, y: spec.log_likelihood(position[: spec.num_params], x, y)
    return lambda position, x, y: -jnp.mean((y - spec.apply(position[: spec.num_params], x)) ** 2)


def _prior_start(spec: MLP, noise_std: float | None, key) -> jax.Array:
    pos = spec.init_position(key)
    return pos[: spec.num_params] if noise_std is not None else pos


def _fan_in_scale(spec: MLP, size: int) -> np.ndarray:
    """Per-coordinate factors that turn a standard-normal prior draw into a LeCun-normal
    network start: weights with standard deviation `1/√fan_in`, biases and `log σ` zero.
    Prior-scale weights (sd 1) saturate the tanh units of 16-wide layers, and an optimiser
    started there stalls at a much worse fit (measured: σ 0.14 against 0.08 on airfoil)."""
    sizes = (spec.in_features, *spec.hidden, spec.out_features)
    parts = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        parts += [np.full(fan_in * fan_out, fan_in**-0.5), np.zeros(fan_out)]
    scale = np.concatenate(parts)
    return np.concatenate([scale, np.zeros(size - len(scale))])  # log σ (if any) starts at 0


def _optimize_starts(
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
            return (optax.apply_updates(p, updates), s), None

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


# --- checks -------------------------------------------------------------------------------
def _positive_int(v, name: str, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < minimum:
        raise SymbnnError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _check_data(spec: MLP, x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2:
        raise ShapeError(f"x must have shape (n, features), got {x.shape}")
    if x.shape[0] == 0:
        raise ShapeError("x has no rows")
    if x.shape[1] != spec.in_features:
        raise ShapeError(
            f"x has {x.shape[1]} features but the spec's in_features is {spec.in_features}"
        )
    if y.shape[:1] != x.shape[:1]:
        raise ShapeError(f"x has {x.shape[0]} rows but y has shape {y.shape}")
    if spec.likelihood == "categorical":
        if y.ndim != 1:
            raise ShapeError(f"class labels y must have shape ({x.shape[0]},), got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
                raise SymbnnError("class labels y must be integers")
            y = y.astype(np.int64)
        if y.min() < 0 or y.max() >= spec.out_features:
            raise SymbnnError(f"class labels must lie in 0..{spec.out_features - 1}")
    else:
        if y.ndim == 1 and spec.out_features == 1:
            y = y[:, None]
        if y.shape != (x.shape[0], spec.out_features):
            raise ShapeError(
                f"y must have shape ({x.shape[0]}, {spec.out_features}), got {y.shape}"
            )
    for name, a in (("x", x), ("y", y)):
        if not np.issubdtype(a.dtype, np.number):
            raise SymbnnError(f"{name} must be numeric, got dtype {a.dtype}")
        bad = np.argwhere(~np.isfinite(a))
        if len(bad):
            raise NonFiniteError(f"{name} holds a non-finite value at index {tuple(bad[0])}")
    return x, y


def _kernel_options(kernel: str, runner: Callable, given: dict) -> dict:
    """The runner's keyword options with the given ones applied (JSON-ready)."""
    import inspect

    fixed = {"logdensity_fn", "initial_positions", "keys", "num_warmup", "num_samples", "thinning"}
    params = {
        n: p.default
        for n, p in inspect.signature(runner).parameters.items()
        if n not in fixed and p.kind == p.KEYWORD_ONLY
    }
    unknown = sorted(set(given) - set(params))
    if unknown:
        raise SymbnnError(
            f"kernel {kernel!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are {', '.join(params) or 'none'}"
        )
    checked = {}
    # Each option must have its default's type: a string or a list reaching JAX fails there
    # with a traceback about tracing rather than about the option.
    for name, value in given.items():
        default = params[name]
        if isinstance(default, bool):
            ok, want = isinstance(value, bool | np.bool_), "true or false"
        elif isinstance(default, int):
            ok, want = (
                isinstance(value, int | np.integer) and not isinstance(value, bool),
                "an integer",
            )
        elif isinstance(default, float):
            ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
                value, bool
            )
            ok, want = ok and math.isfinite(value), "a finite number"
            value = float(value) if ok else value
        elif isinstance(default, str):
            ok, want = isinstance(value, str), "a string"
        else:
            ok, want = True, ""
        if not ok:
            raise SymbnnError(f"kernel {kernel!r} option {name!r} must be {want}, got {value!r}")
        checked[name] = value
    return {**params, **checked}


def _check_init(init, init_options, num_chains: int, dim: int):
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
            opts["num_steps"] = _positive_int(opts["num_steps"], "init_options num_steps")
            opts["learning_rate"] = float(opts["learning_rate"])
            opts["check_every"] = _positive_int(opts["check_every"], "init_options check_every")
            h = opts["holdout"]
            if isinstance(h, bool) or not isinstance(h, int | float) or not 0 <= h < 0.5:
                raise SymbnnError(f"init_options holdout must be a fraction in [0, 0.5), got {h!r}")
            opts["holdout"] = float(h)
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


def _check_devices(devices) -> list:
    if devices is None:
        return list(jax.devices())
    devices = list(devices)
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise SymbnnError("devices must be a non-empty sequence of jax devices")
    return devices


# --- plumbing -----------------------------------------------------------------------------
def _round_up(n: int, unit: int) -> int:
    return -(-n // unit) * unit


def _put(a: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global array from host data; works with one process or many (each process supplies
    the shards its devices hold)."""
    return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])


def _replicate(a: jax.Array, sharding: NamedSharding) -> jax.Array:
    """`a` on every device of `sharding`. With several processes `device_put` refuses devices
    of other processes: each process then supplies its own copy (all hold the same value)."""
    if jax.process_count() == 1:
        return jax.device_put(a, sharding)
    return jax.make_array_from_process_local_data(sharding, a)


def _to_host(tree):
    """Device results to numpy; with several processes, gather every process's shards."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        tree = multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree.map(np.asarray, tree)


def _describe(devices: Sequence[jax.Device]) -> str:
    """`"gpu: NVIDIA H100 80GB HBM3 × 1"`: where the chains run, for humans and metadata."""
    kinds = sorted({f"{d.platform}: {d.device_kind}" for d in devices})
    return f"{', '.join(kinds)} × {len(devices)}"


def _progress(enabled: bool, total: int, kernel: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="chain", desc=f"sample ({kernel})")
