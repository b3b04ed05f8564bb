"""The Laplace approximation, the study's local baseline (paper.md §5 and §8): a Gaussian
at a mode of the posterior with the inverse Hessian of the negative log posterior as its
covariance, over the whole network (at these sizes the full Hessian is cheap: d ≤ ~1000).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def laplace(spec, x, y, mode, *, num_draws: int, seed: int = 0):
    """Full Laplace approximation at `mode` (a position, `log σ` included): draws from
    `N(mode, H⁻¹)` with `H` the Hessian of the negative log posterior, returned as a
    `Posterior` with one draw per chain. Negative curvature (a mode not reached by the
    optimiser) is clipped to the prior's precision, the usual fix; `diagnostics` record how many
    eigenvalues needed it."""
    from .posterior import Posterior

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


__all__ = ["laplace"]
