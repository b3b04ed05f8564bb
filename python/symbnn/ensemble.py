"""Deep ensembles: independently initialised networks trained on the negative log posterior
(the study's baseline, paper.md §5, and the starts of ensemble-initialised MCMC).

All members train together in one jitted program (`vmap` over members, `lax.scan` over
epochs), the same optimiser loop as `sample(init="ensemble")`.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from .model import MLP
from .sampling import _optimize_starts


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
    from .posterior import Posterior

    if epochs is None:
        epochs = 500 if len(spec.hidden) <= 1 else 1000
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(jnp.arange(num_members))
    starts = jax.vmap(spec.init_position)(keys)
    t0 = time.perf_counter()
    logdensity_fn = spec.logdensity_fn(x, y)
    pos = jax.jit(
        lambda s: _optimize_starts(
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
