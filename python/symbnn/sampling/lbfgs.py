"""L-BFGS that costs one gradient per iteration, for many starts at once under `vmap`.

Each iteration evaluates the objective and its gradient at one trial point `x + t d` (`d` the
L-BFGS direction): the trial is taken if it decreases the objective enough (Armijo's rule),
and otherwise the step `t` shrinks for the next iteration from the same point. A line search
that loops until it succeeds (optax's zoom or backtracking searches) runs in lockstep under
`vmap`, every start waiting for the slowest, and its branches become selects that evaluate
both sides: measured on airfoil f2 (32 starts, 1,000 iterations), optax's `lbfgs` took 27 s
where this takes 7 s for the same fit.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

ARMIJO = 1e-4  # sufficient decrease: f(x + t d) <= f(x) + ARMIJO t <g, d>
GROW, SHRINK = 4.0, 0.25  # the step after an accepted / a rejected trial
FIRST_MOVE = 1e-2  # the first trial moves the coordinate of largest gradient this far


class State(NamedTuple):
    x: jax.Array  # the current point
    value: jax.Array  # objective at x
    grad: jax.Array  # its gradient
    direction: jax.Array  # the search direction from x
    step: jax.Array  # the next trial's step along it
    s: jax.Array  # (memory, D): accepted moves
    y: jax.Array  # (memory, D): the gradients' changes over them
    stored: jax.Array  # (memory,): which slots hold a pair
    scale: jax.Array  # s.y / y.y of the newest pair, the initial inverse Hessian's scale
    iteration: jax.Array  # the same for every start: slots turn over with it, so that
    # under `vmap` the memory is indexed by one number, not gathered per start


def blank(x: jax.Array, memory: int) -> State:
    """A state of the right shapes, nothing evaluated (a placeholder until `init`)."""
    zeros = jnp.zeros((memory, x.shape[0]), x.dtype)
    nothing = jnp.zeros((), x.dtype)
    return State(
        x, nothing, jnp.zeros_like(x), jnp.zeros_like(x), nothing, zeros, zeros,
        jnp.zeros(memory, bool), jnp.ones((), x.dtype), jnp.int32(0),
    )  # fmt: skip


def init(value_and_grad, x: jax.Array, memory: int) -> State:
    """The start at `x`: one evaluation, the first trial along `-grad`."""
    value, grad = value_and_grad(x)
    step = FIRST_MOVE / (jnp.max(jnp.abs(grad)) + jnp.finfo(x.dtype).tiny)
    return blank(x, memory)._replace(
        value=value, grad=grad, direction=-grad, step=step.astype(x.dtype)
    )


def _direction(grad, s, y, stored, scale, newest):
    """-H grad by the two-loop recursion over the stored pairs, newest (slot) first."""
    memory = s.shape[0]
    order = (newest - jnp.arange(memory)) % memory
    valid = stored[order]
    rho = 1.0 / jnp.where(valid, jnp.sum(s * y, -1)[order], 1.0)

    def newest_first(q, i):
        j, ok, r = i
        a = jnp.where(ok, r * jnp.dot(s[j], q), 0.0)
        return q - a * y[j], a

    q, alpha = jax.lax.scan(newest_first, grad, (order, valid, rho))

    def oldest_first(r, i):
        j, ok, rj, a = i
        b = rj * jnp.dot(y[j], r)
        return r + jnp.where(ok, a - b, 0.0) * s[j], None

    r, _ = jax.lax.scan(oldest_first, scale * q, (order, valid, rho, alpha), reverse=True)
    return -r


def step(value_and_grad, state: State) -> State:
    """One trial point, one gradient."""
    trial = state.x + state.step * state.direction
    value, grad = value_and_grad(trial)
    slope = jnp.dot(state.grad, state.direction)
    accept = jnp.isfinite(value) & (value <= state.value + ARMIJO * state.step * slope)
    move, change = trial - state.x, grad - state.grad
    sy, yy = jnp.dot(move, change), jnp.dot(change, change)
    # a pair with no positive curvature would make the inverse Hessian indefinite
    store = accept & (sy > 1e-10 * yy)
    slot = state.iteration % state.s.shape[0]
    s = state.s.at[slot].set(jnp.where(store, move, state.s[slot]))  # one row, in place
    y = state.y.at[slot].set(jnp.where(store, change, state.y[slot]))
    stored = state.stored.at[slot].set(store)
    scale = jnp.where(store, sy / jnp.where(store, yy, 1.0), state.scale)
    x = jnp.where(accept, trial, state.x)
    value = jnp.where(accept, value, state.value)
    grad = jnp.where(accept, grad, state.grad)
    direction = _direction(grad, s, y, stored, scale, slot)
    direction = jnp.where(jnp.dot(direction, grad) < 0, direction, -grad)  # stay downhill
    direction = jnp.where(accept, direction, state.direction)
    # with curvature pairs stored the direction's natural step is 1
    grown = state.step * GROW
    grown = jnp.where(jnp.any(stored), jnp.minimum(grown, 1.0), grown)
    next_step = jnp.where(accept, grown, state.step * SHRINK)
    return State(x, value, grad, direction, next_step, s, y, stored, scale, state.iteration + 1)
