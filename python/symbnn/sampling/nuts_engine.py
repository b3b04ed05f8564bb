"""Many-chain NUTS without lockstep: one leapfrog step per loop trip for every chain.

Why
---
`jax.vmap` over BlackJAX's NUTS kernel runs the chains in lockstep: the kernel's
`while_loop`s (doublings, leapfrogs within a doubling) run until the *deepest* tree of
any chain is done, and then every chain waits for the next iteration.  On the study's
`f1` posterior NUTS averages 138 leapfrog steps per iteration, but among 1274 chains
some chain is at the maximum depth (1023 steps) in most iterations, so vectorized NUTS
pays about 1023 batched gradients per iteration for 138 useful ones.

How (program-counter autobatching)
----------------------------------
Every chain carries its own NUTS state machine, a `Chain`: its iteration number
(warm-up or sampling), where it is in its trajectory (doublings done `depth`, leapfrogs
done in the current doubling `step`, its `direction`), its proposal, the two ends of its
trajectory, its U-turn checkpoints and its own window-adaptation state.  One
`lax.while_loop` advances *all* chains by exactly one leapfrog step per trip, a single
batched `value_and_grad` of the log density, and then every chain does, with
`jnp.where` masks, the bookkeeping BlackJAX's iterative NUTS does at that point:

1. the leapfrog from the end of the trajectory the current doubling grows;
2. the doubling's progressive uniform (multinomial) sampling, divergence test and
   iterative U-turn check on its sub-trees (NumPyro-style checkpoints);
3. if the doubling is finished: the top-level biased progressive sampling, the merge and
   the U-turn check of the whole trajectory;
4. if the tree is finished (U-turn, divergence or `max_tree_depth` doublings): the
   acceptance statistic, the window-adaptation update (warm-up) or the draw and the
   statistics (sampling), then the next iteration begins at once with new momentum;
5. if a doubling begins: its direction and keys.

A chain that finishes its tree starts its next iteration in the next trip; it never
waits.  The loop stops when every chain has done all its iterations, so it runs for
about `max over chains of (sum over its iterations of its leapfrogs)` trips; these sums
concentrate around their mean, so little work is wasted (`info.loop_trips` against
`info.num_grad_evals` measures it).  Finished chains keep recomputing one frozen
leapfrog, which changes nothing.

Each trip is the same program for every chain, so steps 2-5 are computed for all chains
and masked.  They cost O(`max_tree_depth` x d) per chain, small next to a gradient of a
network on its data.

What is BlackJAX's
------------------
The transition is BlackJAX's NUTS (`blackjax.nuts.build_kernel`), re-sequenced, not
re-derived; the pieces are BlackJAX's own: `integrators.velocity_verlet`,
`metrics.default_metric` (kinetic energy, momentum, U-turn criterion),
`proposal.proposal_generator`, `progressive_uniform_sampling`,
`progressive_biased_sampling`, `trajectory.hmc_energy`, the iterative U-turn checkpoints
of `termination.iterative_uturn_numpyro` (sub-tree checks at every odd step, the full
trajectory's at the end of each doubling), the divergence threshold (1000), and the
keys are split the way BlackJAX splits them.  The warm-up is Stan's window adaptation as
in `blackjax.window_adaptation`: `build_schedule` for the fast/slow windows,
`dual_averaging_adaptation` for the step size and `mass_matrix_adaptation` (Welford,
diagonal) for the inverse mass matrix, composed exactly as
`window_adaptation.base` composes them (that function is deprecated in BlackJAX 1.7, its
building blocks are not).  Given the same per-iteration keys, a chain here makes the
same moves as BlackJAX's kernel and adaptation (tested to round-off).

Randomness: iteration `i` of a chain uses `fold_in(chain_key, i)`, split as BlackJAX's
kernel splits its key, so a chain's draws depend only on its key and start.

Code
----
`nuts_config` checks the settings once and holds them in a `NUTSConfig`; the pieces are
module-level functions of it: `init_chain` (one chain's `Chain` at its start), `trip` (one
loop trip of one chain) and `run_chains` (all chains to the end, the program), which
`build_run_nuts` jits and `run_nuts` calls.  Benches time `vmap(trip)` alone.

Cost
----
Per trip: one batched gradient plus O(`max_tree_depth` x d) bookkeeping per chain (threefry
key derivations included), and a fixed dispatch cost on CPU (XLA runs each trip's kernels one
after another), which matters only below a few hundred chains.  The work at the end of a tree
(adaptation, next momentum) or of a doubling (direction, keys) is done for the chains there
alone, a few in a hundred once the trees have grown, in one gather-update-scatter pass (a
tree ends with a doubling; `step_chains`); `trip` is the same for
one chain, the reference.  Measured on 2 CPU cores for `f1` on the sinusoid, float32, after
2,000 trips (`benches/bench_nuts_floor.py`): a bare vmapped gradient costs 0.9-1.3 µs per
chain, a trip of this engine 1.6-2.4 µs (the bookkeeping 0.66-0.86 of a gradient), from 64 to
4096 chains.  With the lockstep waste (trips over mean gradients, 1.3-1.5) a run costs about
2-3x the gradient floor of the gradients NUTS needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.adaptation.mass_matrix import MassMatrixAdaptationState, mass_matrix_adaptation
from blackjax.adaptation.step_size import (
    DualAveragingAdaptationState,
    dual_averaging_adaptation,
)
from blackjax.adaptation.window_adaptation import build_schedule
from blackjax.mcmc import integrators, metrics, termination, trajectory
from blackjax.mcmc.integrators import IntegratorState
from blackjax.mcmc.proposal import (
    Proposal,
    progressive_biased_sampling,
    progressive_uniform_sampling,
    proposal_generator,
)

from ..errors import ShapeError, SymbnnError
from . import progress

#: |H(z) - H0| above which a leapfrog step counts as divergent (BlackJAX's and Stan's).
DIVERGENCE_THRESHOLD = 1000.0
#: A trip does the end-of-tree and end-of-doubling work for the chains there alone, up to one
#: chain in `SPARSE_FRACTION` at a time (see `_update_some`).
SPARSE_FRACTION = 8

__all__ = [
    "DIVERGENCE_THRESHOLD",
    "Chain",
    "NUTSConfig",
    "NUTSInfo",
    "NUTSOptions",
    "build_run_nuts",
    "init_chain",
    "nuts_config",
    "run_chains",
    "run_nuts",
    "trip",
]


class _Adaptation(NamedTuple):
    """Window adaptation of one chain; `step_size` and `inverse_mass_matrix` are in force."""

    ss_state: DualAveragingAdaptationState
    imm_state: MassMatrixAdaptationState
    step_size: jax.Array  # ()
    inverse_mass_matrix: jax.Array  # (d,)


class Chain(NamedTuple):
    """The NUTS state machine of one chain (all fields per chain)."""

    key: jax.Array  # the chain's key
    iteration: jax.Array  # iterations finished, warm-up included
    depth: jax.Array  # doublings finished in this iteration
    step: jax.Array  # leapfrogs done in the current doubling
    direction: jax.Array  # +1 or -1: the current doubling's direction
    key_integrator: jax.Array  # this iteration's trajectory key
    key_tree: jax.Array  # the current doubling's keys (BlackJAX's trajectory_key and
    key_proposal: jax.Array  # proposal_key)
    energy0: jax.Array  # H at the iteration's start
    proposal: Proposal  # top-level sample; its state is the chain's state between trees
    left: IntegratorState  # ends of the trajectory, the growing one included
    right: IntegratorState
    momentum_sum: jax.Array  # (d,) over the trajectory before the current doubling
    num_states: jax.Array  # states in the trajectory before the current doubling
    sub_proposal: Proposal  # the current doubling's sample
    sub_momentum_sum: jax.Array  # (d,) over the current doubling
    criterion: termination.IterativeUTurnState  # U-turn checkpoints (max_tree_depth, d)
    adaptation: _Adaptation
    samples: jax.Array  # (num_samples, d)
    accept_sum: jax.Array  # sum of acceptance statistics over sampling iterations
    divergences: jax.Array  # divergent iterations, warm-up included
    grad_evals: jax.Array  # gradient evaluations, the initial one included


def _where(pred, on_true, on_false):
    """`jnp.where` over two pytrees of the same structure."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _cast(tree, dtype, int_dtype=jnp.int32):
    """Floating leaves to `dtype`, integer ones to `int_dtype`: a loop carry has fixed types."""

    def cast(x):
        x = jnp.asarray(x)
        return x.astype(dtype if jnp.issubdtype(x.dtype, jnp.floating) else int_dtype)

    return jax.tree.map(cast, tree)


