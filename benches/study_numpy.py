"""The study's symmetry removal (paper.md §7; Wiese et al. 2023, Algorithms 1–4) in plain numpy
with the dense `(N·M)×(N·M)` similarity matrix, as the baseline for benches/bench_removal.py.

Vectorized where the study looped in Python (votes are one matrix product per round, the
greedy step runs over all samples at once), so it is a fair, not a slowed-down, baseline.
Layers in reverse order; per layer: max-margin hyperplane signs (minibatch subgradient descent,
32 epochs, batch 16, lr 0.1 decaying by 0.8 per epoch, 4 restarts), then the constrained k-NN
vote (standardized neuron vectors, k = 1024, Gaussian similarity σ = 1, 256 rounds, a random
half of the samples adopting new labels each round).
"""

from __future__ import annotations

import numpy as np


def _layer_index(sizes, h):
    """Flat indices `(m, p)` of the neuron vectors `(incoming, bias, outgoing)` of layer `h`."""
    offsets = np.cumsum([0] + [a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True)])
    fi, m, fo = sizes[h], sizes[h + 1], sizes[h + 2]
    w_in = offsets[h] + np.arange(fi)[:, None] * m + np.arange(m)[None, :]  # (fi, m)
    b = offsets[h] + fi * m + np.arange(m)
    w_out = offsets[h + 1] + np.arange(m)[:, None] * fo + np.arange(fo)[None, :]  # (m, fo)
    return np.concatenate([w_in.T, b[:, None], w_out], axis=1)


def _hyperplane(phi, rng, restarts=4, epochs=32, batch=16, lr0=0.1, c=1.0):
    best, best_loss = None, np.inf
    for _ in range(restarts):
        beta = rng.standard_normal(phi.shape[1])
        beta /= np.linalg.norm(beta)
        lr = lr0
        for _ in range(epochs):
            order = rng.permutation(len(phi))
            for b in range(max(1, len(phi) // batch)):
                v = phi[order[b * batch : (b + 1) * batch]]
                margin = v @ beta
                active = (np.abs(margin) < 1) & (margin != 0)
                grad = beta - c * (np.sign(margin[active]) @ v[active])
                beta = beta - lr * grad
            lr *= 0.8
        loss = 0.5 * beta @ beta + c * np.maximum(0, 1 - np.abs(phi @ beta)).sum()
        if loss < best_loss:
            best, best_loss = beta, loss
    return best


def _labels(phi, n, m, rng, k=1024, sigma=1.0, rounds=256):
    z = (phi - phi.mean(0)) / np.where(phi.std(0) > 0, phi.std(0), 1.0)
    sq = np.sum(z**2, 1)
    dist2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0.0)
    np.fill_diagonal(dist2, np.inf)
    k = min(k, len(z) - 1)
    nbrs = np.argpartition(dist2, k - 1, axis=1)[:, :k]
    rows = np.repeat(np.arange(len(z)), k)
    sim = np.zeros_like(dist2)  # the dense (N·M)² matrix
    s = np.exp(-dist2[rows, nbrs.ravel()] / (2 * sigma**2))
    sim[rows, nbrs.ravel()] = s
    sim[nbrs.ravel(), rows] = s
    labels = np.tile(np.arange(m), n)
    eye = np.eye(m)
    for _ in range(rounds):
        votes = (sim @ eye[labels]).reshape(n, m, m)
        total = votes.sum(2, keepdims=True)
        probs = np.divide(votes, total, out=np.zeros_like(votes), where=total > 0)
        new = np.empty((n, m), dtype=np.int64)
        for _ in range(m):  # greedy: most confident (neuron, label) first, never reused
            flat = probs.reshape(n, -1).argmax(1)
            h, lab = np.divmod(flat, m)
            new[np.arange(n), h] = lab
            probs[np.arange(n), h, :] = -1.0
            probs[np.arange(n), :, lab] = -1.0
        half = rng.permutation(n)[: n // 2]
        labels.reshape(n, m)[half] = new[half]
    return labels.reshape(n, m)


def remove_symmetries_study(theta, sizes, *, seed=0, k=1024, rounds=256):
    """`theta` `(N, d)` (tanh MLP) -> symmetry-free copy, by the study's algorithm."""
    rng = np.random.default_rng(seed)
    x = np.array(theta, dtype=np.float64)
    n = len(x)
    for h in reversed(range(len(sizes) - 2)):
        idx = _layer_index(sizes, h)  # (m, p)
        m = idx.shape[0]
        phi = x[:, idx].reshape(n * m, -1)
        beta = _hyperplane(phi, rng)
        sign = np.where(phi @ beta < 0, -1.0, 1.0).reshape(n, m)
        x[:, idx] = x[:, idx] * sign[:, :, None]
        phi = x[:, idx].reshape(n * m, -1)
        labels = _labels(phi, n, m, rng, k=k, rounds=rounds)
        order = np.argsort(labels, axis=1)  # position l gets the neuron labelled l
        x[:, idx] = x[np.arange(n)[:, None, None], idx[order]]
    return x
