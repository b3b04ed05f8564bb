"""`chees`: ChEES-HMC, jittered-trajectory HMC adapted across ensembles of consecutive chains."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import blackjax
import jax
import jax.numpy as jnp
import optax

from ..._checks import positive_int
from .base import WARMUP_INFO, Kernel, sample_phase
from .hmc import HMCInfo


@dataclass(frozen=True)
class ChEESOptions:
    """`chees`' options (`sample` keywords, CLI `--option`s), with their defaults."""

    ensemble_size: int = 64
    target_accept: float = 0.651
    initial_step_size: float = 0.1
    learning_rate: float = 0.025
    jitter_amount: float = 1.0
    max_leapfrog_steps: int = 1000
    mass_matrix: str | None = "diagonal"


class ChEES(Kernel):
    """ChEES-HMC (Hoffman, Radul & Sountsov 2021): jittered-trajectory HMC whose step size and
    trajectory length are adapted *across* an ensemble of chains by `blackjax.chees_adaptation`
    (Adam with `learning_rate` on the ChEES criterion; `mass_matrix="diagonal"` also pools a
    diagonal mass matrix over the ensemble, `None` keeps the identity).

    Chains `[k·E, (k+1)·E)` form ensemble `k` (`E = ensemble_size`); `C` must be a multiple of
    `E`. The ensemble's adaptation key comes from its first chain's key, so results do not
    depend on how ensembles are grouped into chunks or spread over devices.
    """

    name = "chees"
    Options = ChEESOptions

    def group(self, options: ChEESOptions) -> int:
        return positive_int(options.ensemble_size, "ensemble_size")

    def run(
        self,
        logdensity_fn: Callable,
        initial_positions: jax.Array,
        keys: jax.Array,
        *,
        num_warmup: int,
        num_samples: int,
        thinning: int,
        options: ChEESOptions,
    ) -> tuple[jax.Array, HMCInfo]:
        c, d = initial_positions.shape
        e = options.ensemble_size
        if c % e:
            raise ValueError(f"chees: {c} chains is not a multiple of ensemble_size={e}")
        mm = None if options.mass_matrix in (None, "identity") else options.mass_matrix

        def one_ensemble(positions, ks):
            warm_key = jax.random.fold_in(ks[0], 1)  # chain keys are split below; this one is not
            chain_keys = jax.vmap(jax.random.split)(ks)[:, 1]
            warmup = blackjax.chees_adaptation(
                logdensity_fn,
                e,
                jitter_amount=options.jitter_amount,
                target_acceptance_rate=options.target_accept,
                max_leapfrog_steps=options.max_leapfrog_steps,
                adaptation_info_fn=WARMUP_INFO,
                mass_matrix_estimation=mm,
            )
            (states, params), winfo = warmup.run(
                warm_key,
                positions,
                options.initial_step_size,
                optax.adam(options.learning_rate),
                num_warmup,
                max_sampling_steps=num_samples * thinning,
            )
            step = blackjax.dynamic_hmc(logdensity_fn, **params).step
            draws, infos = jax.vmap(lambda s, k: sample_phase(step, s, k, num_samples, thinning))(
                states, chain_keys
            )
            w = winfo.info  # leaves (num_warmup, E)
            info = HMCInfo(
                acceptance_rate=jnp.mean(infos.acceptance_rate, axis=(1, 2)),
                warmup_acceptance_rate=jnp.mean(w.acceptance_rate, axis=0),
                divergences=jnp.sum(w.is_divergent, axis=0)
                + jnp.sum(infos.is_divergent, axis=(1, 2)),
                num_grad_evals=1
                + jnp.sum(w.num_integration_steps, axis=0)
                + jnp.sum(infos.num_integration_steps, axis=(1, 2)),
                step_size=jnp.full(e, params["step_size"]),
                inverse_mass_matrix=jnp.broadcast_to(params["inverse_mass_matrix"], (e, d)),
                # The mean number of leapfrog steps (the trajectory length over the step size).
                num_integration_steps=jnp.full(e, params["integration_steps_params"][0]),
            )
            return draws, info

        draws, info = jax.vmap(one_ensemble)(
            initial_positions.reshape(c // e, e, d), keys.reshape(c // e, e)
        )
        return (
            draws.reshape(c, num_samples, d),
            HMCInfo(*(v.reshape(c, *v.shape[2:]) for v in info)),
        )
