"""Kernel runners: warm-up plus sampling for a block of chains, built from BlackJAX's pieces.

Every runner has the same signature, so that `sampling.sample` can dispatch on the kernel name
and a faster engine can replace one without touching the driver:

    runner(logdensity_fn, initial_positions, keys, *, num_warmup, num_samples, thinning=1,
           **options) -> (samples, info)

- `logdensity_fn`: one position `(D,)` -> scalar log density.
- `initial_positions`: `(C, D)`; `keys`: `(C,)` typed PRNG keys, one per chain.
- `samples`: `(C, num_samples, D)`, every `thinning`-th state after the warm-up.
- `info`: a dict of per-chain arrays, leading axis `C`: `acceptance_rate` (mean over the
  sampling steps; NaN for kernels without an accept step), `divergences` and `num_grad_evals`
  (counts over warm-up and sampling), `step_size`, `inverse_mass_matrix` `(C, D)`, plus what
  the kernel adapts (`num_integration_steps`, `L`, ...).

Runners are pure, traceable JAX functions: the driver wraps one in `jit(shard_map(...))`, so it
sees one device's share of a chunk, and times its compilation apart. `keys` are typed keys
(`jax.random.key`); the options are Python constants (keyword-only, with defaults: `sample`
lists them from the signature and refuses unknown ones). A runner must treat chains
independently, except `chees`, whose adaptation pools a fixed-size *ensemble* of consecutive
chains (see `run_chees`).
"""

from __future__ import annotations

from collections.abc import Callable

import blackjax
import jax
import jax.numpy as jnp
import optax
from blackjax.adaptation.base import get_filter_adapt_info_fn
from blackjax.adaptation.mclmc_adaptation import MCLMCAdaptationState
from blackjax.mcmc import integrators

from ..nuts_engine import run_nuts

# The warm-up diagnostics kept per step (the rest of BlackJAX's adaptation info is dropped,
# which keeps memory at a few scalars per chain and step).
_WARMUP_INFO = get_filter_adapt_info_fn(
    info_keys={"acceptance_rate", "is_divergent", "num_integration_steps"}
)


def _sample_phase(step: Callable, state, key, num_samples: int, thinning: int):
    """Run `num_samples * thinning` steps of `step(key, state) -> (state, info)` for one
    chain and keep every `thinning`-th position: `((num_samples, D), infos (S, T, ...))`."""
    keys = jax.random.split(key, num_samples * thinning).reshape(num_samples, thinning)

    def draw(state, ks):
        state, infos = jax.lax.scan(lambda s, k: step(k, s), state, ks)
        return state, (state.position, infos)

    _, (positions, infos) = jax.lax.scan(draw, state, keys)
    return positions, infos


def _hmc_family(
    algorithm,
    logdensity_fn: Callable,
    position,
    key,
    *,
    num_warmup: int,
    num_samples: int,
    thinning: int,
    target_accept: float,
    initial_step_size: float,
    **extra,
):
    """One chain of NUTS or HMC: Stan-style window adaptation (step size by dual averaging,
    diagonal mass matrix from identity), then sampling with the adapted parameters."""
    warm_key, sample_key = jax.random.split(key)
    d = position.shape[-1]
    if num_warmup > 0:
        warmup = blackjax.window_adaptation(
            algorithm,
            logdensity_fn,
            is_mass_matrix_diagonal=True,
            initial_step_size=initial_step_size,
            target_acceptance_rate=target_accept,
            adaptation_info_fn=_WARMUP_INFO,
            **extra,
        )
        (state, params), winfo = warmup.run(warm_key, position, num_steps=num_warmup)
        step_size, imm = params["step_size"], params["inverse_mass_matrix"]
        w = winfo.info
        warm_div = jnp.sum(w.is_divergent)
        warm_grads = jnp.sum(w.num_integration_steps)
        warm_acc = jnp.mean(w.acceptance_rate)
    else:
        state = algorithm.init(position, logdensity_fn)
        step_size, imm = jnp.asarray(initial_step_size, position.dtype), jnp.ones(d, position.dtype)
        warm_div = warm_grads = jnp.zeros((), jnp.int32)
        warm_acc = jnp.asarray(jnp.nan, position.dtype)
    kernel = algorithm(logdensity_fn, step_size, imm, **extra)
    positions, infos = _sample_phase(kernel.step, state, sample_key, num_samples, thinning)
    info = {
        "acceptance_rate": jnp.mean(infos.acceptance_rate),
        "warmup_acceptance_rate": warm_acc,
        "divergences": warm_div + jnp.sum(infos.is_divergent),
        # +1: the gradient at the initial position.
        "num_grad_evals": 1 + warm_grads + jnp.sum(infos.num_integration_steps),
        "step_size": step_size,
        "inverse_mass_matrix": imm,
    }
    return positions, info