@dataclass(frozen=True)
class NUTSOptions:
    """The options of NUTS with window adaptation (the `nuts` and `nuts_vmap` kernels)."""

    target_accept: float = 0.8
    max_tree_depth: int = 10
    initial_step_size: float = 1.0


class NUTSInfo(NamedTuple):
    """Per-chain results besides the draws (see `run_nuts`)."""

    acceptance_rate: jax.Array
    divergences: jax.Array
    step_size: jax.Array
    inverse_mass_matrix: jax.Array
    num_grad_evals: jax.Array
    loop_trips: jax.Array


class NUTSConfig(NamedTuple):
    """Everything an engine program depends on besides its arrays (made by `nuts_config`)."""

    logdensity_fn: Callable[[jax.Array], jax.Array]
    num_warmup: int
    num_samples: int
    thinning: int
    target_accept: float
    max_tree_depth: int
    initial_step_size: float
    #: Stan's warm-up schedule: rows (stage: 0 fast / 1 slow, is the last step of a slow
    #: window); one dummy row without warm-up.
    schedule: jax.Array

    @property
    def num_sampling(self) -> int:
        """Sampling iterations; every `thinning`-th is kept."""
        return self.num_samples * self.thinning

    @property
    def total(self) -> int:
        """Iterations per chain, warm-up included."""
        return self.num_warmup + self.num_sampling


