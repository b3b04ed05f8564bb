"""The activation table, in one place: each name's function in JAX (the model's) and in numpy
float64 (checks outside a JAX program, e.g. that canonicalization kept a network's outputs).
The symmetry group of each name comes from the Rust core (`model.mlp.SYMMETRIES`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import MappingProxyType

import jax
import jax.numpy as jnp
import numpy as np

from . import layout

LEAKY_RELU_SLOPE = 0.01


def _numpy_gelu(z):
    from scipy.special import erf  # scipy comes with jax

    return 0.5 * z * (1.0 + erf(z / np.sqrt(2.0)))


#: Activation name -> elementwise function (jnp). gelu is the exact (erf) form.
ACTIVATIONS: MappingProxyType[str, Callable[[jax.Array], jax.Array]] = MappingProxyType(
    {
        "tanh": jnp.tanh,
        "relu": jax.nn.relu,
        "leaky_relu": lambda z: jax.nn.leaky_relu(z, LEAKY_RELU_SLOPE),
        "sigmoid": jax.nn.sigmoid,
        "sin": jnp.sin,
        "gelu": lambda z: jax.nn.gelu(z, approximate=False),
        "silu": jax.nn.silu,
        "identity": lambda z: z,
    }
)

#: The same functions on numpy arrays (same names, same formulas).
NUMPY_ACTIVATIONS: MappingProxyType[str, Callable[[np.ndarray], np.ndarray]] = MappingProxyType(
    {
        "tanh": np.tanh,
        "relu": lambda z: np.maximum(z, 0.0),
        "leaky_relu": lambda z: np.where(z > 0, z, LEAKY_RELU_SLOPE * z),
        "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
        "sin": np.sin,
        "gelu": _numpy_gelu,
        "silu": lambda z: z / (1.0 + np.exp(-z)),
        "identity": lambda z: z,
    }
)


def numpy_forward(theta: np.ndarray, sizes: Sequence[int], activation: str, x: np.ndarray):
    """The network's outputs in numpy: `theta (..., ≥d)`, `x (p, in)` -> `(..., p, out)`."""
    act = NUMPY_ACTIVATIONS[activation]
    wb = layout.unflatten(theta, sizes)
    h = x
    for i, (w, b) in enumerate(wb):
        h = h @ w + b[..., None, :]
        if i < len(wb) - 1:
            h = act(h)
    return h