def run_nuts_vmap(
    logdensity_fn: Callable,
    initial_positions: jax.Array,
    keys: jax.Array,
    *,
    num_warmup: int,
    num_samples: int,
    thinning: int = 1,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    initial_step_size: float = 1.0,
):
    """BlackJAX NUTS with per-chain window adaptation (the study's protocol, paper.md §5),
    `vmap`ped over chains. Correct but lock-stepped: every iteration of the batch waits for
    the deepest tree of any chain."""
    return jax.vmap(
        lambda p, k: _hmc_family(
            blackjax.nuts,
            logdensity_fn,
            p,
            k,
            num_warmup=num_warmup,
            num_samples=num_samples,
            thinning=thinning,
            target_accept=target_accept,
            initial_step_size=initial_step_size,
            max_num_doublings=max_tree_depth,
        )
    )(initial_positions, keys)


def run_hmc(
    logdensity_fn: Callable,
    initial_positions: jax.Array,
    keys: jax.Array,
    *,
    num_warmup: int,
    num_samples: int,
    thinning: int = 1,
    num_integration_steps: int = 16,
    target_accept: float = 0.8,
    initial_step_size: float = 1.0,
):
    """BlackJAX HMC with a fixed number of leapfrog steps and per-chain window adaptation of
    the step size and diagonal mass matrix. Every chain does the same work per step, so
    vmapping wastes nothing."""
    positions, info = jax.vmap(
        lambda p, k: _hmc_family(
            blackjax.hmc,
            logdensity_fn,
            p,
            k,
            num_warmup=num_warmup,
            num_samples=num_samples,
            thinning=thinning,
            target_accept=target_accept,
            initial_step_size=initial_step_size,
            num_integration_steps=num_integration_steps,
        )
    )(initial_positions, keys)
    info["num_integration_steps"] = jnp.full(keys.shape, num_integration_steps)
    return positions, info


