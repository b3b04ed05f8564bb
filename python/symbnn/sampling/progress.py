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

CPU only: on an accelerator a host handler cannot write the custom call's device result, and
the runs are short; there the bar advances per chunk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import jax
import jax.numpy as jnp

from .. import _core

TARGET = "symbnn_tick"
#: Seconds between two looks at the counter (and the longest wait for Ctrl-C to be seen).
POLL_S = 0.1
_registered = False


def available(platform: str) -> bool:
    """Whether programs on `platform` can tick."""
    return platform == "cpu"


def _register() -> None:
    global _registered
    if not _registered:
        capsule = jax.ffi.pycapsule(_core.tick_handler_address())
        jax.ffi.register_ffi_target(TARGET, capsule, platform="cpu")
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


def run(compiled: Callable, args, on_tick: Callable[[int], None] | None = None):
    """`compiled(*args)`, finished, reporting the tick count to `on_tick(ticks)` every
    `POLL_S` seconds. Ctrl-C stops the program at its next tick and raises KeyboardInterrupt
    once it has ended (a program left running would crash the interpreter at exit)."""
    result: dict = {}
    # An Event, not Thread.join: after a join interrupted by Ctrl-C, a later join returned at
    # once with the thread still running (Python 3.11), and the interpreter then aborted.
    finished = threading.Event()

    def work():
        try:
            result["out"] = jax.block_until_ready(compiled(*args))
        except BaseException as e:  # re-raised on the calling thread
            result["error"] = e
        finally:
            finished.set()

    _core.reset_ticks()
    threading.Thread(target=work, name="symbnn-chunk", daemon=True).start()
    try:
        while not finished.wait(POLL_S):
            if on_tick is not None:
                on_tick(_core.ticks())
    except KeyboardInterrupt:
        _core.request_stop()
        while not finished.wait(POLL_S):
            pass
        _core.reset_ticks()
        raise
    if on_tick is not None:
        on_tick(_core.ticks())
    if "error" in result:
        raise result["error"]
    return result["out"]
