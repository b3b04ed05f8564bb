"""The starts' L-BFGS: one gradient per iteration, the minimum of convex and curved problems,
and every start of a vmapped batch on its own."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symbnn.sampling import lbfgs


def minimise(f, x0, iterations, memory=10):
    calls = []

    def value_and_grad(x):
        calls.append(1)  # counted while tracing: the calls the compiled step makes
        return jax.value_and_grad(f)(x)

    def run(x):
        state = lbfgs.init(value_and_grad, x, memory)
        return jax.lax.scan(lambda s, _: (lbfgs.step(value_and_grad, s), None), state, None,
                            length=iterations)[0]  # fmt: skip

    state = jax.jit(jax.vmap(run))(x0)
    return state, len(calls)


def test_one_gradient_per_iteration_and_the_minimum_of_an_ill_conditioned_quadratic():
    # Condition number 10^4: gradient descent would need ~10^5 steps to get within 1e-6;
    # SciPy's L-BFGS-B (memory 10) needs 238-265 iterations from these starts, this 151-224.
    scales = jnp.logspace(0, 4, 10)
    target = jnp.linspace(-1, 1, 10)

    def f(x):
        return 0.5 * jnp.sum(scales * (x - target) ** 2)

    x0 = jax.random.normal(jax.random.PRNGKey(0), (3, 10))
    state, calls = minimise(f, x0, 400)
    assert calls == 2  # traced once in `init`, once in `step`: one gradient per iteration
    np.testing.assert_allclose(state.x, np.broadcast_to(target, (3, 10)), atol=1e-6)


def test_rosenbrock_from_several_starts_each_on_its_own():
    def rosenbrock(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    # (4-D Rosenbrock has a second minimum near (-0.78, 0.61, 0.38, 0.15); the first start
    # ends there, as it should: the method is local)
    x0 = jnp.array([[-1.2, 1.0, -0.5, 0.3], [0.0, 0.0, 0.0, 0.0], [2.0, -1.0, 1.5, 2.0]])
    state, _ = minimise(rosenbrock, x0, 600)
    np.testing.assert_allclose(state.x[1:], np.ones((2, 4)), atol=1e-5)
    np.testing.assert_allclose(state.x[0], [-0.7757, 0.6132, 0.3820, 0.1459], atol=1e-3)
    assert np.max(np.abs(np.asarray(state.grad))) < 1e-6
    # a batch of one gives the same iterates: the starts do not share steps or memory
    alone, _ = minimise(rosenbrock, x0[1:2], 600)
    np.testing.assert_allclose(alone.x[0], state.x[1], rtol=1e-12)


def test_a_non_finite_trial_is_rejected_and_the_step_shrinks():
    # log barrier: the first trial leaves the domain (x > 0) and must not be taken
    def f(x):
        return jnp.sum(x - jnp.log(x))

    x0 = jnp.full((1, 2), 0.05)
    state = lbfgs.init(jax.value_and_grad(f), x0[0], 5)
    state = state._replace(step=jnp.asarray(10.0, state.x.dtype))  # a trial far too long
    after = lbfgs.step(jax.value_and_grad(f), state)
    np.testing.assert_array_equal(after.x, state.x)
    assert after.step == pytest.approx(10.0 * lbfgs.SHRINK)
    final, _ = minimise(f, x0, 200, memory=5)
    np.testing.assert_allclose(final.x, np.ones((1, 2)), atol=1e-8)
