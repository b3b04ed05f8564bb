"""The kernel interface, and the pieces several kernels share.

A kernel is warm-up plus sampling for a block of chains, built from BlackJAX's pieces. Like
BlackJAX's `SamplingAlgorithm` (an `init` and a `step`), every kernel has one declared shape,
so that `sampling.sample` can dispatch on its name and a faster engine can replace one without
touching the driver:

    kernel.run(logdensity_fn, initial_positions, keys, *, num_warmup, num_samples, thinning,
               options) -> (samples, info)

- `logdensity_fn`: one position `(D,)` -> scalar log density.
- `initial_positions`: `(C, D)`; `keys`: `(C,)` typed PRNG keys, one per chain.
- `options`: an instance of the kernel's `Options`, a frozen dataclass whose fields are the
  kernel's tuning options (`sample`'s extra keyword arguments, the CLI's `--option`s) with
  their types and defaults. The options are Python constants of the compiled program.
- `samples`: `(C, num_samples, D)`, every `thinning`-th state after the warm-up.
- `info`: a NamedTuple of per-chain arrays, leading axis `C`: `acceptance_rate` (mean over
  the sampling steps; NaN for kernels without an accept step), `divergences` and
  `num_grad_evals` (counts over warm-up and sampling), `step_size`, `inverse_mass_matrix`
  `(C, D)`, plus what the kernel adapts (`num_integration_steps`, `L`, ...). The driver
  turns it into `Posterior.diagnostics`, a dict of the same names.

`run` is a pure, traceable JAX function: the driver wraps it in `jit(shard_map(...))`, so it
sees one device's share of a chunk, and times its compilation apart. A kernel treats chains
independently unless its `group` is above 1: then its adaptation pools `group(options)`
consecutive chains (`chees`' ensembles), and the driver keeps such groups whole in a chunk.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.base import get_filter_adapt_info_fn

from ...errors import SymbnnError

#: The warm-up diagnostics kept per step (the rest of BlackJAX's adaptation info is dropped,
#: which keeps memory at a few scalars per chain and step).
WARMUP_INFO = get_filter_adapt_info_fn(
    info_keys={"acceptance_rate", "is_divergent", "num_integration_steps"}
)


class Kernel:
    """A sampling kernel: its `name`, its `Options` (a frozen dataclass) and `run`.

    Subclasses set `name` and `Options` and implement `run`; a kernel whose adaptation
    couples consecutive chains also overrides `group`.
    """

    name: ClassVar[str]
    Options: ClassVar[type]

    def run(
        self,
        logdensity_fn: Callable,
        initial_positions: jax.Array,
        keys: jax.Array,
        *,
        num_warmup: int,
        num_samples: int,
        thinning: int,
        options: Any,
    ) -> tuple[jax.Array, NamedTuple]:
        raise NotImplementedError

    def evaluations(
        self, *, num_warmup: int, num_samples: int, thinning: int, options: Any
    ) -> int | None:
        """Log-density evaluations per chain, when the kernel fixes them in advance (what
        `info.num_grad_evals` will say): the progress bar's end. None: they depend on the run
        (a trajectory length adapted per chain, NUTS's trees)."""
        return None

    def steps(
        self, *, num_warmup: int, num_samples: int, thinning: int, options: Any
    ) -> int | None:
        """Steps per chain that the kernel reports (`progress.report_steps`) when its
        evaluations are not fixed: the progress bar's end then. None: it reports none."""
        return None

    def group(self, options: Any) -> int:
        """Chains whose adaptation is pooled: a chunk must hold whole groups (1: none)."""
        return 1

    def make_options(self, given: dict) -> Any:
        """`Options` with the `given` values (by name) applied, each checked against its
        field: an unknown name or a value not of the default's type is a `SymbnnError`."""
        fields = {f.name: f.default for f in dataclasses.fields(self.Options)}
        unknown = sorted(set(given) - set(fields))
        if unknown:
            raise SymbnnError(
                f"kernel {self.name!r} has no option {', '.join(map(repr, unknown))}; "
                f"its options are {', '.join(fields) or 'none'}"
            )
        checked = {}
        # Each option must have its default's type: a string or a list reaching JAX fails
        # there with a traceback about tracing rather than about the option.
        for name, value in given.items():
            default = fields[name]
            if isinstance(default, bool):
                ok, want = isinstance(value, bool | np.bool_), "true or false"
            elif isinstance(default, int):
                ok, want = (
                    isinstance(value, int | np.integer) and not isinstance(value, bool),
                    "an integer",
                )
            elif isinstance(default, float):
                ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
                    value, bool
                )
                ok, want = ok and math.isfinite(value), "a finite number"
                value = float(value) if ok else value
            elif isinstance(default, str):
                ok, want = isinstance(value, str), "a string"
            else:
                ok, want = True, ""
            if not ok:
                raise SymbnnError(
                    f"kernel {self.name!r} option {name!r} must be {want}, got {value!r}"
                )
            checked[name] = value
        return self.Options(**checked)

    def __repr__(self) -> str:
        return f"<kernel {self.name}>"


