"""`hmc`: BlackJAX HMC with a fixed number of leapfrog steps and per-chain window adaptation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp

from .base import Kernel, hmc_family


@dataclass(frozen=True)
class HMCOptions:
    """`hmc`'s options (`sample` keywords, CLI `--option`s), with their defaults."""

    num_integration_steps: int = 16
    target_accept: float = 0.8
    initial_step_size: float = 1.0


class HMCInfo(NamedTuple):
    """`WindowInfo` and the (mean) number of leapfrog steps per trajectory."""

    acceptance_rate: jax.Array
    warmup_acceptance_rate: jax.Array
    divergences: jax.Array
    num_grad_evals: jax.Array
    step_size: jax.Array
    inverse_mass_matrix: jax.Array
    num_integration_steps: jax.Array


class HMC(Kernel):
    """HMC with window adaptation of the step size and diagonal mass matrix, per chain.
    Every chain does the same work per step, so vmapping wastes nothing."""

    name = "hmc"
    Options = HMCOptions

    def run(
        self,
        logdensity_fn: Callable,
        initial_positions: jax.Array,
        keys: jax.Array,
        *,
        num_warmup: int,
        num_samples: int,
        thinning: int,
        options: HMCOptions,
    ) -> tuple[jax.Array, HMCInfo]:
        positions, info = hmc_family(
            blackjax.hmc,
            logdensity_fn,
            initial_positions,
            keys,
            num_warmup=num_warmup,
            num_samples=num_samples,
            thinning=thinning,
            target_accept=options.target_accept,
            initial_step_size=options.initial_step_size,
            num_integration_steps=options.num_integration_steps,
        )
        steps = jnp.full(keys.shape, options.num_integration_steps)
        return positions, HMCInfo(*info, num_integration_steps=steps)

    def evaluations(self, *, num_warmup, num_samples, thinning, options):
        return 1 + options.num_integration_steps * (num_warmup + num_samples * thinning)
