"""The flat parameter layout, its one owner on the Python side (the Rust core's is
`rust/model/layout.rs`; files, JAX and Rust all use this order).

For each layer `l` in order: its weight matrix of shape `(fan_in, fan_out)` in row-major order,
then its bias `(fan_out,)`. For regression a sampler's *position* is this vector followed by
`log σ`. Every function here takes the layer sizes `(in, hidden..., out)` and works on numpy or
JAX arrays with any leading axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class Layer(NamedTuple):
    """Layer `index` (from 0) of the flat vector: weights `theta[weight]` reshaped to
    `(fan_in, fan_out)`, bias `theta[bias]`."""

    index: int
    fan_in: int
    fan_out: int
    weight: slice
    bias: slice


def layers(sizes: Sequence[int]) -> tuple[Layer, ...]:
    out, off = [], 0
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        out.append(Layer(i, a, b, slice(off, off + a * b), slice(off + a * b, off + a * b + b)))
        off += a * b + b
    return tuple(out)


def num_params(sizes: Sequence[int]) -> int:
    """`d`, the length of the flat network vector."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def unflatten(theta, sizes: Sequence[int]) -> list[tuple]:
    """`(..., ≥d)` -> `[(W_l (..., fan_in, fan_out), b_l (..., fan_out)), ...]`; entries past
    `d` (a `log σ`) are ignored."""
    lead = theta.shape[:-1]
    return [
        (theta[..., lay.weight].reshape(*lead, lay.fan_in, lay.fan_out), theta[..., lay.bias])
        for lay in layers(sizes)
    ]


def flatten(weights_and_biases: Sequence[tuple], xp=np):
    """Inverse of `unflatten` (`xp`: numpy or jax.numpy)."""
    parts = []
    for w, b in weights_and_biases:
        parts += [w.reshape(*w.shape[:-2], w.shape[-2] * w.shape[-1]), b]
    return xp.concatenate(parts, axis=-1)


def param_names(sizes: Sequence[int], log_sigma: bool = False) -> list[str]:
    """`w1[0,2]` (layer from 1, input row, neuron column), `b1[2]`, ... in the flat order, then
    `log σ` if asked: the labels of plots and ArviZ coordinates."""
    names = []
    for lay in layers(sizes):
        names += [
            f"w{lay.index + 1}[{i},{j}]" for i in range(lay.fan_in) for j in range(lay.fan_out)
        ]
        names += [f"b{lay.index + 1}[{j}]" for j in range(lay.fan_out)]
    return names + (["log σ"] if log_sigma else [])


def fan_in_scale(sizes: Sequence[int]) -> np.ndarray:
    """`(d,)` factors that turn a standard-normal draw into a LeCun-normal network: weights
    with standard deviation `1/√fan_in`, biases zero."""
    parts = []
    for lay in layers(sizes):
        parts += [np.full(lay.fan_in * lay.fan_out, lay.fan_in**-0.5), np.zeros(lay.fan_out)]
    return np.concatenate(parts)
