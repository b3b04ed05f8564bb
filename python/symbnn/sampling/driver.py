"""`sample`: thousands of MCMC chains on a Bayesian MLP, on one device or several.

How a run is organised:
- Chains are cut into chunks of `chunk_size` (padded up to a whole number of chunks, so one
  program serves them all). Each chunk is one jitted program: start positions, warm-up and
  sampling for all its chains (vmap over chains, scan over steps). Chunks bound memory,
  and on a CPU keep each gradient's activations in cache (`default_chunk`).
- The program is `shard_map`ped over a 1-D mesh of `devices` (axis `"chains"`): every device
  advances its own slice of the chunk, with no communication.
- Chain `i` draws everything from `fold_in(key(seed), i)`, so a chain's result does not depend
  on the chunk size, on the number of devices or on the other chains (except for kernels that
  adapt across an ensemble of chains, `chees`, whose ensembles are fixed blocks of chain
  indices).
- Kernels come from `kernels.KERNELS` (name -> `Kernel`: an options dataclass and `run`).
- `sample` is three steps: `make_plan` checks every argument and lays out the chunks before
  anything compiles, `run_plan` compiles and runs the chunks (progress bar, timings), and
  `assemble` builds the `Posterior` (finite flags, warnings, the convergence verdict).
  `num_chains="auto"` hands over to `chains.rounds.sample_auto`, which calls `sample` per
  round.
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
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .._checks import check_data, positive_int
from ..errors import SymbnnError, UnsupportedError
from ..model import _chains_last
from ..model.mlp import MLP
from . import progress as live
from .convergence import ConvergenceWarning, assess
from .kernels import KERNELS, options_dict
from .posterior import Posterior
from .starts import (
    check_init,
    evaluations,
    fan_in_scale,
    holdout_score,
    optimize_starts,
    prior_start,
    resolve,
)

DEFAULT_CHUNK = 4096
#: On a CPU, the default chunk holds as many chains as keep one layer's activations (rows ×
#: widest layer × chains) within about this many bytes, so that a gradient's passes over them
#: run from cache rather than memory. Measured (`benches/bench_gradient.py`, f2 on airfoil,
#: float32, 2-core Intel machine): 200 µs per chain and gradient at 16-128 chains (up to 10 MB
#: a layer), 249 at 256, 304 at 1274 (98 MB); f2 on diabetes 54 at 256 chains (6 MB), 86 at
#: 1274. Accelerators take every chain at once (up to `DEFAULT_CHUNK`): they want wide batches.
CPU_LAYER_BYTES = 8 * 2**20
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
    (`init="ensemble"`: full-batch Adam, then L-BFGS where the starts train to the end, on
    the negative log posterior from a fan-in scaled start, as deep-ensemble-initialised MCMC
    and MILE do), then `kernel="adjusted_mclmc"`
    (Metropolis-adjusted MCLMC) tunes for `num_warmup` steps from a small step size and
    draws. The rule is the same for every data set; the run's `Posterior.convergence` says
    whether it settled (a `ConvergenceWarning` when not).

    - `kernel`: `"adjusted_mclmc"` (Metropolis-adjusted MCLMC, default), `"mclmc"`
      (unadjusted MCLMC with its tuner), `"nuts"` (window adaptation per chain, the study's
      protocol), `"nuts_vmap"`, `"hmc"` (fixed `num_integration_steps`,
      window adaptation), `"chees"` (ChEES-HMC adapted across ensembles of `ensemble_size`
      chains). Further keyword arguments are the kernel's options (the fields of its
      `Options`, see `sampling.kernels`).
    - `num_warmup` adaptation steps, then `num_samples` draws kept every `thinning` steps.
    - `init`: `"ensemble"` (default: each start optimised by optax on the negative log
      posterior; where the network has at least as many weights as the data has rows, on a
      random 90 % of the rows and stopped where it predicts the other 10 % best, see
      `holdout_fraction`; `init_options` overrides `ENSEMBLE_DEFAULTS`), `"prior"` (a prior
      draw per chain, the study's protocol), or an array of starts `(num_chains,
      position_size)`.
    - `noise_std`: regression with a *known* noise σ; the chains then sample the network
      parameters alone and `Posterior.noise_std` holds σ everywhere.
    - `chunk_size`: chains per jitted program (default: all, up to 4096; on a CPU as many
      as keep a layer's activations in cache, see `default_chunk`); `devices`: where
      to shard each chunk (default: all devices); `first_chain`: index of the first chain,
      so that later runs can add chains that differ from earlier ones.

    - `num_chains="auto"`: rounds of chains, starting with `pilot_chains`, until the chain
      count that the modes found so far call for at `confidence` is met or `max_chains` is
      reached (`chains.rounds.sample_auto`); `Posterior.rounds` records each round.

    Returns a `Posterior`. Chains that diverge or end non-finite are kept and flagged in
    `diagnostics["finite"]` (with a warning), never dropped.
    """
    if isinstance(num_chains, str):
        if num_chains != "auto":
            raise SymbnnError(f"num_chains must be a positive int or 'auto', got {num_chains!r}")
        from ..chains.rounds import sample_auto

        return sample_auto(
            spec, x, y, confidence=confidence, pilot_chains=pilot_chains, max_chains=max_chains,
            first_chain=first_chain, num_warmup=num_warmup, num_samples=num_samples,
            kernel=kernel, init=init, seed=seed, thinning=thinning, chunk_size=chunk_size,
            devices=devices, progress=progress, noise_std=noise_std, init_options=init_options,
            **kernel_options,
        )  # fmt: skip
    started = time.perf_counter()
    plan = make_plan(
        spec, x, y, num_chains=num_chains, num_warmup=num_warmup, num_samples=num_samples,
        kernel=kernel, init=init, seed=seed, thinning=thinning, chunk_size=chunk_size,
        devices=devices, noise_std=noise_std, init_options=init_options,
        first_chain=first_chain, kernel_options=kernel_options,
    )  # fmt: skip
    result = run_plan(plan, progress=progress)
    # stacklevel 3: the warnings point at the caller of `sample`.
    return assemble(plan, result, started=started, stacklevel=3)


