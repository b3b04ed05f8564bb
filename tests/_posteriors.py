"""Random posteriors and an independent float64 numpy forward pass, shared by the predictive,
metrics, diagnostics and plot tests."""

from types import SimpleNamespace

import numpy as np

from symbnn import MLP


def random_posterior(
    seed=0, chains=3, draws=4, in_features=1, hidden=(3,), out=1, likelihood="gaussian"
):
    """A posterior of random draws (duck-typed like `symbnn.Posterior`)."""
    rng = np.random.default_rng(seed)
    spec = MLP(in_features, hidden, out, likelihood=likelihood)
    samples = rng.normal(size=(chains, draws, spec.num_params))
    noise = (
        np.exp(rng.normal(-0.3, 0.3, size=(chains, draws))) if likelihood == "gaussian" else None
    )
    return SimpleNamespace(spec=spec, samples=samples, noise_std=noise)


def np_forward(spec, theta, x):
    """`theta (d,)`, `x (n, in)` -> `(n, out)`: the flat layout read by hand, tanh hidden."""
    assert spec.activation == "tanh"
    h, off = np.asarray(x, dtype=np.float64), 0
    layers = list(zip(spec.sizes[:-1], spec.sizes[1:], strict=True))
    for i, (a, b) in enumerate(layers):
        w = theta[off : off + a * b].reshape(a, b)
        off += a * b
        h = h @ w + theta[off : off + b]
        off += b
        if i < len(layers) - 1:
            h = np.tanh(h)
    return h


def np_means(post, x):
    """`(S, n, out)` network outputs for the flattened samples, by `np_forward`."""
    flat = post.samples.reshape(-1, post.samples.shape[-1])
    return np.stack([np_forward(post.spec, t, x) for t in flat])
