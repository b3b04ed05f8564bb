"""Live progress from inside a running chunk program, and a Ctrl-C that stops it.

Why: a chunk is one XLA program that may run for minutes. The thread that launched it sees
neither its progress nor a Ctrl-C until it returns, so without help the bar jumps once at the
end and an interrupted run goes on until the chunk is done.

How: `ticking(logdensity_fn)` makes every (batched) evaluation of the log density call an XLA
FFI custom call whose handler lives in the Rust extension (`rust/progress.rs`): it adds one to a
counter and returns zeros, which the log density's value passes through unchanged (so the call
stays in the program, and the draws are the same with or without it). A custom call is an
ordinary instruction, so the program still goes to JAX's persistent compilation cache, which
refuses programs with Python host callbacks. `run(compiled, args, on_tick)` runs the program on a
worker thread while this thread polls the counter; on Ctrl-C it asks the handler to fail its
next call with XLA's CANCELLED error, which ends the program, and raises KeyboardInterrupt.

Kernels whose evaluations per step are not fixed (adapted trajectory lengths, NUTS's trees)
also report their steps: `report_steps(count)` calls a second handler that adds up how many
chains finished a step (`_core.steps()`). Steps per chain are fixed by the run's settings,
so the bar has a known end for them too. The driver turns the reports on while it traces a
program (`reporting`); otherwise `report_steps` adds nothing to the program.

CPU only: on an accelerator a host handler cannot write the custom call's device result, and
the runs are short; there the bar advances per chunk.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from contextlib import contextmanager

import jax
import jax.numpy as jnp

from .. import _core

TARGET = "symbnn_tick"
STEP_TARGET = "symbnn_advance"
#: Seconds between two looks at the counter (and the longest wait for Ctrl-C to be seen).
POLL_S = 0.1
_registered = False
_reporting = False  # whether the program being traced reports its steps (`reporting`)


def available(platform: str) -> bool:
    """Whether programs on `platform` can tick."""
    return platform == "cpu"


def _register() -> None:
    global _registered
    if not _registered:
        for name, address in (
            (TARGET, _core.tick_handler_address()),
            (STEP_TARGET, _core.advance_handler_address()),
        ):
            jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(address), platform="cpu")
        _registered = True


def _tick(position) -> jax.Array:
    """Zeros from the handler, one call per (batched) evaluation; no gradient flows."""
    _register()
    call = jax.ffi.ffi_call(
        TARGET, jax.ShapeDtypeStruct((), jnp.int32), vmap_method="broadcast_all"
    )
    return call(jax.lax.stop_gradient(position[..., 0]))


def ticking(logdensity_fn: Callable) -> Callable:
    """`logdensity_fn` with a tick per evaluation; its values and gradients are unchanged."""

    def ld(position):
        value = logdensity_fn(position)
        # The tick returns 0: the comparison keeps the call in the program, XLA cannot know.
        return jnp.where(_tick(position) == 1, jnp.nan, value)

    return ld


@contextmanager
def reporting(enabled: bool = True):
    """While tracing inside this block, `report_steps` puts its report into the program."""
    global _reporting
    before, _reporting = _reporting, enabled
    try:
        yield
    finally:
        _reporting = before


def report_steps(count) -> None:
    """Report that `count` chains finished a step (an int array, summed): in a vmapped
    per-chain step `one_per_chain(value)` of any of the chain's arrays, in a batched engine
    the mask of the chains that finished. A side effect only: nothing depends on it, and
    it stops the program, as a tick does, after a Ctrl-C. A no-op outside `reporting`."""
    if not _reporting:
        return
    _register()
    call = jax.ffi.ffi_call(
        STEP_TARGET,
        jax.ShapeDtypeStruct((), jnp.int32),
        vmap_method="broadcast_all",
        has_side_effect=True,
    )
    call(jnp.asarray(count, jnp.int32))


def one_per_chain(value) -> jax.Array:
    """`1` as an int32 that carries `value`'s vmap batch (a constant would not, and a
    vmapped step would then report one step for all its chains)."""
    value = jnp.asarray(value)
    return jnp.where(jnp.isnan(value.ravel()[0]), 1, 1).astype(jnp.int32)


def run(compiled: Callable, args, on_tick: Callable[[int, int], None] | None = None):
    """`compiled(*args)`, finished, reporting the tick and step counts to
    `on_tick(ticks, steps)` every `POLL_S` seconds. Ctrl-C stops the program at its next
    tick (or step report) and raises KeyboardInterrupt once it has ended (a program left
    running would crash the interpreter at exit)."""
    _core.reset_ticks()
    poll = (lambda: on_tick(_core.ticks(), _core.steps())) if on_tick is not None else None
    try:
        out = _on_worker(lambda: jax.block_until_ready(compiled(*args)), "symbnn-chunk", poll)
    except KeyboardInterrupt as stop:
        _core.request_stop()
        while not stop.finished.wait(POLL_S):
            pass
        _core.reset_ticks()
        raise KeyboardInterrupt from None
    if poll is not None:
        poll()
    return out


#: Compilations still going on after a Ctrl-C (their `finished` events).
_orphans: list[threading.Event] = []


def compile_program(lowered, on_done: Callable | None = None):
    """`lowered.compile()`, with Ctrl-C seen within `POLL_S` seconds. XLA cannot stop a
    compilation, so it goes on in the background (`on_done(compiled)` still receives it, so
    that a repeated call can reuse it) and KeyboardInterrupt is raised at once. The
    interpreter waits for such a compilation before it exits (XLA aborts the process when it
    is torn down mid-compilation); `compiling()` tells a command that wants to leave at once."""

    def work():
        compiled = lowered.compile()
        if on_done is not None:
            on_done(compiled)
        return compiled

    try:
        return _on_worker(work, "symbnn-compile")
    except KeyboardInterrupt as stop:
        if not _orphans:
            atexit.register(lambda: [e.wait() for e in _orphans])
        _orphans.append(stop.finished)
        raise KeyboardInterrupt from None


def compiling() -> bool:
    """Whether a compilation abandoned by Ctrl-C is still running."""
    return not all(e.is_set() for e in _orphans)


def _on_worker(fn: Callable, name: str, poll: Callable | None = None):
    """`fn()` on a daemon thread while this thread waits for it, calling `poll()` every
    `POLL_S` seconds, so that Ctrl-C reaches this thread at once. On Ctrl-C the
    KeyboardInterrupt carries the worker's `finished` event (the worker goes on)."""
    result: dict = {}
    # An Event, not Thread.join: after a join interrupted by Ctrl-C, a later join returned at
    # once with the thread still running (Python 3.11), and the interpreter then aborted.
    finished = threading.Event()

    def work():
        try:
            result["out"] = fn()
        except BaseException as e:  # re-raised on the calling thread
            result["error"] = e
        finally:
            finished.set()

    threading.Thread(target=work, name=name, daemon=True).start()
    try:
        while not finished.wait(POLL_S):
            if poll is not None:
                poll()
    except KeyboardInterrupt as stop:
        stop.finished = finished
        raise
    if "error" in result:
        raise result["error"]
    return result["out"]