# --- plan: every check and the chunk layout, before anything compiles ------------------------
class Recipe(NamedTuple):
    """Everything a chunk program depends on besides its array arguments (hashable)."""

    spec: MLP
    noise_std: float | None
    kernel: str
    options: object  # the kernel's options dataclass (frozen)
    num_warmup: int
    num_samples: int
    thinning: int
    init: str
    init_options: tuple
    given_starts: bool
    devices: tuple
    ticks: bool = False  # the log density ticks the progress counter (`progress`)


class Plan(NamedTuple):
    """A checked run: the program's recipe and how its chains are cut into chunks."""

    recipe: Recipe
    x: np.ndarray
    y: np.ndarray
    num_chains: int
    first_chain: int
    seed: int
    starts: np.ndarray | None  # given starts `(num_chains, dim)`, or None
    dim: int
    init_options: dict
    chunk: int  # chains per chunk program (padded)
    num_chunks: int
    dtype: np.dtype
    device: str  # where the chains run, in words


def make_plan(
    spec: MLP,
    x,
    y,
    *,
    num_chains: int,
    num_warmup: int,
    num_samples: int,
    kernel: str,
    init: str | np.ndarray,
    seed: int,
    thinning: int,
    chunk_size: int | None,
    devices: Sequence[jax.Device] | None,
    noise_std: float | None,
    init_options: dict | None,
    first_chain: int,
    kernel_options: dict,
) -> Plan:
    """Check `sample`'s arguments (typed errors, nothing compiled yet) and lay out the chunks."""
    if not isinstance(spec, MLP):
        raise SymbnnError(f"spec must be an MLP, got {type(spec).__name__}")
    num_chains = positive_int(num_chains, "num_chains")
    num_warmup = positive_int(num_warmup, "num_warmup", minimum=0)
    num_samples = positive_int(num_samples, "num_samples")
    thinning = positive_int(thinning, "thinning")
    first_chain = positive_int(first_chain, "first_chain", minimum=0)
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise SymbnnError(f"seed must be an integer, got {seed!r}")
    x, y = check_data(spec, x, y)
    if noise_std is not None:
        if spec.likelihood != "gaussian":
            raise SymbnnError("noise_std applies to regression (likelihood='gaussian') only")
        if not (math.isfinite(noise_std) and noise_std > 0):
            raise SymbnnError(f"noise_std must be positive and finite, got {noise_std}")
        noise_std = float(noise_std)
    if kernel not in KERNELS:
        raise UnsupportedError(f"unknown kernel {kernel!r}; expected one of {', '.join(KERNELS)}")
    options = KERNELS[kernel].make_options(kernel_options)
    dim = spec.num_params if noise_std is not None else spec.position_size
    starts, init_name, init_opts = check_init(init, init_options, num_chains, dim)
    devices = _check_devices(devices)
    # Kernels that adapt across a group of consecutive chains need whole groups per chunk.
    group = KERNELS[kernel].group(options)
    if chunk_size is not None:
        chunk_size = positive_int(chunk_size, "chunk_size")
    unit = math.lcm(len(devices), group)  # a chunk must split evenly over devices and groups
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)  # float32 unless x64 is enabled
    if chunk_size is None:
        chunk_size = default_chunk(num_chains, spec, len(x), dtype.itemsize, devices)
    chunk = _round_up(min(num_chains, chunk_size), unit)
    recipe = Recipe(
        spec,
        noise_std,
        kernel,
        options,
        num_warmup,
        num_samples,
        thinning,
        init_name,
        _frozen(init_opts),
        starts is not None,
        tuple(devices),
    )
    return Plan(
        recipe=recipe,
        x=x,
        y=y,
        num_chains=num_chains,
        first_chain=first_chain,
        seed=int(seed),
        starts=starts,
        dim=dim,
        init_options=init_opts,
        chunk=chunk,
        num_chunks=-(-num_chains // chunk),
        dtype=dtype,
        # Printed and kept, so that a CUDA install that silently fell back to the CPU is
        # visible.
        device=_describe(devices),
    )


# --- run: compile once, run every chunk -----------------------------------------------------
class RunResult(NamedTuple):
    """The chains' draws and per-chain diagnostics on the host, and the time they took."""

    positions: np.ndarray  # (num_chains, num_samples, dim)
    diagnostics: dict
    compile_s: float
    run_s: float
    cached: bool  # whether the program came from the in-memory cache


def run_plan(plan: Plan, *, progress: bool = True) -> RunResult:
    """Compile the chunk program (or take it from the cache) and run every chunk."""
    r = plan.recipe
    # Ticks from inside the program where its platform allows them (see `progress`).
    r = r._replace(ticks=progress and live.available(r.devices[0].platform))
    chunk, dim, dtype = plan.chunk, plan.dim, plan.dtype
    mesh = Mesh(np.asarray(r.devices), ("chains",))
    rep, shard = NamedSharding(mesh, P()), NamedSharding(mesh, P("chains"))
    base_key = _replicate(jax.random.key(plan.seed), rep)
    xd, yd = _replicate(jnp.asarray(plan.x, dtype), rep), _replicate(jnp.asarray(plan.y), rep)

    def chunk_args(k):
        first = plan.first_chain + k * chunk
        ids = np.arange(first, first + chunk, dtype=np.uint32)
        args = [base_key, _put(ids, shard), xd, yd]
        if plan.starts is not None:
            block = np.zeros((chunk, dim), dtype)
            real = plan.starts[k * chunk : (k + 1) * chunk]
            block[: len(real)] = real
            block[len(real) :] = real[-1]  # padding chains: any finite start will do
            args.append(_put(block, shard))
        return args

    if progress:
        print(
            f"symbnn.sample: {plan.num_chains} chains of {r.kernel} on {plan.device}",
            file=sys.stderr,
        )
    first_args = chunk_args(0)
    shapes = tuple((a.shape, a.dtype) for a in first_args)
    bar = _progress(progress, plan.num_chains, r.kernel)
    if bar is not None:  # compilation is a phase of its own
        bar.set_description(f"sample ({r.kernel}): compiling")
    t0 = time.perf_counter()
    compiled, cached = _compiled_program(r, mesh, first_args, shapes)
    compile_s = time.perf_counter() - t0

    draws_parts, info_parts = [], []
    run_s = 0.0
    planned = planned_evaluations(plan)
    planned_chain_steps = None if planned is not None else planned_steps(plan)
    if bar is not None:
        bar.reset()  # the rate and time left count from the end of compilation
        bar.set_description(f"sample ({r.kernel})")
    for k in range(plan.num_chunks):
        args = first_args if k == 0 else chunk_args(k)
        keep = min(chunk, plan.num_chains - k * chunk)

        def on_tick(ticks, steps, k=k, keep=keep):
            where = f"{k + 1}/{plan.num_chunks}"
            if planned is not None:  # batched evaluations, counted once per device
                done, end, label = ticks // len(r.devices), planned, "evals"
            elif planned_chain_steps is not None:  # the chunk's chains' (padding included)
                done, end, label = steps // chunk, planned_chain_steps, "steps"
            else:
                bar.set_postfix(chunk=where, evals=ticks // len(r.devices))
                return
            # A known end: the bar moves through the chunk's chains as the work goes.
            bar.n = k * chunk + min(keep * done // end, keep)
            bar.set_postfix(chunk=where, **{label: f"{done}/{end}"})

        t0 = time.perf_counter()
        out = live.run(compiled, args, on_tick if r.ticks and bar is not None else None)
        run_s += time.perf_counter() - t0
        draws, info = _to_host(out)
        if bar is not None:
            bar.n = k * chunk
        draws_parts.append(draws[:keep])
        info_parts.append({n: v[:keep] for n, v in info.items()})
        if bar is not None:
            bar.update(keep)
            bar.set_postfix(compile_s=f"{compile_s:.1f}", run_s=f"{run_s:.1f}")
    if bar is not None:
        bar.close()
    positions = np.concatenate(draws_parts)
    diagnostics = {n: np.concatenate([p[n] for p in info_parts]) for n in info_parts[0]}
    return RunResult(positions, diagnostics, compile_s, run_s, cached)


def _evaluations(r: Recipe) -> int | None:
    """The kernel's evaluations per chain when it fixes them (`Kernel.evaluations`)."""
    return KERNELS[r.kernel].evaluations(
        num_warmup=r.num_warmup, num_samples=r.num_samples, thinning=r.thinning, options=r.options
    )


def planned_steps(plan: Plan) -> int | None:
    """Steps per chain of one chunk that the kernel and the optimised starts report
    (`progress.report_steps`), for a kernel whose evaluations are not fixed in advance."""
    r = plan.recipe
    kernel = KERNELS[r.kernel].steps(
        num_warmup=r.num_warmup, num_samples=r.num_samples, thinning=r.thinning, options=r.options
    )
    if kernel is None or r.init != "ensemble":
        return kernel
    return kernel + plan.init_options["num_steps"]


def planned_evaluations(plan: Plan) -> int | None:
    """Batched log-density evaluations of one chunk (its ticks), when the kernel fixes them in
    advance: the kernel's, plus the optimised starts' steps and the check of their end."""
    r = plan.recipe
    kernel = _evaluations(r)
    if kernel is None or r.init != "ensemble":
        return kernel
    _, optimizer = resolve(plan.init_options, r.spec, plan.x.shape[0])
    return kernel + evaluations(optimizer, plan.init_options["num_steps"]) + 1


# --- assemble: the Posterior, its flags and its verdict -------------------------------------
def assemble(plan: Plan, result: RunResult, *, started: float, stacklevel: int = 2) -> Posterior:
    """The run's `Posterior`: non-finite chains flagged (with a warning), the settings, the
    timings since `started` and the convergence verdict (a `ConvergenceWarning` when it
    fails). `stacklevel` is the warnings' stack level, from this function's caller."""
    r = plan.recipe
    spec, noise_std, num_chains = r.spec, r.noise_std, plan.num_chains
    positions, diagnostics = result.positions, result.diagnostics
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
            f"{', '.join(map(str, bad[:10] + plan.first_chain))}"
            f"{', ...' if len(bad) > 10 else ''}); "
            "they are kept and flagged in diagnostics['finite']",
            RuntimeWarning,
            stacklevel=stacklevel,
        )

    settings = {
        "kernel": r.kernel,
        "kernel_options": options_dict(r.options),
        "num_chains": num_chains,
        "num_warmup": r.num_warmup,
        "num_samples": r.num_samples,
        "thinning": r.thinning,
        "seed": plan.seed,
        "first_chain": plan.first_chain,
        "init": r.init,
        "init_options": plan.init_options,
        "noise_std": noise_std,
        "chunk_size": plan.chunk,
        "num_chunks": plan.num_chunks,
        "num_devices": len(r.devices),
        "platform": r.devices[0].platform,
        "device": plan.device,
        "dtype": np.dtype(plan.dtype).name,
        "jax_version": jax.__version__,
        "compile_cached": result.cached,
    }
    timings = {
        "compile_s": result.compile_s,
        "run_s": result.run_s,
        "total_s": time.perf_counter() - started,
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
    verdict = assess(post, x_probe=plan.x[:PROBE_INPUTS])
    settings["convergence"] = verdict.to_dict()
    if not verdict.converged:
        warnings.warn(f"sample ({r.kernel}): {verdict}", ConvergenceWarning, stacklevel=stacklevel)
    return post


# --- the program ----------------------------------------------------------------------------
# Compiled programs by (recipe, argument shapes): repeated runs (more chains, another seed,
# other data of the same shape) skip compilation. Small: a program holds little memory.
_CACHE: dict = {}
_CACHE_SIZE = 16


def _compiled_program(recipe: Recipe, mesh: Mesh, args: list, shapes: tuple):
    """-> (compiled chunk program, whether it came from the cache)."""
    key = (recipe, shapes, KERNELS[recipe.kernel])
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

    def keep(compiled):  # also when Ctrl-C abandoned the wait: a rerun then reuses it
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = compiled

    return live.compile_program(fn.lower(*args), keep), False


def _program(r: Recipe, base_key, chain_ids, x, y, *given):
    """One device's share of a chunk: chain ids `(c,)` -> draws `(c, S, D)` and info."""
    # Steps are reported where the bar needs them: ticks on, evaluations not fixed.
    with live.reporting(r.ticks and _evaluations(r) is None):
        return _chunk(r, base_key, chain_ids, x, y, *given)


def _chunk(r: Recipe, base_key, chain_ids, x, y, *given):
    keys = jax.vmap(lambda i: jax.random.fold_in(base_key, i))(chain_ids)
    init_keys, run_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
    plain = logdensity_builder(r.spec, r.noise_std)
    build = plain
    if r.ticks:
        build = lambda *data: live.ticking(plain(*data))  # noqa: E731
    ld = build(x, y)
    optimised = None  # the starts' optimiser, if they were optimised
    if given:
        pos = given[0]
    else:
        pos = jax.vmap(partial(prior_start, r.spec, r.noise_std))(init_keys)
        if r.init == "ensemble":
            opts = dict(r.init_options)
            if opts.pop("start") == "fan_in":
                pos = pos * jnp.asarray(fan_in_scale(r.spec, pos.shape[-1]), pos.dtype)
            fraction, opts["optimizer"] = resolve(opts, r.spec, x.shape[0])
            del opts["holdout"]
            check_every = opts.pop("check_every")
            holdout = None
            if fraction > 0:
                holdout = (
                    build,
                    holdout_score(r.spec),
                    x,
                    y,
                    fraction,
                    min(check_every, opts["num_steps"]),
                )
            split_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(init_keys)
            pos = optimize_starts(ld, pos, **opts, holdout=holdout, keys=split_keys)
            optimised = opts["optimizer"]
    draws, kernel_info = KERNELS[r.kernel].run(
        ld,
        pos,
        run_keys,
        num_warmup=r.num_warmup,
        num_samples=r.num_samples,
        thinning=r.thinning,
        options=r.options,
    )
    info = kernel_info._asdict()
    if optimised:  # the starts' optimiser steps count as gradients of the run
        steps = evaluations(optimised, dict(r.init_options)["num_steps"])
        info["num_grad_evals"] = info["num_grad_evals"] + steps
    ld = plain(x, y)
    draws_ld = jax.vmap(jax.vmap(ld))(draws)  # (C, S): forward passes only, cheap
    info["log_density"] = draws_ld[:, -1]
    info["draws_log_density"] = draws_ld
    info["init_log_density"] = jax.vmap(ld)(pos)
    return draws, info


def _frozen(d: dict) -> tuple:
    return tuple(sorted(d.items()))


# --- the log density ------------------------------------------------------------------------
def logdensity_builder(spec: MLP, noise_std: float | None) -> Callable:
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


# --- checks and plumbing ----------------------------------------------------------------------
def default_chunk(num_chains: int, spec: MLP, rows: int, itemsize: int, devices) -> int:
    """Chains per chunk when `chunk_size` is not given: all of them up to `DEFAULT_CHUNK`; on
    a CPU at most what keeps a layer's activations within `CPU_LAYER_BYTES`, with the chains
    spread evenly over the chunks (1274 chains at a cap of 109 -> 12 chunks of 107, not 11
    of 109 and a 75-chain one padded to 109)."""
    cap = DEFAULT_CHUNK
    if all(d.platform == "cpu" for d in devices):
        layer = rows * max(spec.sizes[1:]) * itemsize
        cap = max(1, min(cap, CPU_LAYER_BYTES // layer))  # rows >= 1: checked with the data
    num_chunks = -(-num_chains // cap)
    return -(-num_chains // num_chunks)


def _check_devices(devices) -> list:
    if devices is None:
        return list(jax.devices())
    devices = list(devices)
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise SymbnnError("devices must be a non-empty sequence of jax devices")
    return devices


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