def nuts_config(
    logdensity_fn: Callable[[jax.Array], jax.Array],
    *,
    num_warmup: int,
    num_samples: int,
    thinning: int = 1,
    **options,
) -> NUTSConfig:
    """The checked configuration of an engine program; `options` are `NUTSOptions` fields."""
    o = NUTSOptions(**options)
    num_warmup, num_samples, thinning = int(num_warmup), int(num_samples), int(thinning)
    max_tree_depth = int(o.max_tree_depth)
    if num_warmup < 0:
        raise SymbnnError(f"num_warmup must be >= 0, got {num_warmup}")
    if num_samples < 1:
        raise SymbnnError(f"num_samples must be >= 1, got {num_samples}")
    if thinning < 1:
        raise SymbnnError(f"thinning must be >= 1, got {thinning}")
    if not 1 <= max_tree_depth <= 30:
        raise SymbnnError(f"max_tree_depth must lie in [1, 30], got {max_tree_depth}")
    if not 0.0 < o.target_accept < 1.0:
        raise SymbnnError(f"target_accept must lie in (0, 1), got {o.target_accept}")
    if not (math.isfinite(o.initial_step_size) and o.initial_step_size > 0):
        raise SymbnnError(f"initial_step_size must be positive, got {o.initial_step_size}")
    schedule = build_schedule(num_warmup) if num_warmup > 0 else jnp.zeros((1, 2), jnp.int32)
    return NUTSConfig(
        logdensity_fn,
        num_warmup,
        num_samples,
        thinning,
        o.target_accept,
        max_tree_depth,
        o.initial_step_size,
        jnp.asarray(schedule, jnp.int32).reshape(-1, 2),
    )


# --- the transition's pieces, for one chain ---------------------------------------------------
def _value_and_grad(logdensity_fn, position):
    # The carry keeps the positions' dtype even if the density computes in another.
    logdensity, grad = jax.value_and_grad(logdensity_fn)(position)
    return logdensity.astype(position.dtype), grad.astype(position.dtype)


def _logdensity_same_dtype(logdensity_fn, position):
    return logdensity_fn(position).astype(position.dtype)


def _begin_iteration(c: Chain) -> Chain:
    """Fresh momentum and trajectory (BlackJAX's NUTS kernel, before `propose`)."""
    metric = metrics.default_metric(c.adaptation.inverse_mass_matrix)
    key_momentum, key_integrator = jax.random.split(jax.random.fold_in(c.key, c.iteration))
    state = c.proposal.state
    momentum = metric.sample_momentum(key_momentum, state.position)
    state = IntegratorState(state.position, momentum, state.logdensity, state.logdensity_grad)
    energy0 = trajectory.hmc_energy(metric.kinetic_energy)(state)
    zero = jnp.zeros((), energy0.dtype)
    return c._replace(
        depth=jnp.zeros_like(c.depth),
        key_integrator=key_integrator,
        energy0=energy0,
        proposal=Proposal(state, energy0, zero, jnp.full((), -jnp.inf, energy0.dtype)),
        left=state,
        right=state,
        momentum_sum=momentum,
        num_states=jnp.zeros_like(c.num_states),
    )