def options_dict(options: Any) -> dict:
    """An options dataclass as a plain dict in field order (JSON-ready, for the settings)."""
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}


def sample_phase(step: Callable, state, key, num_samples: int, thinning: int):
    """Run `num_samples * thinning` steps of `step(key, state) -> (state, info)` for one
    chain and keep every `thinning`-th position: `((num_samples, D), infos (S, T, ...))`."""
    keys = jax.random.split(key, num_samples * thinning).reshape(num_samples, thinning)

    def draw(state, ks):
        state, infos = jax.lax.scan(lambda s, k: step(k, s), state, ks)
        return state, (state.position, infos)

    _, (positions, infos) = jax.lax.scan(draw, state, keys)
    return positions, infos


class WindowInfo(NamedTuple):
    """Per-chain diagnostics of a kernel with Stan-style window adaptation."""

    acceptance_rate: jax.Array
    warmup_acceptance_rate: jax.Array
    divergences: jax.Array
    num_grad_evals: jax.Array
    step_size: jax.Array
    inverse_mass_matrix: jax.Array


def hmc_family(algorithm, logdensity_fn: Callable, positions, keys, **options):
    """Chains `(C, D)` of NUTS or HMC (one key each), vmapped: see `_hmc_family_chain`."""
    return jax.vmap(lambda p, k: _hmc_family_chain(algorithm, logdensity_fn, p, k, **options))(
        positions, keys
    )


def _hmc_family_chain(
    algorithm,
    logdensity_fn: Callable,
    position,
    key,
    *,
    num_warmup: int,
    num_samples: int,
    thinning: int,
    target_accept: float,
    initial_step_size: float,
    **extra,
) -> tuple[jax.Array, WindowInfo]:
    """One chain of NUTS or HMC: Stan-style window adaptation (step size by dual averaging,
    diagonal mass matrix from identity), then sampling with the adapted parameters."""
    warm_key, sample_key = jax.random.split(key)
    d = position.shape[-1]
    if num_warmup > 0:
        warmup = blackjax.window_adaptation(
            algorithm,
            logdensity_fn,
            is_mass_matrix_diagonal=True,
            initial_step_size=initial_step_size,
            target_acceptance_rate=target_accept,
            adaptation_info_fn=WARMUP_INFO,
            **extra,
        )
        (state, params), winfo = warmup.run(warm_key, position, num_steps=num_warmup)
        step_size, imm = params["step_size"], params["inverse_mass_matrix"]
        w = winfo.info
        warm_div = jnp.sum(w.is_divergent)
        warm_grads = jnp.sum(w.num_integration_steps)
        warm_acc = jnp.mean(w.acceptance_rate)
    else:
        state = algorithm.init(position, logdensity_fn)
        step_size, imm = jnp.asarray(initial_step_size, position.dtype), jnp.ones(d, position.dtype)
        warm_div = warm_grads = jnp.zeros((), jnp.int32)
        warm_acc = jnp.asarray(jnp.nan, position.dtype)
    kernel = algorithm(logdensity_fn, step_size, imm, **extra)
    positions, infos = sample_phase(kernel.step, state, sample_key, num_samples, thinning)
    info = WindowInfo(
        acceptance_rate=jnp.mean(infos.acceptance_rate),
        warmup_acceptance_rate=warm_acc,
        divergences=warm_div + jnp.sum(infos.is_divergent),
        # +1: the gradient at the initial position.
        num_grad_evals=1 + warm_grads + jnp.sum(infos.num_integration_steps),
        step_size=step_size,
        inverse_mass_matrix=imm,
    )
    return positions, info


