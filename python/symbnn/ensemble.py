"""Deep ensembles: independently initialised networks trained on the negative log posterior
(the study's baseline, paper.md §5, and the starts of ensemble-initialised MCMC).

All members train together in one jitted program: `vmap` over members, `lax.scan` over epochs.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .model import MLP


def optimize_positions(
    spec: MLP,
    x,
    y,
    positions,
    *,
    epochs: int,
    optimizer: optax.GradientTransformation,
) -> tuple[jax.Array, jax.Array]:
    """Full-batch minimisation of the negative log posterior from each start.

    `positions (members, position_size)` -> (optimised positions, final loss per member).
    """
    x, y = jnp.asarray(x), jnp.asarray(y)

    def loss(p):
        return -spec.log_density(p, x, y)

    def train_one(p):
        def step(carry, _):
            p, state = carry
            value, g = jax.value_and_grad(loss)(p)
            updates, state = optimizer.update(g, state, p)
            return (optax.apply_updates(p, updates), state), value

        (p, _), _ = jax.lax.scan(step, (p, optimizer.init(p)), None, length=epochs)
        return p, loss(p)

    return jax.jit(jax.vmap(train_one))(jnp.asarray(positions))


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
    pos, final_loss = optimize_positions(
        spec, x, y, starts, epochs=epochs, optimizer=optax.rmsprop(learning_rate)
    )
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
