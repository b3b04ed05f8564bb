"""`mclmc`: unadjusted microcanonical Langevin MC (MCLMC, as in MILE) with BlackJAX's tuner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from blackjax.adaptation.mclmc_adaptation import MCLMCAdaptationState
from blackjax.mcmc import integrators

from .base import Kernel, about_start, positive_inverse_mass, settle_and_sample, warmup_split


@dataclass(frozen=True)
class MCLMCOptions:
    """`mclmc`'s options (`sample` keywords, CLI `--option`s), with their defaults."""

    desired_energy_var: float = 5e-4
    diagonal_preconditioning: bool = True
    initial_step_size: float = 0.01
    settle_fraction: float = 0.2
    frac_tune1: float = 0.4
    frac_tune2: float = 0.3
    frac_tune3: float = 0.2


class MCLMCInfo(NamedTuple):
    """Per-chain diagnostics of `mclmc` (the settle window's drift and energy error)."""

    acceptance_rate: jax.Array  # NaN: no accept step
    divergences: jax.Array
    num_grad_evals: jax.Array
    step_size: jax.Array
    inverse_mass_matrix: jax.Array
    L: jax.Array
    settle_drift: jax.Array
    energy_var: jax.Array


class MCLMC(Kernel):
    """MCLMC with BlackJAX's tuner `mclmc_find_L_and_step_size`, per chain, vmapped.

    The warm-up has two parts:
    - tuning, `(1 - settle_fraction)·num_warmup` integrator steps of the tuner (the default
      fractions spend them all: `frac_tune1 + 4/3·frac_tune2 + frac_tune3 = 1` with diagonal
      preconditioning). It starts from `initial_step_size`, small on purpose: BlackJAX's
      default (`√d / 4`) throws an optimised start far from its mode in the first steps, and
      the tuner grows a small step within a few dozen steps (the step is rescaled by the
      energy error to the power −1/6 every step).
    - a settle window, the remaining steps with the tuned kernel. It is where the convergence
      verdict looks: `info.settle_drift` is the rise of the log density across it (zero
      in expectation once the chain is stationary) and `info.energy_var` the realised
      energy-error variance per dimension (the tuner's target is `desired_energy_var`).

    MCLMC has no accept step: `acceptance_rate` is NaN and `divergences` counts steps the
    kernel had to reject as non-finite."""

    name = "mclmc"
    Options = MCLMCOptions

    def run(
        self,
        logdensity_fn: Callable,
        initial_positions: jax.Array,
        keys: jax.Array,
        *,
        num_warmup: int,
        num_samples: int,
        thinning: int,
        options: MCLMCOptions,
    ) -> tuple[jax.Array, MCLMCInfo]:
        o = options
        base = blackjax.mcmc.mclmc.build_kernel(
            integrator=integrators.isokinetic_mclachlan, desired_energy_var=o.desired_energy_var
        )

        def kernel(rng_key, state, logdensity_fn, inverse_mass_matrix, L, step_size):
            imm = positive_inverse_mass(inverse_mass_matrix)
            return base(rng_key, state, logdensity_fn, imm, L, step_size)

        tune, settle_steps = warmup_split(num_warmup, o.settle_fraction)

        grad_evals = self.evaluations(
            num_warmup=num_warmup, num_samples=num_samples, thinning=thinning, options=o
        )

        def one_chain(origin, key):
            ld, position = about_start(logdensity_fn, origin)
            init_key, tune_key, settle_key, sample_key = jax.random.split(key, 4)
            state = blackjax.mcmc.mclmc.init(position, ld, init_key)
            d = position.shape[-1]
            dt = position.dtype
            if tune > 0:
                start = MCLMCAdaptationState(
                    jnp.sqrt(jnp.asarray(d, dt)),
                    jnp.asarray(o.initial_step_size, dt),
                    inverse_mass_matrix=jnp.ones(d, dt),
                )
                state, params, _ = blackjax.mclmc_find_L_and_step_size(
                    kernel,
                    tune,
                    state,
                    tune_key,
                    logdensity_fn=ld,
                    frac_tune1=o.frac_tune1,
                    frac_tune2=o.frac_tune2,
                    frac_tune3=o.frac_tune3,
                    desired_energy_var=o.desired_energy_var,
                    diagonal_preconditioning=o.diagonal_preconditioning,
                    params=start,
                )
                L, step_size = params.L, params.step_size
                imm = positive_inverse_mass(params.inverse_mass_matrix)
            else:
                L = jnp.sqrt(jnp.asarray(d, dt))
                step_size, imm = 0.25 * L, jnp.ones(d, dt)

            def step(k, s):  # `imm` is positive already: no per-step check
                return base(k, s, ld, imm, L, step_size)

            positions, settle_info, infos, drift = settle_and_sample(
                step, state, settle_key, sample_key, settle_steps, num_samples, thinning
            )
            energy_var = (
                jnp.mean(jnp.square(settle_info.energy_change)) / d if settle_steps else jnp.nan
            )
            info = MCLMCInfo(
                acceptance_rate=jnp.asarray(jnp.nan, dt),
                divergences=jnp.sum(~infos.nonans) + jnp.sum(~settle_info.nonans),
                num_grad_evals=grad_evals,
                step_size=step_size,
                inverse_mass_matrix=jnp.broadcast_to(imm, (d,)),
                L=L,
                settle_drift=drift,
                energy_var=jnp.asarray(energy_var, dt),
            )
            return positions + origin, info

        return jax.vmap(one_chain)(initial_positions, keys)

    def evaluations(self, *, num_warmup, num_samples, thinning, options):
        o = options
        tune, settle_steps = warmup_split(num_warmup, o.settle_fraction)
        steps = _tuning_steps(
            tune, o.frac_tune1, o.frac_tune2, o.frac_tune3, o.diagonal_preconditioning
        )
        # The isokinetic McLachlan integrator evaluates two gradients per step.
        return 1 + 2 * (steps + settle_steps + num_samples * thinning)


def _tuning_steps(n: int, f1: float, f2: float, f3: float, diag: bool) -> int:
    """Integrator steps `mclmc_find_L_and_step_size(num_steps=n)` takes (its own count omits
    the step-size re-adjustment after preconditioning)."""
    if n == 0:
        return 0
    s1, s2, s3 = round(n * f1), round(n * f2), round(n * f3)
    readjust = round(s2 / 3) if (diag and s2 > 1) else 0
    return s1 + s2 + readjust + (s3 if s3 >= 2 else 0)
