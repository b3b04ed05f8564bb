"""`Posterior`: the draws of many chains, their diagnostics, and how they were made.

File format (`Posterior.save` / `load_posterior`): one `.npz` archive, loadable without pickle,
holding `samples` `(chains, draws, d)`, `noise_std` `(chains, draws)` when present, one
`diagnostics.<name>` array per diagnostic, and `metadata`: a JSON string with the spec,
settings, timings and rounds.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from .errors import DataError
from .model import MLP

FORMAT = "symbnn.posterior"
VERSION = 1
_DIAG = "diagnostics."


@dataclass
class Posterior:
    """Draws from `chains` independent chains.

    - `samples`: `(chains, draws, d)` network parameters in the flat layout of `spec`.
    - `noise_std`: `(chains, draws)` noise σ for regression; `None` for classification.
    - `diagnostics`: per-chain arrays with leading axis `chains`: `acceptance_rate`,
      `divergences`, `step_size`, `num_grad_evals`, `finite` (bool), `log_density` (at the
      last draw), `inverse_mass_matrix` `(chains, position_size)`, and what the kernel adapts.
    - `timings`: seconds, `compile_s`, `run_s`, `total_s`.
    - `settings`: how the draws were made (kernel, its options, warm-up, seed, ...), JSON-ready.
    - `rounds`: one entry per round of an adaptive chain count; `[]` otherwise.
    """

    spec: MLP
    samples: np.ndarray
    noise_std: np.ndarray | None
    diagnostics: dict[str, np.ndarray] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    rounds: list[dict] = field(default_factory=list)

    @property
    def num_chains(self) -> int:
        return self.samples.shape[0]

    @property
    def num_draws(self) -> int:
        return self.samples.shape[1]

    def flat_samples(self) -> np.ndarray:
        """`(chains * draws, d)`, chain-major."""
        return self.samples.reshape(-1, self.samples.shape[-1])

    def __repr__(self) -> str:
        bad = int(np.sum(~self.diagnostics["finite"])) if "finite" in self.diagnostics else 0
        return (
            f"Posterior({self.spec!r}, chains={self.num_chains}, draws={self.num_draws}, "
            f"kernel={self.settings.get('kernel')!r}, non_finite_chains={bad})"
        )

    # --- files ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the `.npz` archive at `path` atomically (a temporary file in the same
        folder, then a rename), creating missing parent folders. Returns the path."""
        path = Path(path)
        arrays = {"samples": np.asarray(self.samples)}
        if self.noise_std is not None:
            arrays["noise_std"] = np.asarray(self.noise_std)
        for name, value in self.diagnostics.items():
            arrays[_DIAG + name] = np.asarray(value)
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "spec": self.spec.to_dict(),
            "settings": self.settings,
            "timings": self.timings,
            "rounds": self.rounds,
        }
        arrays["metadata"] = np.asarray(json.dumps(meta, default=_json_default))
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
        return path

    # --- interop ----------------------------------------------------------------------------
    def to_arviz(self, x=None, y=None, *, symmetries="canonicalize", removal_options=None):
        """An `arviz.InferenceData` whose R-hat and ESS are not fooled by the symmetries.

        - posterior group: `theta` `(chain, draw, param)` (coordinates `w1[0,2]`, `b1[2]`, ...)
          after `symmetries`: `"canonicalize"` (default: each draw's representative in the
          reference set), `"remove"` (aligned across all draws by `remove_symmetries`, whose
          keyword arguments `removal_options` holds) or `None` (as sampled: symmetric copies
          then look like disagreeing chains); `noise_std` for regression; with inputs `x`
          `(n, in)` also `f` `(chain, draw, point, output)`, the network's outputs there (the
          logits for classification): function space, where no symmetry acts.
        - with targets `y` for `x` as well: `log_likelihood` (`y`, `(chain, draw, point)`: the
          log density of each point under each draw) and `observed_data`, for `az.loo` and
          `az.waic` (give the training data) or held-out scoring (give the test data).
        - sample_stats: the per-chain scalar diagnostics, repeated over draws.
        """
        from ._arviz import to_arviz

        return to_arviz(self, x, y, symmetries=symmetries, removal_options=removal_options)


def load_posterior(path: str | os.PathLike) -> Posterior:
    """Read a file written by `Posterior.save` (never unpickles). Raises `DataError` naming the
    file and the problem."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path}: not a readable posterior archive ({e})") from e
    if "metadata" not in arrays or "samples" not in arrays:
        raise DataError(f"{path}: not a symbnn posterior (missing 'metadata' or 'samples')")
    try:
        meta = json.loads(str(arrays.pop("metadata")))
    except ValueError as e:
        raise DataError(f"{path}: metadata is not valid JSON ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{path}: not a symbnn posterior (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise DataError(f"{path}: posterior format version {meta.get('version')} is not {VERSION}")
    try:
        spec = MLP.from_dict(meta["spec"])
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{path}: bad spec in metadata ({e})") from e
    samples = arrays.pop("samples")
    noise_std = arrays.pop("noise_std", None)
    if samples.ndim != 3 or samples.shape[-1] != spec.num_params:
        raise DataError(
            f"{path}: samples have shape {samples.shape}, expected (chains, draws, "
            f"{spec.num_params}) for {spec!r}"
        )
    if noise_std is not None and noise_std.shape != samples.shape[:2]:
        raise DataError(
            f"{path}: noise_std has shape {noise_std.shape}, expected {samples.shape[:2]}"
        )
    diagnostics = {}
    for key, value in arrays.items():
        if not key.startswith(_DIAG):
            raise DataError(f"{path}: unexpected entry {key!r}")
        if value.shape[:1] != samples.shape[:1]:
            raise DataError(f"{path}: diagnostic {key!r} does not have one row per chain")
        diagnostics[key[len(_DIAG) :]] = value
    return Posterior(
        spec=spec,
        samples=samples,
        noise_std=noise_std,
        diagnostics=diagnostics,
        timings=dict(meta.get("timings", {})),
        settings=dict(meta.get("settings", {})),
        rounds=list(meta.get("rounds", [])),
    )


def _json_default(o):
    """numpy scalars and arrays inside settings/rounds -> plain JSON."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"settings value of type {type(o).__name__} is not JSON-serialisable")
