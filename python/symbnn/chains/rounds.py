"""`sample(..., num_chains="auto")`: as many chains as the bound asks for, with mode weights
estimated from the chains themselves (paper.md §4 closes the loop with §7).

Round 1 runs `pilot_chains` chains. After each round: functionally distinct modes of all chains
so far (`find_modes` in function space, on the training inputs), the chain count they call for
(`recommend_chains`: exact count over the estimated weights plus the Good–Turing unseen mass),
and, if more chains are needed, another round of new chains (`first_chain` continues the chain
indices, so no chain repeats and the result equals one big run of the same chains). Stops when
the chains run meet the recommendation or `max_chains` is reached; every round is recorded in
`Posterior.rounds`.
"""

from __future__ import annotations

import numpy as np

from ..errors import SymbnnError
from ..sampling.posterior import Posterior


def _concatenate(parts: list[Posterior]) -> Posterior:
    """Chains of several runs of the same spec and settings, in order."""
    first = parts[0]
    diagnostics = {
        k: np.concatenate([p.diagnostics[k] for p in parts])
        for k in first.diagnostics
        if all(k in p.diagnostics and np.ndim(p.diagnostics[k]) >= 1 for p in parts)
    }
    timings = {k: float(sum(p.timings.get(k, 0.0) for p in parts)) for k in first.timings}
    return Posterior(
        spec=first.spec,
        samples=np.concatenate([p.samples for p in parts]),
        noise_std=None if first.noise_std is None else np.concatenate([p.noise_std for p in parts]),
        diagnostics=diagnostics,
        timings=timings,
        # The parts' verdicts do not carry over: the whole is assessed from its diagnostics.
        settings={k: v for k, v in first.settings.items() if k != "convergence"},
    )


def sample_auto(
    spec,
    x,
    y,
    *,
    confidence: float = 0.99,
    pilot_chains: int = 32,
    max_chains: int = 4096,
    first_chain: int = 0,
    **sample_options,
) -> Posterior:
    """Run rounds of `sample(spec, x, y, num_chains=..., first_chain=..., **sample_options)`
    until the estimated chain count is met (see the module docstring); `sample` hands
    `num_chains="auto"` over to this function."""
    # Imported here: the driver imports this module on demand, and `find_modes` is heavy.
    from ..sampling import driver
    from ..symmetry.modes import find_modes, recommend_chains

    if not 0.0 < confidence < 1.0:
        raise SymbnnError(f"confidence must be in (0, 1), got {confidence}")
    if not 1 <= pilot_chains <= max_chains:
        raise SymbnnError(
            f"need 1 <= pilot_chains <= max_chains, got {pilot_chains} and {max_chains}"
        )
    parts: list[Posterior] = []
    rounds: list[dict] = []
    todo, done = pilot_chains, 0
    while todo > 0:
        part = driver.sample(
            spec, x, y, num_chains=todo, first_chain=first_chain + done, **sample_options
        )
        parts.append(part)
        done += todo
        so_far = _concatenate(parts)
        finite = so_far.diagnostics.get("finite", np.ones(done, bool))
        modes = find_modes(so_far.samples[finite], spec, space="function", x_probe=x)
        rec = recommend_chains(modes, confidence)
        rounds.append(
            {
                "chains_run": done,
                "modes": int(modes.num_modes),
                "weights": [float(w) for w in rec.weights],
                "unseen_mass": rec.unseen_mass,
                "chains_recommended": int(rec.num_chains),
                "seconds": float(part.timings.get("total_s", 0.0)),
            }
        )
        todo = min(rec.num_chains, max_chains) - done
    post = _concatenate(parts)
    post.rounds = rounds
    post.settings.update(
        num_chains="auto",
        confidence=confidence,
        pilot_chains=pilot_chains,
        max_chains=max_chains,
        chains_run=done,
        budget_reached=rounds[-1]["chains_recommended"] > done,
    )
    return post