def _begin_doubling(c: Chain) -> Chain:
    """Direction and keys of the next doubling (BlackJAX's `expand_once`)."""
    subkey = jax.random.fold_in(c.key_integrator, c.depth)
    key_direction, key_tree, key_proposal = jax.random.split(subkey, 3)
    direction = jnp.where(jax.random.bernoulli(key_direction), 1, -1).astype(c.direction.dtype)
    return c._replace(
        step=jnp.zeros_like(c.step),
        direction=direction,
        key_tree=key_tree,
        key_proposal=key_proposal,
    )


def _adapt(cfg: NUTSConfig, a: _Adaptation, iteration, position, acceptance_rate) -> _Adaptation:
    """One warm-up update, as `window_adaptation.base`'s `update` (then `final`)."""
    _, mm_update, mm_final = mass_matrix_adaptation(is_diagonal_matrix=True)
    da_init, da_update, da_final = dual_averaging_adaptation(cfg.target_accept)
    schedule = cfg.schedule
    stage, window_end = schedule[jnp.clip(iteration, 0, schedule.shape[0] - 1)]
    ss_state = da_update(a.ss_state, acceptance_rate)
    imm_state = _where(stage == 1, mm_update(a.imm_state, position), a.imm_state)
    # End of a slow window: the window's covariance, step size restarted from its mean.
    ss_state = _where(window_end == 1, da_init(da_final(ss_state)), ss_state)
    imm_state = _where(window_end == 1, mm_final(imm_state), imm_state)
    # After the last warm-up step the sampler uses the averaged step size.
    log_step_size = jnp.where(
        iteration == cfg.num_warmup - 1, ss_state.log_step_size_avg, ss_state.log_step_size
    )
    dtype = a.step_size.dtype
    return _Adaptation(
        _cast(ss_state, dtype, dtype),
        _cast(imm_state, dtype),
        jnp.exp(log_step_size).astype(dtype),
        imm_state.inverse_mass_matrix.astype(dtype),
    )


def init_chain(cfg: NUTSConfig, position, key) -> Chain:
    """The state machine of one chain at `position`, ready for its first trip."""
    dtype = position.dtype
    mm_init, _, _ = mass_matrix_adaptation(is_diagonal_matrix=True)
    da_init, _, _ = dual_averaging_adaptation(cfg.target_accept)
    logdensity, grad = _value_and_grad(cfg.logdensity_fn, position)
    state = IntegratorState(position, jnp.zeros_like(position), logdensity, grad)
    zero = jnp.zeros((), dtype)
    step_size = jnp.asarray(cfg.initial_step_size, dtype)
    # The step counter as a float: BlackJAX takes `sqrt(step)`, single precision for int32.
    ss_state = _cast(da_init(step_size), dtype, dtype)
    imm_state = _cast(mm_init(position.shape[0]), dtype)
    adaptation = _Adaptation(ss_state, imm_state, step_size, imm_state.inverse_mass_matrix)
    proposal = Proposal(state, zero, zero, zero)
    i0 = jnp.zeros((), jnp.int32)
    new_criterion, _, _ = termination.iterative_uturn_numpyro(
        metrics.default_metric(adaptation.inverse_mass_matrix).check_turning
    )
    criterion = new_criterion(state, cfg.max_tree_depth)
    c = Chain(
        key=key,
        iteration=i0,
        depth=i0,
        step=i0,
        direction=jnp.ones((), jnp.int32),
        key_integrator=key,
        key_tree=key,
        key_proposal=key,
        energy0=zero,
        proposal=proposal,
        left=state,
        right=state,
        momentum_sum=state.momentum,
        num_states=i0,
        sub_proposal=proposal,
        sub_momentum_sum=state.momentum,
        criterion=termination.IterativeUTurnState(
            criterion.momentum.astype(dtype), criterion.momentum_sum.astype(dtype), i0, i0
        ),
        adaptation=adaptation,
        samples=jnp.zeros((cfg.num_samples, position.shape[0]), dtype),
        accept_sum=zero,
        divergences=i0,
        grad_evals=jnp.ones((), jnp.int32),
    )
    return _begin_doubling(_begin_iteration(c))


