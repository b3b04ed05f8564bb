"""The study's baselines (paper.md §5 and §8), each returned as a `Posterior` so that every
predictive metric applies unchanged:

- `deep_ensemble`: independently initialised networks trained on the negative log posterior,
  all members in one jitted program (`vmap` over members, `lax.scan` over epochs), the same
  optimiser loop as `sample(init="ensemble")`'s starts;
- `laplace`: a Gaussian at a mode with the inverse Hessian of the negative log posterior as its
  covariance, over the whole network (at these sizes the full Hessian is cheap: d ≤ ~1000).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from ..model import MLP
from ..sampling.starts import optimize_starts


def deep_ensemble(
    spec: MLP,
    x,
    y,
    *,
    num_members: int = 10,
    epochs: int | None = None,
    learning_rate: float = 1e-4,
    seed: int = 0,
):
    """Train `num_members` networks with RMSProp (the study's settings: lr 1e-4, full batch,
    500 epochs for one hidden layer, 1000 for deeper nets) from prior draws, and return them as
    a `Posterior` with one draw per member, so every predictive metric applies unchanged."""
    from ..sampling.posterior import Posterior

    if epochs is None:
        epochs = 500 if len(spec.hidden) <= 1 else 1000
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(jnp.arange(num_members))
    starts = jax.vmap(spec.init_position)(keys)
    t0 = time.perf_counter()
    logdensity_fn = spec.logdensity_fn(x, y)
    pos = jax.jit(
        lambda s: optimize_starts(
            logdensity_fn, s, optimizer="rmsprop", learning_rate=learning_rate, num_steps=epochs
        )
    )(starts)
    final_loss = -jax.vmap(logdensity_fn)(pos)
    pos = np.asarray(jax.block_until_ready(pos))
    elapsed = time.perf_counter() - t0
    theta, log_sigma = spec.split_position(pos)
    return Posterior(
        spec=spec,
        samples=theta[:, None, :],
        noise_std=None if log_sigma is None else np.exp(log_sigma)[:, None],
        diagnostics={
            "final_loss": np.asarray(final_loss),
            "finite": np.all(np.isfinite(pos), axis=-1),
        },
        timings={"total_s": elapsed},
        settings={
            "method": "deep_ensemble",
            "num_members": num_members,
            "epochs": epochs,
            "learning_rate": learning_rate,
            "optimizer": "rmsprop",
            "seed": seed,
        },
    )


def laplace(spec, x, y, mode, *, num_draws: int, seed: int = 0):
    """Full Laplace approximation at `mode` (a position, `log σ` included): draws from
    `N(mode, H⁻¹)` with `H` the Hessian of the negative log posterior, returned as a
    `Posterior` with one draw per chain. Negative curvature (a mode not reached by the
    optimiser) is clipped to the prior's precision, the usual fix; `diagnostics` record how many
    eigenvalues needed it."""
    from ..sampling.posterior import Posterior

    ld = spec.logdensity_fn(x, y)
    mode = jnp.asarray(mode)
    h = -np.asarray(jax.hessian(ld)(mode), dtype=np.float64)
    h = 0.5 * (h + h.T)
    evals, evecs = np.linalg.eigh(h)
    floor = 1.0 / spec.prior_scale**2
    clipped = int(np.sum(evals < floor))
    evals = np.maximum(evals, floor)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((num_draws, len(evals)))
    draws = np.asarray(mode, np.float64) + (z / np.sqrt(evals)) @ evecs.T
    theta, log_sigma = spec.split_position(draws)
    return Posterior(
        spec=spec,
        samples=np.asarray(theta)[:, None, :],
        noise_std=None if log_sigma is None else np.exp(np.asarray(log_sigma))[:, None],
        diagnostics={"clipped_eigenvalues": np.full(num_draws, clipped)},
        timings={},
        settings={"method": "laplace", "num_draws": num_draws, "seed": seed},
    )
