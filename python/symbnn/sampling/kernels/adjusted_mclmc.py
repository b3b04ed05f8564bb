"""`adjusted_mclmc`: Metropolis-adjusted MCLMC with BlackJAX's tuner, `sample`'s default kernel."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.adaptation.mclmc_adaptation import MCLMCAdaptationState
from blackjax.mcmc import integrators

from .. import progress
from .base import Kernel, about_start, positive_inverse_mass, settle_and_sample, warmup_split


@dataclass(frozen=True)
class AdjustedMCLMCOptions:
    """`adjusted_mclmc`'s options (`sample` keywords, CLI `--option`s), with their
    defaults."""

    target_accept: float = 0.9
    diagonal_preconditioning: bool = True
    initial_step_size: float = 0.01
    settle_fraction: float = 0.2
    target_num_integration_steps: float = 2.0


#: The tuner's split of its steps (BlackJAX's `frac_tune1`, `frac_tune2`): dual averaging
#: with the trajectory pinned, then with the variances gathered for L and the preconditioner;
#: a second pass repeats the first part's length.
FRAC_TUNE1, FRAC_TUNE2 = 0.3, 0.4


class AdjustedMCLMCInfo(NamedTuple):
    """Per-chain diagnostics of `adjusted_mclmc` (the settle window's drift)."""

    acceptance_rate: jax.Array
    warmup_acceptance_rate: jax.Array  # over the settle window (NaN without one)
    divergences: jax.Array
    num_grad_evals: jax.Array
    step_size: jax.Array
    inverse_mass_matrix: jax.Array
    L: jax.Array
    num_integration_steps: jax.Array
    settle_drift: jax.Array


class AdjustedMCLMC(Kernel):
    """Metropolis-adjusted MCLMC (`blackjax.adjusted_mclmc_dynamic`, quasi-random trajectory
    lengths) with BlackJAX's tuner `adjusted_mclmc_find_L_and_step_size`, per chain, vmapped:
    unbiased at the price of an accept step.

    The warm-up is split as `mclmc`'s: `(1 - settle_fraction)·num_warmup` Metropolis
    steps of the tuner (dual averaging of the step size to `target_accept`, BlackJAX's advice
    for this kernel, with the trajectory held at `target_num_integration_steps` integrator
    steps on average; the diagonal preconditioner from the first pass), then a settle window
    with the tuned kernel, where `info.settle_drift` is measured as for `mclmc`. Each
    integrator step costs two gradients (isokinetic McLachlan)."""

    name = "adjusted_mclmc"
    Options = AdjustedMCLMCOptions

    def run(
        self,
        logdensity_fn: Callable,
        initial_positions: jax.Array,
        keys: jax.Array,
        *,
        num_warmup: int,
        num_samples: int,
        thinning: int,
        options: AdjustedMCLMCOptions,
    ) -> tuple[jax.Array, AdjustedMCLMCInfo]:
        from blackjax.adaptation.adjusted_mclmc_adaptation import (
            adjusted_mclmc_find_L_and_step_size,
        )
        from blackjax.mcmc import adjusted_mclmc_dynamic as amclmc

        o = options
        grads_per_step = 2
        tune, settle_steps = warmup_split(num_warmup, o.settle_fraction)

        base = amclmc.build_kernel(
            integration_steps_fn=partial(trajectory_length, target=o.target_num_integration_steps),
            integrator=integrators.isokinetic_mclachlan,
            next_random_arg_fn=lambda t: t + 1,
        )

        def kernel(rng_key, state, logdensity_fn, step_size, inverse_mass_matrix,
                   integration_steps_params):  # fmt: skip
            state, info = base(
                rng_key,
                state,
                logdensity_fn,
                step_size,
                inverse_mass_matrix=positive_inverse_mass(inverse_mass_matrix),
                integration_steps_params=integration_steps_params,
            )
            progress.report_steps(progress.one_per_chain(state.logdensity))
            return state, info

        def one_chain(origin, key):
            ld, position = about_start(logdensity_fn, origin)
            tune_key, settle_key, sample_key = jax.random.split(key, 3)
            state = amclmc.init(position, ld, jnp.zeros((), jnp.int32))
            d = position.shape[-1]
            dt = position.dtype
            start = MCLMCAdaptationState(
                jnp.asarray(o.target_num_integration_steps * o.initial_step_size, dt),
                jnp.asarray(o.initial_step_size, dt),
                inverse_mass_matrix=jnp.ones(d, dt),
            )
            tune_grads = jnp.zeros((), jnp.int32)
            params = start
            if tune > 0:
                # Pass one spends frac_tune1 + frac_tune2 of the steps, pass two frac_tune1.
                state, params, tune_integrator_steps = adjusted_mclmc_find_L_and_step_size(
                    kernel,
                    ld,
                    tune,
                    state,
                    tune_key,
                    target=o.target_accept,
                    frac_tune1=FRAC_TUNE1,
                    frac_tune2=FRAC_TUNE2,
                    diagonal_preconditioning=o.diagonal_preconditioning,
                    params=start,
                    target_num_integration_steps=o.target_num_integration_steps,
                )
                tune_grads = grads_per_step * tune_integrator_steps
            avg = params.L / params.step_size
            params = params._replace(
                inverse_mass_matrix=positive_inverse_mass(params.inverse_mass_matrix)
            )

            def step(k, s):  # the preconditioner is positive already: no per-step check
                s, info = base(k, s, ld, params.step_size,
                               inverse_mass_matrix=params.inverse_mass_matrix,
                               integration_steps_params=(avg,))  # fmt: skip
                progress.report_steps(progress.one_per_chain(s.logdensity))
                return s, info

            positions, settle_info, infos, drift = settle_and_sample(
                step, state, settle_key, sample_key, settle_steps, num_samples, thinning
            )
            info = AdjustedMCLMCInfo(
                acceptance_rate=jnp.mean(infos.acceptance_rate),
                warmup_acceptance_rate=jnp.mean(settle_info.acceptance_rate)
                if settle_steps
                else jnp.asarray(jnp.nan, dt),
                divergences=jnp.sum(infos.is_divergent) + jnp.sum(settle_info.is_divergent),
                num_grad_evals=1
                + tune_grads
                + grads_per_step
                * (
                    jnp.sum(settle_info.num_integration_steps)
                    + jnp.sum(infos.num_integration_steps)
                ),
                step_size=params.step_size,
                inverse_mass_matrix=jnp.broadcast_to(params.inverse_mass_matrix, (d,)),
                L=params.L,
                num_integration_steps=avg,
                settle_drift=drift,
            )
            return positions + origin, info

        return jax.vmap(one_chain)(initial_positions, keys)

    def steps(self, *, num_warmup, num_samples, thinning, options):
        tune, settle_steps = warmup_split(num_warmup, options.settle_fraction)
        s1, s2 = int(tune * FRAC_TUNE1), int(tune * FRAC_TUNE2)
        tuning = s1 + s2 + (s1 if s2 else 0) if tune > 0 else 0
        return tuning + settle_steps + num_samples * thinning


def trajectory_length(t, avg, *, target: float):
    """Integrator steps of trajectory `t` for a chain averaging `avg`: BlackJAX's Halton
    lengths (uniform on about `[1, 2·avg + 1]`), the same for every chain at a step: under
    vmap a random length per chain would make every step wait for the longest (1.5x the
    gradients at an average of 2 integrator steps), a shared one costs what it uses.

    Capped at twice the longest a chain tuned to `target` draws (NaN -> 1): a chain whose
    tuner drives its step size to the floor (1e-5, seen from prior starts) while L holds asks
    for ~10^5 steps per trajectory, and every chain would wait on it (1274 f1 chains from
    prior draws ran for over 15 minutes instead of 40 s). A length that does not depend on
    the state keeps the kernel exact."""
    from blackjax.mcmc import adjusted_mclmc_dynamic as amclmc

    cap = 2 * math.ceil(2 * target + 1)
    n = amclmc.trajectory_length(t, avg)
    return jnp.where(jnp.isnan(n), 1, jnp.clip(n, 1, cap)).astype(jnp.int32)
