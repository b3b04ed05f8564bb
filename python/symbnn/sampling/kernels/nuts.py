"""`nuts`: NUTS with per-chain window adaptation on the autobatched engine (`nuts_engine`):
chains never wait for each other's trees."""

from __future__ import annotations

from collections.abc import Callable

import jax

from ..nuts_engine import NUTSInfo, NUTSOptions, run_nuts
from .base import Kernel, options_dict


class NUTS(Kernel):
    """The study's protocol (paper.md §5), without lockstep."""

    name = "nuts"
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
    ) -> tuple[jax.Array, NUTSInfo]:
        return run_nuts(
            logdensity_fn,
            initial_positions,
            keys,
            num_warmup=num_warmup,
            num_samples=num_samples,
            thinning=thinning,
            **options_dict(options),
        )

    def steps(self, *, num_warmup, num_samples, thinning, options):
        return num_warmup + num_samples * thinning  # iterations (trees), warm-up included