def about_start(logdensity_fn: Callable, start: jax.Array) -> tuple[Callable, jax.Array]:
    """`logdensity_fn` in coordinates centred on a chain's `start`, and the start there
    (zeros): run a chain on `z = x - start`, then add `start` back to its draws.

    An exact change of variables (a shift), for the MCLMC tuners' variance estimates: they
    compute `E[x²] - E[x]²` from streaming averages, whose float32 resolution is about
    `1e-7·E[x²]`. The weights of a deep fit are large and nearly fixed, so in absolute
    coordinates their variances drown in that error (come out negative, or too large by
    about their own size); measured from the start, `E[z²]` is the chain's own spread."""
    return (lambda z: logdensity_fn(z + start)), jnp.zeros_like(start)


def positive_inverse_mass(inverse_mass_matrix: jax.Array) -> jax.Array:
    """A diagonal preconditioner with every entry positive and finite: an entry that is not
    takes the smallest one that is (1 if none is).

    BlackJAX's MCLMC tuners estimate the diagonal as `E[x²] - E[x]²` from streaming averages;
    in float32 a coordinate whose variance lies below the resolution of `E[x²]` can come out
    negative (see `about_start`, which makes it rare), the integrator takes its square root,
    and every proposal of the chain is NaN: the step size collapses to the tuner's floor and
    the chain never moves (measured: 2 of 64 f2 chains on regression2d). Such a coordinate's
    variance is at the bottom of the resolved range, so the smallest resolved entry keeps
    the preconditioner's spread; too small an entry only slows that one coordinate, where
    too large a one would shrink every coordinate's step."""
    ok = jnp.isfinite(inverse_mass_matrix) & (inverse_mass_matrix > 0)
    floor = jnp.min(jnp.where(ok, inverse_mass_matrix, jnp.inf))
    floor = jnp.where(jnp.isfinite(floor), floor, 1).astype(inverse_mass_matrix.dtype)
    return jnp.where(ok, inverse_mass_matrix, floor)


def warmup_split(num_warmup: int, settle_fraction: float) -> tuple[int, int]:
    """`(tuning steps, settle steps)` of a warm-up whose last `settle_fraction` settles."""
    if not 0.0 <= settle_fraction < 1.0:
        raise ValueError(f"settle_fraction must lie in [0, 1), got {settle_fraction}")
    settle = round(num_warmup * settle_fraction) if num_warmup > 0 else 0
    return num_warmup - settle, settle


def settle_and_sample(
    step: Callable, state, settle_key, sample_key, settle_steps: int, num_samples: int,
    thinning: int,
):  # fmt: skip
    """`settle_steps` steps of the tuned kernel, then `sample_phase`'s draws, in one loop:
    the same keys in the same order as the two phases run apart, but one loop body for XLA to
    compile instead of two (0.3–0.9 s of an f1 program's compile time on two CPU cores).

    -> `(positions (num_samples, D), settle infos (settle_steps, ...), sample infos
    (num_samples, thinning, ...), drift)`, where `drift` is the rise of the log density across
    the settle window (NaN without one), what the convergence verdict reads."""
    draws = num_samples * thinning
    keys = jnp.concatenate(
        [jax.random.split(settle_key, settle_steps), jax.random.split(sample_key, draws)]
    )
    kept = jnp.zeros((num_samples,) + state.position.shape, state.position.dtype)

    def one(carry, ik):
        s, kept = carry
        i, k = ik
        s, info = step(k, s)
        j = i - settle_steps  # the draw's step, negative while settling
        slot = jnp.clip(j // thinning, 0, num_samples - 1)
        keep = (j >= 0) & (j % thinning == thinning - 1)
        kept = kept.at[slot].set(jnp.where(keep, s.position, kept[slot]))
        return (s, kept), (info, s.logdensity)

    before = state.logdensity
    (_, kept), (infos, lds) = jax.lax.scan(
        one, (state, kept), (jnp.arange(settle_steps + draws), keys)
    )
    settle_infos = jax.tree.map(lambda a: a[:settle_steps], infos)
    sample_infos = jax.tree.map(
        lambda a: a[settle_steps:].reshape((num_samples, thinning) + a.shape[1:]), infos
    )
    drift = lds[settle_steps - 1] - before if settle_steps else jnp.asarray(jnp.nan)
    return kept, settle_infos, sample_infos, drift.astype(before.dtype)
