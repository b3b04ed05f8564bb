"""Planted multi-modal "posteriors" for tests and benchmarks: a few known networks (the modes),
each sample a noisy copy of one of them, hidden behind a random permutation and (for odd
activations) random sign flips in every hidden layer. The ground truth is known, so removal
and mode finding can be checked against it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def plant_modes(
    spec,
    weights: Sequence[float],
    num_samples: int,
    *,
    noise: float = 0.02,
    scale: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Samples from `len(weights)` planted modes.

    Returns `(theta (num_samples, d), modes (num_samples,) int, centers (K, d))`: sample `i`
    is `centers[modes[i]] + noise·N(0, I)` moved by a random element of the network's discrete
    symmetry group. Centers are `scale·N(0, I)`. Mode counts are exact (`round(w·N)`, the
    remainder to the heaviest), in shuffled order.
    """
    rng = np.random.default_rng(seed)
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    counts = np.floor(w * num_samples).astype(np.int64)
    counts[np.argmax(w)] += num_samples - counts.sum()
    modes = rng.permutation(np.repeat(np.arange(len(w)), counts))
    d = spec.num_params
    centers = scale * rng.standard_normal((len(w), d))
    theta = centers[modes] + noise * rng.standard_normal((num_samples, d))
    return scramble(spec, theta, rng), modes, centers


def scramble(spec, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Apply an independent random permutation (and sign flips, for odd activations) to every
    hidden layer of every sample of `theta` `(n, d)`; each function is unchanged."""
    layers = [(w.copy(), b.copy()) for w, b in spec.unflatten(np.asarray(theta))]
    n = theta.shape[0]
    flip = spec.symmetries.sign_flip
    for h in range(len(layers) - 1):
        m = layers[h][1].shape[-1]
        perm = np.argsort(rng.random((n, m)), axis=1)
        sign = np.where(rng.random((n, m)) < 0.5, -1.0, 1.0) if flip else np.ones((n, m))
        w_in, b = layers[h]
        w_out, b_next = layers[h + 1]
        rows = np.arange(n)[:, None]
        w_in = np.take_along_axis(w_in, perm[:, None, :], axis=2) * sign[:, None, :]
        b = b[rows, perm] * sign
        w_out = w_out[rows, perm, :] * sign[:, :, None]
        layers[h] = (w_in, b)
        layers[h + 1] = (w_out, b_next)
    return np.asarray(spec.flatten(layers))