def run_chees(
    logdensity_fn: Callable,
    initial_positions: jax.Array,
    keys: jax.Array,
    *,
    num_warmup: int,
    num_samples: int,
    thinning: int = 1,
    ensemble_size: int = 64,
    target_accept: float = 0.651,
    initial_step_size: float = 0.1,
    learning_rate: float = 0.025,
    jitter_amount: float = 1.0,
    max_leapfrog_steps: int = 1000,
    mass_matrix: str | None = "diagonal",
):
    """ChEES-HMC (Hoffman, Radul & Sountsov 2021): jittered-trajectory HMC whose step size and
    trajectory length are adapted *across* an ensemble of chains by `blackjax.chees_adaptation`
    (Adam with `learning_rate` on the ChEES criterion; `mass_matrix="diagonal"` also pools a
    diagonal mass matrix over the ensemble, `None` keeps the identity).

    Chains `[k·E, (k+1)·E)` form ensemble `k` (`E = ensemble_size`); `C` must be a multiple of
    `E`. The ensemble's adaptation key comes from its first chain's key, so results do not
    depend on how ensembles are grouped into chunks or spread over devices.
    """
    c, d = initial_positions.shape
    e = ensemble_size
    if c % e:
        raise ValueError(f"chees: {c} chains is not a multiple of ensemble_size={e}")
    mm = None if mass_matrix in (None, "identity") else mass_matrix

    def one_ensemble(positions, ks):
        warm_key = jax.random.fold_in(ks[0], 1)  # chain keys are split below; this one is not
        chain_keys = jax.vmap(jax.random.split)(ks)[:, 1]
        warmup = blackjax.chees_adaptation(
            logdensity_fn,
            e,
            jitter_amount=jitter_amount,
            target_acceptance_rate=target_accept,
            max_leapfrog_steps=max_leapfrog_steps,
            adaptation_info_fn=_WARMUP_INFO,
            mass_matrix_estimation=mm,
        )
        (states, params), winfo = warmup.run(
            warm_key,
            positions,
            initial_step_size,
            optax.adam(learning_rate),
            num_warmup,
            max_sampling_steps=num_samples * thinning,
        )
        step = blackjax.dynamic_hmc(logdensity_fn, **params).step
        draws, infos = jax.vmap(lambda s, k: _sample_phase(step, s, k, num_samples, thinning))(
            states, chain_keys
        )
        w = winfo.info  # leaves (num_warmup, E)
        info = {
            "acceptance_rate": jnp.mean(infos.acceptance_rate, axis=(1, 2)),
            "warmup_acceptance_rate": jnp.mean(w.acceptance_rate, axis=0),
            "divergences": jnp.sum(w.is_divergent, axis=0)
            + jnp.sum(infos.is_divergent, axis=(1, 2)),
            "num_grad_evals": 1
            + jnp.sum(w.num_integration_steps, axis=0)
            + jnp.sum(infos.num_integration_steps, axis=(1, 2)),
            "step_size": jnp.full(e, params["step_size"]),
            "inverse_mass_matrix": jnp.broadcast_to(params["inverse_mass_matrix"], (e, d)),
            # The mean number of leapfrog steps (the trajectory length over the step size).
            "num_integration_steps": jnp.full(e, params["integration_steps_params"][0]),
        }
        return draws, info

    draws, info = jax.vmap(one_ensemble)(
        initial_positions.reshape(c // e, e, d), keys.reshape(c // e, e)
    )
    return (
        draws.reshape(c, num_samples, d),
        {k: v.reshape(c, *v.shape[2:]) for k, v in info.items()},
    )


def _warmup_split(num_warmup: int, settle_fraction: float) -> tuple[int, int]:
    """`(tuning steps, settle steps)` of a warm-up whose last `settle_fraction` settles."""
    if not 0.0 <= settle_fraction < 1.0:
        raise ValueError(f"settle_fraction must lie in [0, 1), got {settle_fraction}")
    settle = round(num_warmup * settle_fraction) if num_warmup > 0 else 0
    return num_warmup - settle, settle


def _settle(step: Callable, state, key, steps: int):
    """`steps` steps of the tuned kernel: `(state, infos, drift)`, where `drift` is the rise of
    the log density across them (NaN without steps), what the convergence verdict reads."""
    before = state.logdensity
    state, infos = jax.lax.scan(lambda s, k: step(k, s), state, jax.random.split(key, steps))
    drift = jnp.where(steps > 0, state.logdensity - before, jnp.nan).astype(before.dtype)
    return state, infos, drift


def run_mclmc(
    logdensity_fn: Callable,
    initial_positions: jax.Array,
    keys: jax.Array,
    *,
    num_warmup: int,
    num_samples: int,
    thinning: int = 1,
    desired_energy_var: float = 5e-4,
    diagonal_preconditioning: bool = True,
    initial_step_size: float = 0.01,
    settle_fraction: float = 0.2,
    frac_tune1: float = 0.4,
    frac_tune2: float = 0.3,
    frac_tune3: float = 0.2,
):
    """Unadjusted microcanonical Langevin MC (MCLMC, as in MILE) with BlackJAX's tuner
    `mclmc_find_L_and_step_size`, per chain, vmapped.

    The warm-up has two parts:
    - tuning, `(1 - settle_fraction)·num_warmup` integrator steps of the tuner (the default
      fractions spend them all: `frac_tune1 + 4/3·frac_tune2 + frac_tune3 = 1` with diagonal
      preconditioning). It starts from `initial_step_size`, small on purpose: BlackJAX's
      default (`√d / 4`) throws an optimised start far from its mode in the first steps, and
      the tuner grows a small step within a few dozen steps (the step is rescaled by the
      energy error to the power −1/6 every step).
    - a settle window, the remaining steps with the tuned kernel. It is where the convergence
      verdict looks: `info["settle_drift"]` is the rise of the log density across it (zero
      in expectation once the chain is stationary) and `info["energy_var"]` the realised
      energy-error variance per dimension (the tuner's target is `desired_energy_var`).

    MCLMC has no accept step: `acceptance_rate` is NaN and `divergences` counts steps the
    kernel had to reject as non-finite."""
    # The isokinetic McLachlan integrator evaluates two gradients per step.
    grads_per_step = 2
    kernel = blackjax.mcmc.mclmc.build_kernel(
        integrator=integrators.isokinetic_mclachlan, desired_energy_var=desired_energy_var
    )
    tune, settle = _warmup_split(num_warmup, settle_fraction)

    def one_chain(position, key):
        init_key, tune_key, settle_key, sample_key = jax.random.split(key, 4)
        state = blackjax.mcmc.mclmc.init(position, logdensity_fn, init_key)
        d = position.shape[-1]
        dt = position.dtype
        if tune > 0:
            start = MCLMCAdaptationState(
                jnp.sqrt(jnp.asarray(d, dt)),
                jnp.asarray(initial_step_size, dt),
                inverse_mass_matrix=jnp.ones(d, dt),
            )
            state, params, _ = blackjax.mclmc_find_L_and_step_size(
                kernel,
                tune,
                state,
                tune_key,
                logdensity_fn=logdensity_fn,
                frac_tune1=frac_tune1,
                frac_tune2=frac_tune2,
                frac_tune3=frac_tune3,
                desired_energy_var=desired_energy_var,
                diagonal_preconditioning=diagonal_preconditioning,
                params=start,
            )
            L, step_size, imm = params.L, params.step_size, params.inverse_mass_matrix
        else:
            L = jnp.sqrt(jnp.asarray(d, dt))
            step_size, imm = 0.25 * L, jnp.ones(d, dt)
        tune_steps = _mclmc_tuning_steps(
            tune, frac_tune1, frac_tune2, frac_tune3, diagonal_preconditioning
        )

        def step(k, s):
            return kernel(k, s, logdensity_fn, imm, L, step_size)

        state, settle_info, drift = _settle(step, state, settle_key, settle)
        energy_var = jnp.mean(jnp.square(settle_info.energy_change)) / d if settle else jnp.nan
        positions, infos = _sample_phase(step, state, sample_key, num_samples, thinning)
        info = {
            "acceptance_rate": jnp.asarray(jnp.nan, dt),
            "divergences": jnp.sum(~infos.nonans) + jnp.sum(~settle_info.nonans),
            "num_grad_evals": 1 + grads_per_step * (tune_steps + settle + num_samples * thinning),
            "step_size": step_size,
            "inverse_mass_matrix": jnp.broadcast_to(imm, (d,)),
            "L": L,
            "settle_drift": drift,
            "energy_var": jnp.asarray(energy_var, dt),
        }
        return positions, info

    return jax.vmap(one_chain)(initial_positions, keys)


def run_adjusted_mclmc(
    logdensity_fn: Callable,
    initial_positions: jax.Array,
    keys: jax.Array,
    *,
    num_warmup: int,
    num_samples: int,
    thinning: int = 1,
    target_accept: float = 0.9,
    diagonal_preconditioning: bool = True,
    initial_step_size: float = 0.01,
    settle_fraction: float = 0.2,
    target_num_integration_steps: float = 2.0,
):
    """Metropolis-adjusted MCLMC (`blackjax.adjusted_mclmc_dynamic`, quasi-random trajectory
    lengths) with BlackJAX's tuner `adjusted_mclmc_find_L_and_step_size`, per chain, vmapped:
    unbiased at the price of an accept step.

    The warm-up is split as `run_mclmc`'s: `(1 - settle_fraction)·num_warmup` Metropolis
    steps of the tuner (dual averaging of the step size to `target_accept`, BlackJAX's advice
    for this kernel, with the trajectory held at `target_num_integration_steps` integrator
    steps on average; the diagonal preconditioner from the first pass), then a settle window
    with the tuned kernel, where `info["settle_drift"]` is measured as for `mclmc`. Each
    integrator step costs two gradients (isokinetic McLachlan)."""
    from blackjax.adaptation.adjusted_mclmc_adaptation import (
        adjusted_mclmc_find_L_and_step_size,
    )
    from blackjax.mcmc import adjusted_mclmc_dynamic as amclmc

    grads_per_step = 2
    tune, settle = _warmup_split(num_warmup, settle_fraction)

    # Trajectory lengths from the Halton sequence of the step index (BlackJAX's
    # `trajectory_length`), the same for every chain at a step: under vmap a random length
    # per chain would make every step wait for the longest (1.5x the gradients at an average
    # of 2 integrator steps), a shared one costs what it uses.
    def shared_length(t, avg):
        return jnp.maximum(amclmc.trajectory_length(t, avg), 1).astype(jnp.int32)

    base = amclmc.build_kernel(
        integration_steps_fn=shared_length,
        integrator=integrators.isokinetic_mclachlan,
        next_random_arg_fn=lambda t: t + 1,
    )

    def kernel(rng_key, state, logdensity_fn, step_size, inverse_mass_matrix,
               integration_steps_params):  # fmt: skip
        return base(
            rng_key,
            state,
            logdensity_fn,
            step_size,
            inverse_mass_matrix=inverse_mass_matrix,
            integration_steps_params=integration_steps_params,
        )

    def one_chain(position, key):
        tune_key, settle_key, sample_key = jax.random.split(key, 3)
        state = amclmc.init(position, logdensity_fn, jnp.zeros((), jnp.int32))
        d = position.shape[-1]
        dt = position.dtype
        start = MCLMCAdaptationState(
            jnp.asarray(target_num_integration_steps * initial_step_size, dt),
            jnp.asarray(initial_step_size, dt),
            inverse_mass_matrix=jnp.ones(d, dt),
        )
        tune_grads = jnp.zeros((), jnp.int32)
        params = start
        if tune > 0:
            # Pass one spends frac_tune1 + frac_tune2 of the steps, pass two frac_tune1.
            state, params, tune_integrator_steps = adjusted_mclmc_find_L_and_step_size(
                kernel,
                logdensity_fn,
                tune,
                state,
                tune_key,
                target=target_accept,
                frac_tune1=0.3,
                frac_tune2=0.4,
                diagonal_preconditioning=diagonal_preconditioning,
                params=start,
                target_num_integration_steps=target_num_integration_steps,
            )
            tune_grads = grads_per_step * tune_integrator_steps
        avg = params.L / params.step_size

        def step(k, s):
            return kernel(k, s, logdensity_fn, params.step_size, params.inverse_mass_matrix,
                          (avg,))  # fmt: skip

        state, settle_info, drift = _settle(step, state, settle_key, settle)
        positions, infos = _sample_phase(step, state, sample_key, num_samples, thinning)
        info = {
            "acceptance_rate": jnp.mean(infos.acceptance_rate),
            "warmup_acceptance_rate": jnp.mean(settle_info.acceptance_rate)
            if settle
            else jnp.asarray(jnp.nan, dt),
            "divergences": jnp.sum(infos.is_divergent) + jnp.sum(settle_info.is_divergent),
            "num_grad_evals": 1
            + tune_grads
            + grads_per_step
            * (jnp.sum(settle_info.num_integration_steps) + jnp.sum(infos.num_integration_steps)),
            "step_size": params.step_size,
            "inverse_mass_matrix": jnp.broadcast_to(params.inverse_mass_matrix, (d,)),
            "L": params.L,
            "num_integration_steps": avg,
            "settle_drift": drift,
        }
        return positions, info

    return jax.vmap(one_chain)(initial_positions, keys)


def _mclmc_tuning_steps(n: int, f1: float, f2: float, f3: float, diag: bool) -> int:
    """Integrator steps `mclmc_find_L_and_step_size(num_steps=n)` takes (its own count omits
    the step-size re-adjustment after preconditioning)."""
    if n == 0:
        return 0
    s1, s2, s3 = round(n * f1), round(n * f2), round(n * f3)
    readjust = round(s2 / 3) if (diag and s2 > 1) else 0
    return s1 + s2 + readjust + (s3 if s3 >= 2 else 0)


#: Kernel name -> runner. `nuts` is the autobatched engine (`_nuts_autobatch`: chains never
#: wait for each other's trees); `nuts_vmap` stays as the plain lock-stepped reference.
RUNNERS: dict[str, Callable] = {
    "nuts": run_nuts,
    "nuts_vmap": run_nuts_vmap,
    "hmc": run_hmc,
    "chees": run_chees,
    "mclmc": run_mclmc,
    "adjusted_mclmc": run_adjusted_mclmc,
}

#: Runners whose adaptation couples consecutive chains: option name giving the group size.
GROUPED = {"chees": "ensemble_size"}
