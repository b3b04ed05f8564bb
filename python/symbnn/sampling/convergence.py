"""A run's convergence verdict: has every chain reached its stationary regime, and can the
kernel's tuning be trusted? Built from what the sampler already knows, so it costs nothing.

Checks (each `None` when the run holds no information for it):
- `drift`: the rise of the log density across the end of each chain's run: the MCLMC settle
  window (`diagnostics["settle_drift"]`), else the second half of the draws against the first
  (`diagnostics["draws_log_density"]`, at least 4 draws). A stationary chain rises by zero in
  expectation; a chain still climbing towards the typical set (too short a warm-up) rises by
  much more than the log density's own spread. Fails when the mean rise over chains is both
  significant (`z > DRIFT_Z`, one-sided 0.1 %) and large, above `DRIFT_SCALE · √(d/2)`:
  `√(d/2)` is the standard deviation of a `d`-dimensional log density at stationarity (the
  χ²_d/2 of a Gaussian), so the rule is the same for every network and data set.
- `energy`: MCLMC's realised energy-error variance per dimension in the settle window against
  the tuner's target; fails above `ENERGY_RATIO` times the target (the step is too large for
  the geometry, so the unadjusted chain's bias is not controlled).
- `rhat`: the largest function-space split R-hat at probe inputs, with at least 4 draws per
  chain; fails above `RHAT_MAX`. Modes that differ in function keep it above 1 even for a
  sound run, so it is reported with the others and read together with them.
- `stuck`: chains whose tuned step size is more than `STUCK_RATIO` times below the chains'
  median: a tuner that drove a chain's step to its floor (seen with adjusted MCLMC from prior
  draws) leaves that chain where it was. Chains on one posterior share its geometry (every
  symmetric copy of a mode has the same), so a gap of that size is no legitimate difference
  between modes. Fails when more than `MAX_NON_FINITE` of the chains are stuck; the count is
  reported either way.
- `finite`: fails when more than `MAX_NON_FINITE` of the chains ended non-finite.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

DRIFT_Z = 3.0
DRIFT_SCALE = 0.25
ENERGY_RATIO = 10.0
RHAT_MAX = 1.1
MAX_NON_FINITE = 0.1
STUCK_RATIO = 1000.0
MIN_DRAWS = 4


@dataclass(frozen=True)
class Convergence:
    """The verdict (`converged`), the reasons it fails (`problems`, empty when converged) and
    every statistic behind it (`checks`: name -> dict of numbers, `None` for a check without
    information)."""

    converged: bool
    problems: tuple[str, ...] = ()
    checks: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["problems"] = list(self.problems)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Convergence:
        return cls(bool(d["converged"]), tuple(d.get("problems", ())), dict(d.get("checks", {})))

    def __str__(self) -> str:
        if self.converged:
            return "converged"
        return "not converged: " + "; ".join(self.problems)


def _drift_per_chain(diagnostics: dict) -> np.ndarray | None:
    if "settle_drift" in diagnostics:
        drift = np.asarray(diagnostics["settle_drift"], np.float64)
        if np.isfinite(drift).any():
            return drift
    lds = diagnostics.get("draws_log_density")
    if lds is not None:
        lds = np.asarray(lds, np.float64)
        if lds.ndim == 2 and lds.shape[1] >= MIN_DRAWS:
            half = lds.shape[1] // 2
            return lds[:, -half:].mean(axis=1) - lds[:, :half].mean(axis=1)
    return None


def drift_check(diagnostics: dict, dim: int, finite: np.ndarray) -> dict | None:
    drift = _drift_per_chain(diagnostics)
    if drift is None:
        return None
    drift = drift[finite & np.isfinite(drift)]
    if len(drift) == 0:
        return None
    mean = float(drift.mean())
    scale = math.sqrt(dim / 2.0)
    se = float(drift.std(ddof=1) / math.sqrt(len(drift))) if len(drift) > 1 else math.inf
    z = mean / se if se > 0 else (math.inf if mean > 0 else 0.0)
    ok = not (z > DRIFT_Z and mean > DRIFT_SCALE * scale)
    return {"ok": ok, "mean_rise": mean, "z": z, "stationary_sd": scale}


def energy_check(diagnostics: dict, settings: dict, finite: np.ndarray) -> dict | None:
    ev = diagnostics.get("energy_var")
    target = (settings.get("kernel_options") or {}).get("desired_energy_var")
    if ev is None or target is None:
        return None
    ev = np.asarray(ev, np.float64)[finite]
    ev = ev[np.isfinite(ev)]
    if len(ev) == 0:
        return None
    ratio = float(np.median(ev) / target)
    return {"ok": ratio <= ENERGY_RATIO, "median_ratio_to_target": ratio, "target": target}


def stuck_check(diagnostics: dict, finite: np.ndarray) -> dict | None:
    steps = diagnostics.get("step_size")
    if steps is None:
        return None
    steps = np.asarray(steps, np.float64)
    usable = finite & np.isfinite(steps) & (steps > 0)
    if not usable.any():
        return None
    median = float(np.median(steps[usable]))
    stuck = np.flatnonzero(finite & ~(steps * STUCK_RATIO >= median))
    fraction = len(stuck) / len(steps)
    return {
        "ok": fraction <= MAX_NON_FINITE,
        "stuck_chains": int(len(stuck)),
        "fraction": fraction,
        "median_step_size": median,
        "first": stuck[:10].tolist(),
    }


def rhat_check(posterior, x_probe) -> dict | None:
    if x_probe is None or posterior.num_draws < MIN_DRAWS:
        return None
    from ..predictive.diagnostics import function_space_rhat

    finite = np.asarray(posterior.diagnostics.get("finite", np.ones(posterior.num_chains, bool)))
    if finite.sum() < 1:
        return None
    sub = replace(
        posterior,
        samples=posterior.samples[finite],
        noise_std=None if posterior.noise_std is None else posterior.noise_std[finite],
        diagnostics={},
    )
    r = function_space_rhat(sub, x_probe)
    worst = float(np.nanmax(r)) if np.isfinite(r).any() else math.nan
    return {"ok": not worst > RHAT_MAX, "max": worst}


def assess(posterior, x_probe=None) -> Convergence:
    """The verdict of a `Posterior` (see the module's docstring); `x_probe (n, in)`: inputs
    for the function-space R-hat (a few dozen training inputs are plenty)."""
    diag = posterior.diagnostics
    finite = np.asarray(diag.get("finite", np.ones(posterior.num_chains, bool)), bool)
    dim = posterior.samples.shape[-1] + (posterior.noise_std is not None)
    frac_bad = float(1.0 - finite.mean()) if len(finite) else 0.0
    checks = {
        "drift": drift_check(diag, dim, finite),
        "energy": energy_check(diag, posterior.settings, finite),
        "rhat": rhat_check(posterior, x_probe),
        "stuck": stuck_check(diag, finite),
        "finite": {"ok": frac_bad <= MAX_NON_FINITE, "non_finite_fraction": frac_bad},
    }
    problems = []
    d, e, r = checks["drift"], checks["energy"], checks["rhat"]
    if d is not None and not d["ok"]:
        problems.append(
            f"the log density still rises at the end of the warm-up (by {d['mean_rise']:.3g} "
            f"per chain, {d['z']:.1f} standard errors; stationary spread {d['stationary_sd']:.3g}):"
            " lengthen the warm-up (num_warmup) or optimise the starts longer"
        )
    if e is not None and not e["ok"]:
        problems.append(
            f"the energy error is {e['median_ratio_to_target']:.3g}x the tuner's target: "
            "the step size is too large for this posterior; lengthen the tuning"
        )
    if r is not None and not r["ok"]:
        problems.append(
            f"function-space R-hat reaches {r['max']:.3g} (> {RHAT_MAX}): chains disagree on "
            "the function (distinct modes, or chains that have not mixed)"
        )
    st = checks["stuck"]
    if st is not None and not st["ok"]:
        problems.append(
            f"{st['fraction']:.0%} of the chains stopped moving (step size over "
            f"{STUCK_RATIO:g}x below the median {st['median_step_size']:.3g}): "
            "lengthen the warm-up or optimise the starts"
        )
    if not checks["finite"]["ok"]:
        problems.append(f"{frac_bad:.0%} of the chains ended non-finite")
    return Convergence(not problems, tuple(problems), checks)


class ConvergenceWarning(RuntimeWarning):
    """A run whose convergence verdict fails (see `symbnn.convergence`)."""


__all__ = ["Convergence", "ConvergenceWarning", "assess"]