def _trip_core(cfg: NUTSConfig, c: Chain) -> tuple[Chain, jax.Array, jax.Array]:
    """One leapfrog step and the bookkeeping that follows it, for one chain, up to the end of
    a tree or a doubling: -> (chain, whether its tree ended, whether its doubling ended)."""
    active = c.iteration < cfg.total
    a = c.adaptation
    metric = metrics.default_metric(a.inverse_mass_matrix)
    integrator = integrators.velocity_verlet(
        partial(_logdensity_same_dtype, cfg.logdensity_fn), metric.kinetic_energy
    )
    _, generate_proposal = proposal_generator(trajectory.hmc_energy(metric.kinetic_energy))
    _, update_criterion, is_turning_subtrees = termination.iterative_uturn_numpyro(
        metric.check_turning
    )
    forward = c.direction > 0

    # 1. one leapfrog step from the growing end (the only gradient of the trip).
    state = integrator(_where(forward, c.right, c.left), c.direction * a.step_size)

    # 2. the doubling: BlackJAX's `dynamic_progressive_integration`, one trip of its loop.
    new_proposal = generate_proposal(c.energy0, state)
    diverging = -new_proposal.weight > DIVERGENCE_THRESHOLD
    first = c.step == 0
    sub_momentum_sum = jnp.where(first, state.momentum, c.sub_momentum_sum + state.momentum)
    sampled = progressive_uniform_sampling(
        jax.random.fold_in(c.key_tree, c.step), c.sub_proposal, new_proposal
    )
    sub_proposal = _where(first, new_proposal, sampled)
    criterion = update_criterion(c.criterion, sub_momentum_sum, state.momentum, c.step)
    sub_turning = is_turning_subtrees(criterion, sub_momentum_sum, state.momentum)
    step = c.step + 1
    left = _where(active & ~forward, state, c.left)
    right = _where(active & forward, state, c.right)
    doubling_done = active & (diverging | sub_turning | (step >= (1 << c.depth)))

    # 3. end of a doubling: BlackJAX's `expand_once` after its integrator.
    stopped = diverging | sub_turning
    kept = c.proposal._replace(
        sum_log_p_accept=jnp.logaddexp(c.proposal.sum_log_p_accept, sub_proposal.sum_log_p_accept)
    )
    merged = _where(
        stopped, kept, progressive_biased_sampling(c.key_proposal, c.proposal, sub_proposal)
    )
    momentum_sum = c.momentum_sum + sub_momentum_sum
    num_states = c.num_states + step
    turning = metric.check_turning(left.momentum, right.momentum, momentum_sum)
    depth = c.depth + 1
    tree_done = doubling_done & (stopped | turning | (depth >= cfg.max_tree_depth))
    proposal = _where(doubling_done, merged, c.proposal)
    momentum_sum = jnp.where(doubling_done, momentum_sum, c.momentum_sum)
    num_states = jnp.where(doubling_done, num_states, c.num_states)
    depth = jnp.where(doubling_done, depth, c.depth)

    # 4. end of the tree: the draw (sampling); the adaptation (warm-up) is `_finish_tree`'s.
    acceptance_rate = jnp.exp(proposal.sum_log_p_accept) / num_states
    warmup = c.iteration < cfg.num_warmup
    sampling = tree_done & ~warmup
    s = c.iteration - cfg.num_warmup
    row = jnp.clip(s // cfg.thinning, 0, cfg.num_samples - 1)
    keep = sampling & ((s + 1) % cfg.thinning == 0)
    draw = jnp.where(keep, proposal.state.position, c.samples[row])
    c = c._replace(
        iteration=c.iteration + tree_done,
        depth=depth,
        step=step,
        proposal=proposal,
        left=left,
        right=right,
        momentum_sum=momentum_sum,
        num_states=num_states,
        sub_proposal=sub_proposal,
        sub_momentum_sum=sub_momentum_sum,
        criterion=criterion,
        samples=jax.lax.dynamic_update_slice(c.samples, draw[None], (row, jnp.zeros_like(row))),
        accept_sum=c.accept_sum + jnp.where(sampling, acceptance_rate, 0),
        divergences=c.divergences + (tree_done & diverging),
        grad_evals=c.grad_evals + active,
    )

    return c, tree_done, doubling_done


def _finish_tree(cfg: NUTSConfig, c: Chain) -> Chain:
    """After a tree: the warm-up's adaptation update (from the tree's acceptance statistic),
    then the next iteration's momentum and trajectory."""
    if cfg.num_warmup > 0:
        iteration = c.iteration - 1  # the tree's iteration (`_trip_core` counted it done)
        acceptance_rate = jnp.exp(c.proposal.sum_log_p_accept) / c.num_states
        adapted = _adapt(cfg, c.adaptation, iteration, c.proposal.state.position, acceptance_rate)
        c = c._replace(adaptation=_where(iteration < cfg.num_warmup, adapted, c.adaptation))
    return _begin_iteration(c)


def trip(cfg: NUTSConfig, c: Chain) -> Chain:
    """One leapfrog step and the bookkeeping that follows it, for one chain (the reference
    form of `step_chains`, which gives the same result for all chains at once)."""
    c, tree_done, doubling_done = _trip_core(cfg, c)
    c = _where(tree_done, _finish_tree(cfg, c), c)
    return _where(doubling_done, _begin_doubling(c), c)


def _update_some(fn: Callable, chains, mask, k: int):
    """`chains` (a pytree of per-chain arrays, leading axis the chain) with `fn` applied to
    the chains where `mask` holds, `k` of them at a time
    (gathered, updated, scattered back) until none is left. Few chains end a tree or a
    doubling in a given trip (one in a hundred or so once the trees have grown), so one round
    of `k` spares the per-iteration work of all the others; a loop rather than a `cond` on the
    count, because a `cond` copies the whole state of every chain in and out."""
    c_all = mask.shape[0]

    def round_(carry):
        chains, pending = carry
        idx = _first_true(pending, k)
        sub = jax.tree.map(lambda a: a[jnp.minimum(idx, c_all - 1)], chains)
        new = jax.vmap(fn)(sub)
        chains = jax.tree.map(lambda a, n: a.at[idx].set(n, mode="drop"), chains, new)
        return chains, pending.at[idx].set(False, mode="drop")

    return jax.lax.while_loop(lambda carry: jnp.any(carry[1]), round_, (chains, mask))[0]


def _first_true(mask: jax.Array, k: int) -> jax.Array:
    """The indices of the first `k` entries of `mask` that hold, ascending, padded with
    `len(mask)`: `jnp.nonzero(mask, size=k, fill_value=len(mask))[0]` with one running sum
    and one scatter, where `nonzero` takes two sums, a histogram and an unravelling
    division (3 % less XLA compile time for the f1 NUTS program)."""
    n = mask.shape[0]
    rank = jnp.cumsum(mask, dtype=jnp.int32) - 1
    slot = jnp.where(mask & (rank < k), rank, k)
    return jnp.full(k, n, jnp.int32).at[slot].set(jnp.arange(n, dtype=jnp.int32), mode="drop")


def step_chains(cfg: NUTSConfig, chains: Chain) -> Chain:
    """One trip of the shared loop for every chain: a batched leapfrog and its bookkeeping,
    with the work at the end of a tree or a doubling done only for the chains there."""
    chains, tree_done, doubling_done = jax.vmap(partial(_trip_core, cfg))(chains)
    progress.report_steps(tree_done)  # the bar counts iterations (a no-op unless asked)
    k = max(1, -(-tree_done.shape[0] // SPARSE_FRACTION))

    def end_of_doubling(chain_and_tree_done):  # a tree ends with a doubling: one pass
        c, done = chain_and_tree_done
        return _begin_doubling(_where(done, _finish_tree(cfg, c), c)), done

    return _update_some(end_of_doubling, (chains, tree_done), doubling_done, k)[0]


def run_chains(cfg: NUTSConfig, initial_positions, keys) -> tuple[jax.Array, NUTSInfo]:
    """All chains to the end: the engine's program (traceable; `build_run_nuts` jits it)."""
    chains = jax.vmap(partial(init_chain, cfg))(initial_positions, keys)
    step_all = partial(step_chains, cfg)

    def not_done(carry):
        return jnp.any(carry[1].iteration < cfg.total)

    def body(carry):
        trips, chains = carry
        return trips + 1, step_all(chains)

    trips, chains = jax.lax.while_loop(not_done, body, (jnp.zeros((), jnp.int32), chains))
    info = NUTSInfo(
        acceptance_rate=chains.accept_sum / cfg.num_sampling,
        divergences=chains.divergences,
        step_size=chains.adaptation.step_size,
        inverse_mass_matrix=chains.adaptation.inverse_mass_matrix,
        num_grad_evals=chains.grad_evals,
        loop_trips=jnp.broadcast_to(trips, chains.iteration.shape),
    )
    return chains.samples, info


def build_run_nuts(
    logdensity_fn: Callable[[jax.Array], jax.Array],
    *,
    num_warmup: int,
    num_samples: int,
    thinning: int = 1,
    **options,
) -> Callable[[jax.Array, jax.Array], tuple[jax.Array, NUTSInfo]]:
    """Build the jitted many-chain NUTS program `run(initial_positions, keys)`.

    `run` has the signature and results of `run_nuts`; it is a `jax.jit` function, so
    `run.lower(positions, keys).compile()` compiles it ahead of time (to time compilation
    apart).  The arguments are those of `run_nuts`.  To time or inspect the loop body alone
    (benches, profiling), vmap `init_chain` and `trip` over `nuts_config(...)` instead.
    """
    cfg = nuts_config(
        logdensity_fn, num_warmup=num_warmup, num_samples=num_samples, thinning=thinning, **options
    )
    return jax.jit(partial(run_chains, cfg))


def _check_inputs(initial_positions, keys):
    positions = jnp.asarray(initial_positions)
    if positions.ndim != 2 or positions.shape[0] < 1 or positions.shape[1] < 1:
        raise ShapeError(
            f"initial_positions must have shape (chains, d), got {tuple(positions.shape)}"
        )
    if not jnp.issubdtype(positions.dtype, jnp.floating):
        raise SymbnnError(f"initial_positions must be floating point, got {positions.dtype}")
    if not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        keys = jax.random.wrap_key_data(keys)  # raw uint32 key data, shape (chains, 2)
    if keys.shape != positions.shape[:1]:
        raise ShapeError(
            f"need one key per chain: keys have shape {tuple(keys.shape)}, "
            f"initial_positions {tuple(positions.shape)}"
        )
    return positions, keys


def run_nuts(
    logdensity_fn: Callable[[jax.Array], jax.Array],
    initial_positions: jax.Array,
    keys: jax.Array,
    *,
    num_warmup: int,
    num_samples: int,
    thinning: int = 1,
    **options,
) -> tuple[jax.Array, NUTSInfo]:
    """NUTS with per-chain window adaptation for many chains at once, in one program.

    `logdensity_fn`: position `(d,)` -> scalar, for one chain (vmapped here).
    `initial_positions`: `(chains, d)`; its dtype is the computation's dtype.
    `keys`: `(chains,)` typed PRNG keys, one per chain (or raw key data `(chains, 2)`).
    Each chain runs `num_warmup` warm-up iterations (Stan's windows: dual averaging of the
    step size towards `target_accept`, diagonal inverse mass matrix from identity) and
    `num_samples * thinning` sampling iterations, keeping every `thinning`-th.
    `options`: `NUTSOptions` fields (`target_accept`, `max_tree_depth`,
    `initial_step_size`).

    Returns `(samples, info)`: samples `(chains, num_samples, d)`; `info`, a `NUTSInfo`,
    holds per-chain arrays: `acceptance_rate` (mean acceptance statistic over the sampling
    iterations), `divergences` (divergent iterations, warm-up included), `step_size`
    (adapted), `inverse_mass_matrix` `(chains, d)`, `num_grad_evals` (gradient evaluations,
    the initial one included) and `loop_trips` (trips of the shared loop, the same for every
    chain of the call: the wall-clock cost in batched gradients).
    """
    positions, keys = _check_inputs(initial_positions, keys)
    run = build_run_nuts(
        logdensity_fn,
        num_warmup=num_warmup,
        num_samples=num_samples,
        thinning=thinning,
        **options,
    )
    return run(positions, keys)
