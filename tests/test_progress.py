"""Live progress and Ctrl-C: the ticks change no value, count every evaluation, keep the program
cacheable, and an interrupted command stops at once and writes nothing."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import symbnn
from symbnn import _core
from symbnn.sampling import progress

SPEC = symbnn.MLP(1, (3,), 1)
pytestmark = pytest.mark.filterwarnings("ignore::symbnn.ConvergenceWarning")


def _data(n=30):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 1))
    return x, np.sin(x[:, 0]) + 0.1 * rng.normal(size=n)


def _short_run(kernel, init):
    """`sample` keywords of a run that is quick to compile and run, with a few draws."""
    return dict(
        num_chains=4, num_warmup=20, num_samples=3, thinning=2, kernel=kernel, init=init,
        init_options={"num_steps": 30} if init == "ensemble" else None,
    )  # fmt: skip


def test_ticks_count_evaluations_and_change_no_value_or_gradient():
    x, y = _data()
    ld = SPEC.logdensity_fn(x, y)
    positions = jnp.asarray(np.random.default_rng(1).normal(size=(5, SPEC.position_size)))
    grad, ticking_grad = (
        jax.jit(jax.vmap(jax.value_and_grad(f))) for f in (ld, progress.ticking(ld))
    )
    want = grad(positions)
    _core.reset_ticks()
    got = jax.block_until_ready(ticking_grad(positions))
    assert _core.ticks() == 1  # one call for the whole batch of chains
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_run_reports_the_count_and_returns_the_result():
    step = jax.vmap(jax.grad(progress.ticking(lambda p: -jnp.sum(p**2))))
    loop = jax.jit(lambda p: jax.lax.fori_loop(0, 50, lambda i, p: p + 0.01 * step(p), p))
    compiled = loop.lower(jnp.ones((3, 2))).compile()
    seen = []
    out = progress.run(compiled, (jnp.ones((3, 2)),), lambda ticks, steps: seen.append(ticks))
    assert seen[-1] == 50
    np.testing.assert_allclose(np.asarray(out), 0.98**50, rtol=1e-5)


@pytest.mark.parametrize(("kernel", "init"), [("adjusted_mclmc", "ensemble"), ("nuts", "prior")])
def test_progress_changes_no_draw(kernel, init):
    x, y = _data()
    args = _short_run(kernel, init)
    quiet = symbnn.sample(SPEC, x, y, progress=False, **args)
    live = symbnn.sample(SPEC, x, y, progress=True, **args)
    np.testing.assert_array_equal(live.samples, quiet.samples)
    np.testing.assert_array_equal(live.noise_std, quiet.noise_std)


def test_a_ticking_program_goes_to_the_persistent_cache(tmp_path):
    code = (
        "import jax, jax.numpy as jnp\n"
        "from symbnn import enable_compilation_cache\n"
        "from symbnn.sampling import progress\n"
        f"assert enable_compilation_cache({str(tmp_path)!r}, min_compile_seconds=0)\n"
        "f = jax.jit(jax.vmap(jax.grad(progress.ticking(lambda p: -jnp.sum(p ** 2)))))\n"
        "print(f.lower(jnp.ones((2, 3))).as_text().count('symbnn_tick'))\n"
        "f(jnp.ones((2, 3))).block_until_ready()\n"
    )
    env = {"JAX_PLATFORMS": "cpu", "PATH": "", "HOME": str(tmp_path)}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(symbnn.__file__).parents[1])] + sys.path)
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, env=env, timeout=300, capture_output=True
    )
    assert int(out.stdout.split()[-1]) >= 1  # the tick is in the program ...
    assert any(p.is_file() for p in Path(tmp_path).rglob("*"))  # ... and the program cached


def test_ctrl_c_during_compilation_returns_at_once_and_keeps_the_program():
    def slow_to_compile(x):
        for i in range(150):  # unrolled: XLA compiles for seconds
            x = jnp.sin(x) @ x + i
        return x

    lowered = jax.jit(slow_to_compile).lower(jnp.ones((8, 8)))
    kept = []
    threading.Timer(
        0.3, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT)
    ).start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        progress.compile_program(lowered, kept.append)
    assert time.monotonic() - t0 < 0.3 + 2 * progress.POLL_S + 0.5
    assert progress.compiling() and not kept  # still compiling in the background ...
    while progress.compiling():
        time.sleep(0.05)
    assert kept[0](jnp.ones((8, 8))).shape == (8, 8)  # ... and the program is kept


# A long run of a program that compiles fast, and the default's program (seconds to compile).
LONG_RUN = "'--kernel', 'nuts', '--warmup', '0', '--samples', '200000', '--init', 'prior'"
LONG_COMPILE = "'--warmup', '100'"


@pytest.mark.parametrize(("phase", "options"), [("steps=", LONG_RUN), ("compiling", LONG_COMPILE)])
def test_ctrl_c_stops_a_command_at_once_and_writes_nothing(tmp_path, phase, options):
    """Sampling stops at its next tick; a compilation (which XLA cannot stop) is left to
    finish in the background while the command exits."""
    out = tmp_path / "post.npz"
    code = (
        "import sys; from symbnn.cli import main; sys.exit(main(["
        f"'sample', '--dataset', 'sinusoidal', '--chains', '8', {options}, "
        f"'-o', {str(out)!r}]))"
    )
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "SYMBNN_CACHE_DIR": "off"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(symbnn.__file__).parents[1])] + sys.path)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    err = ""
    try:
        while phase not in err:  # compiling, or the chunk is running and ticking
            char = proc.stderr.read(1)
            assert char, f"exited before sampling: {err}"
            err += char
        if phase == "compiling":
            time.sleep(2.5)  # past the tracing (Python, interruptible anyway), into XLA's part
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        rest = proc.communicate(timeout=10)[1]
        waited = time.monotonic() - t0
    finally:
        proc.kill()
    assert proc.returncode == 130, err + rest
    assert waited < 3, waited
    assert "symbnn sample: interrupted" in rest
    assert "Traceback" not in err + rest
    assert not out.exists()


@pytest.mark.parametrize(
    ("kernel", "init"), [("mclmc", "prior"), ("mclmc", "ensemble"), ("hmc", "prior")]
)
def test_fixed_length_kernels_know_the_end_of_the_bar(kernel, init):
    from symbnn.sampling import driver

    x, y = _data()
    args = _short_run(kernel, init)
    plan = driver.make_plan(
        SPEC, x, y, seed=0, chunk_size=None, devices=None, noise_std=None, first_chain=0,
        kernel_options={}, **args,
    )  # fmt: skip
    post = symbnn.sample(SPEC, x, y, progress=True, **args)
    assert driver.planned_evaluations(plan) == _core.ticks()
    # The chains' count holds the optimiser's steps, not its check of where they ended.
    check = 1 if init == "ensemble" else 0
    assert (post.diagnostics["num_grad_evals"] == _core.ticks() - check).all()


@pytest.mark.parametrize(
    ("kernel", "init", "warmup"),
    [
        ("adjusted_mclmc", "ensemble", 20),
        ("adjusted_mclmc", "prior", 37),
        ("nuts", "prior", 20),
        ("nuts", "ensemble", 9),
    ],
)
def test_adaptive_kernels_report_steps_up_to_a_known_end(kernel, init, warmup):
    """Their evaluations depend on the run, their steps do not: every chain reports each
    step (the optimiser's too), and the count meets the bar's end exactly; without a bar
    nothing is reported."""
    from symbnn.sampling import driver

    x, y = _data()
    args = {**_short_run(kernel, init), "num_warmup": warmup}
    plan = driver.make_plan(
        SPEC, x, y, seed=0, chunk_size=None, devices=None, noise_std=None, first_chain=0,
        kernel_options={}, **args,
    )  # fmt: skip
    assert driver.planned_evaluations(plan) is None
    symbnn.sample(SPEC, x, y, progress=True, **args)
    assert _core.steps() == plan.chunk * driver.planned_steps(plan) > 0
    if warmup == 20:  # (a second compilation: once per kernel is enough)
        symbnn.sample(SPEC, x, y, progress=False, **args)
        assert _core.steps() == 0


def test_chees_leaves_the_end_open():
    from symbnn.sampling.kernels import KERNELS

    kernel = KERNELS["chees"]
    options = kernel.make_options({})
    for count in (kernel.evaluations, kernel.steps):
        assert count(num_warmup=10, num_samples=1, thinning=1, options=options) is None
