"""`nuts_vmap`: BlackJAX's NUTS with per-chain window adaptation, `vmap`ped over chains, the
plain lock-stepped reference for the `nuts` engine."""

from __future__ import annotations

from collections.abc import Callable

import blackjax
import jax

from ..nuts_engine import NUTSOptions
from .base import Kernel, WindowInfo, hmc_family


class NUTSVmap(Kernel):
    """BlackJAX NUTS with per-chain window adaptation (the study's protocol, paper.md §5),
    `vmap`ped over chains. Correct but lock-stepped: every iteration of the batch waits for
    the deepest tree of any chain."""

    name = "nuts_vmap"
    Options = NUTSOptions

    def run(
        self,
        logdensity_fn: Callable,
        initial_positions: jax.Array,
        keys: jax.Array,
        *,
        num_warmup: int,
        num_samples: int,
        thinning: int,
        options: NUTSOptions,
    ) -> tuple[jax.Array, WindowInfo]:
        return hmc_family(
            blackjax.nuts,
            logdensity_fn,
            initial_positions,
            keys,
            num_warmup=num_warmup,
            num_samples=num_samples,
            thinning=thinning,
            target_accept=options.target_accept,
            initial_step_size=options.initial_step_size,
            max_num_doublings=options.max_tree_depth,
        )
