"""The log density's gradient for many chains at once: chains-last for narrow networks,
batched matrix products with shared inputs for wide ones.

Samplers see one chain: `position (D,) -> log density`, vmapped over chains. Under `vmap`, each
layer of the per-chain forward pass becomes a batched matrix product, one tiny product per
chain. For narrow layers, such as the study's f1 (1-3-1), a product of an `(n, 1)` by a
`(1, 3)` matrix cannot fill a vector unit, and most of the time goes to the batching. Written
unit by unit instead, every operation is an elementwise one on `(n, chains)` arrays that
vectorises along the chains (`chains_last_log_density`). Wide layers keep their batched
products (`chains_first_log_density`), but the first layer, whose inputs all chains share,
becomes one product of the data with every chain's weights side by side.

Measured on the 2-core CPU, float32, µs per chain and gradient, per-chain vmap against
chains-last, on random data of each shape (120-1,202 rows; 1,274 chains, 64-256 for the
wider ones): 1-3-1 tanh 2.1 against 0.9; 1-3-3-1 7.5 against 1.6; 1-5-1 3.0 against 1.8;
5-3-1 29 against 21; 10-3-1 10.0 against 9.6; 13-3-1 10.4 against 16; 2-8-8-1 12 against
17; 5-16-16-16-1 185 against 542. The crossover lies near 16 weights per layer
(`NARROW_WEIGHTS`); `is_narrow` asks it of every layer. Past it the batched products with the
shared first layer run 1.0-1.5x the per-chain vmap (f1 diabetes 10-3-1 1.5x, f2 1.0-1.3x).
`benches/bench_gradient.py` measures the study's networks on its data sets.

`logdensity_fn` gives the same function as the per-chain one. Only its *batched gradient* is
rerouted: a `custom_jvp` whose rule asks a `custom_vmap`ped value-and-gradient, whose batching
rule computes the whole batch at once. Unbatched calls, values and higher derivatives (the
Laplace baseline's Hessian) use the per-chain function.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap
from jax.custom_derivatives import SymbolicZero

from .._constants import HALF_LOG_2PI, LOG_HALFNORMAL_CONST
from ..errors import ShapeError
from .activations import ACTIVATIONS

#: A layer with at most this many weights is computed elementwise, chains last.
NARROW_WEIGHTS = 16


def is_narrow(sizes) -> bool:
    """Whether every layer of a network with these layer sizes has at most `NARROW_WEIGHTS`."""
    return all(a * b <= NARROW_WEIGHTS for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def _log_prior(sum_sq, d: int, scale: float):
    """The isotropic `N(0, scale²)` prior of `d` weights whose squares sum to `sum_sq`."""
    return -0.5 * sum_sq / scale**2 - d * (math.log(scale) + HALF_LOG_2PI)


def _noise_terms(ls, half_sq, rows, outputs: int):
    """What σ adds for a log σ of `ls`: its half-normal prior (with the Jacobian of log σ) and
    the Gaussian likelihood of `rows` weighted rows of `outputs` targets, given their
    weighted half squared standardized residuals `half_sq`."""
    prior = LOG_HALFNORMAL_CONST - 0.5 * jnp.exp(ls) ** 2 + ls
    return prior - half_sq - rows * outputs * (ls + HALF_LOG_2PI)


def chains_last_log_density(spec, log_sigma: float | None = None) -> Callable:
    """`(positions (P, C), x, y, weights) -> log densities (C,)`, the columns being chains.
    `P` is the position size, or `d` when `log_sigma` fixes the noise (the σ prior term then
    stays in, as in the per-chain function of a known σ). `y`: as `mlp.shaped_targets` gives it;
    `weights`: row weights `(n, 1)`, or `(n, C)` for each chain its own."""
    act = ACTIVATIONS[spec.activation]
    sizes = spec.sizes
    d = spec.num_params
    last = len(sizes) - 2

    def log_density(positions, x, y, weights):
        theta = positions[:d]
        hs = [x[:, i, None] for i in range(sizes[0])]  # one (n, 1) column per input
        off = 0
        for li, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
            w, bias = theta[off : off + a * b], theta[off + a * b : off + a * b + b]
            off += a * b + b
            units = []
            for o in range(b):
                z = bias[o][None, :]
                for i in range(a):
                    z = z + hs[i] * w[i * b + o][None, :]  # row-major (in, out)
                units.append(act(z) if li < last else z)
            hs = units  # (n, C) each
        lp = _log_prior(jnp.sum(theta**2, axis=0), d, spec.prior_scale)
        if spec.likelihood == "categorical":
            logits = jnp.stack(hs)  # (K, n, C)
            lse = jax.nn.logsumexp(logits, axis=0)
            picked = jnp.take_along_axis(logits, y[None, :, None], axis=0)[0]
            return lp + jnp.sum(weights * (picked - lse), axis=0)
        ls = positions[d] if log_sigma is None else jnp.asarray(log_sigma, positions.dtype)
        inv = jnp.exp(-ls)
        sq = sum(((y[:, o, None] - h) * inv) ** 2 for o, h in enumerate(hs))
        half_sq = jnp.sum(weights * 0.5 * sq, axis=0)
        return lp + _noise_terms(ls, half_sq, jnp.sum(weights, axis=0), len(hs))

    return log_density


def chains_first_log_density(spec, log_sigma: float | None = None) -> Callable:
    """`(positions (C, P), x, y, weights) -> log densities (C,)` for wide layers: one batched
    matrix product per layer, the first one a single product of the shared inputs with every
    chain's weights side by side (`(n, in) x (in, C·out)`) instead of `C` small ones.
    `weights`: `(n, 1)`, or `(n, C)` for each chain its own rows; the rest as
    `chains_last_log_density`."""
    act = ACTIVATIONS[spec.activation]
    sizes = spec.sizes
    d = spec.num_params
    last = len(sizes) - 2

    def log_density(positions, x, y, weights):
        chains = positions.shape[0]
        theta = positions[:, :d]
        off = 0
        h = x
        for li, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
            w = theta[:, off : off + a * b].reshape(chains, a, b)  # row-major (in, out)
            bias = theta[:, off + a * b : off + a * b + b]
            off += a * b + b
            spec_in = "ni,cio->cno" if li == 0 else "cni,cio->cno"
            z = jnp.einsum(spec_in, h, w) + bias[:, None, :]
            h = act(z) if li < last else z  # (C, n, out)
        wt = weights.T  # (1 or C, n)
        lp = _log_prior(jnp.sum(theta**2, axis=1), d, spec.prior_scale)
        if spec.likelihood == "categorical":
            lse = jax.nn.logsumexp(h, axis=-1)
            picked = jnp.take_along_axis(h, y[None, :, None], axis=-1)[..., 0]
            return lp + jnp.sum(wt * (picked - lse), axis=1)
        ls = positions[:, d] if log_sigma is None else jnp.asarray(log_sigma, positions.dtype)
        inv = jnp.exp(-ls)
        sq = jnp.sum(((y[None] - h) * jnp.reshape(inv, (-1, 1, 1))) ** 2, axis=-1)  # (C, n)
        half_sq = jnp.sum(wt * 0.5 * sq, axis=1)
        return lp + _noise_terms(ls, half_sq, jnp.sum(wt, axis=1), sizes[-1])

    return log_density


def batched_gradient(
    per_chain: Callable, batched: Callable, x, y, weights, *, chains_last: bool = True
) -> Callable:
    """`position -> per_chain(position, x, y, weights)` whose vmapped gradient comes from
    `batched`, the same function on all chains at once: on columns `(D, C)` if
    `chains_last`, on rows `(C, D)` otherwise. The data are explicit arguments:
    row weights batched with the chains (each chain's own rows, as the starts' held-out split
    gives) go chains-last too; data batched with the chains fall back to the per-chain
    function."""

    def plain_value_and_grad(position, x, y, weights):
        return jax.value_and_grad(per_chain)(position, x, y, weights)

    @custom_vmap
    def value_and_grad_cv(position, x, y, weights):
        return plain_value_and_grad(position, x, y, weights)

    @value_and_grad_cv.def_vmap
    def _batched(axis_size, in_batched, position, x, y, weights):
        batched_position, batched_x, batched_y, batched_weights = in_batched
        if batched_x or batched_y or not batched_position:
            axes = tuple(0 if b else None for b in in_batched)
            out = jax.vmap(plain_value_and_grad, in_axes=axes, axis_size=axis_size)
            return out(position, x, y, weights), (True, True)
        w = weights.T if batched_weights else weights[:, None]
        layout = (lambda a: a.T) if chains_last else (lambda a: a)
        value, pull = jax.vjp(lambda p: batched(p, x, y, w), layout(position))
        (grad,) = pull(jnp.ones_like(value))
        return (value.astype(position.dtype), layout(grad)), (True, True)

    @jax.custom_jvp
    def value_and_grad(position, x, y, weights):
        return value_and_grad_cv(position, x, y, weights)

    @value_and_grad.defjvp
    def _second_order(primals, tangents):  # Hessians: differentiate the per-chain gradient
        return jax.jvp(plain_value_and_grad, primals, tangents)

    @jax.custom_jvp
    def log_density(position, x, y, weights):
        return per_chain(position, x, y, weights)

    def _first_order(primals, tangents):
        if any(type(t) is not SymbolicZero for t in tangents[1:]):  # a derivative in the data
            dense = [t.instantiate() if type(t) is SymbolicZero else t for t in tangents]
            return jax.jvp(per_chain, primals, tuple(dense))
        value, grad = value_and_grad(*primals)
        if type(tangents[0]) is SymbolicZero:
            return value, jnp.zeros_like(value)
        return value, jnp.dot(grad, tangents[0])

    log_density.defjvp(_first_order, symbolic_zeros=True)
    return lambda position: log_density(position, x, y, weights)


def logdensity_fn(
    spec, x, y, per_chain: Callable, log_sigma: float | None = None, weights=None
) -> Callable:
    """`position -> per_chain(position, x, y, weights)` with its batched gradient computed
    for all chains at once: chains-last for a narrow network (`is_narrow`), with batched
    matrix products otherwise (`chains_first_log_density`)."""

    def plain(position):  # raises any shape error where it is called
        return per_chain(position, x, y, weights)

    if x.ndim != 2 or x.shape[1] != spec.in_features:
        return plain
    from .mlp import shaped_targets  # mlp imports this module

    try:
        y = shaped_targets(spec, y, x.shape[0])
    except ShapeError:
        return plain
    w = jnp.ones(x.shape[0], x.dtype) if weights is None else jnp.asarray(weights, x.dtype)
    if is_narrow(spec.sizes):
        return batched_gradient(per_chain, chains_last_log_density(spec, log_sigma), x, y, w)
    batched = chains_first_log_density(spec, log_sigma)
    return batched_gradient(per_chain, batched, x, y, w, chains_last=False)
