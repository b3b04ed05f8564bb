"""`Posterior`: the draws of many chains, their diagnostics, and how they were made.

File format (`Posterior.save` / `load_posterior`): one `.npz` archive, loadable without pickle,
holding `samples` `(chains, draws, d)`, `noise_std` `(chains, draws)` when present, one
`diagnostics.<name>` array per diagnostic, and `metadata`: a JSON string with the spec,
settings, timings and rounds.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..errors import DataError, ShapeError, SymbnnError
from ..model.mlp import MLP

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

    @property
    def convergence(self):
        """The run's `symbnn.convergence.Convergence` verdict: the one `sample` made (with
        function-space R-hat at training inputs), else computed from the diagnostics."""
        from .convergence import Convergence, assess

        if isinstance(self.settings.get("convergence"), dict):
            return Convergence.from_dict(self.settings["convergence"])
        return assess(self)

    def flat_samples(self) -> np.ndarray:
        """`(chains * draws, d)`, chain-major."""
        return self.samples.reshape(-1, self.samples.shape[-1])

    def __repr__(self) -> str:
        bad = int(np.sum(~self.diagnostics["finite"])) if "finite" in self.diagnostics else 0
        return (
            f"Posterior({self.spec!r}, chains={self.num_chains}, draws={self.num_draws}, "
            f"kernel={self.settings.get('kernel')!r}, non_finite_chains={bad})"
        )

    def select(self, chains) -> Posterior:
        """A new `Posterior` of some chains: `chains` is a boolean mask over the chains or an
        array of chain indices. Samples, noise_std and every per-chain diagnostic are sliced;
        the rest is copied."""
        idx = np.asarray(chains)
        n = self.num_chains
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise ShapeError(f"a chain mask must have shape ({n},), got {idx.shape}")
        elif idx.dtype.kind in "iu" and idx.ndim == 1:
            if len(idx) and (idx.min() < -n or idx.max() >= n):
                raise ShapeError(
                    f"chain indices must lie in [{-n}, {n}), got {idx.min()}..{idx.max()}"
                )
        else:
            raise SymbnnError(
                f"select takes a boolean mask or a 1-D array of chain indices, got "
                f"{idx.dtype} of shape {idx.shape}"
            )
        return replace(
            self,
            samples=self.samples[idx],
            noise_std=None if self.noise_std is None else self.noise_std[idx],
            diagnostics={k: np.asarray(v)[idx] for k, v in self.diagnostics.items()},
            timings=dict(self.timings),
            settings=copy.deepcopy(self.settings),
            rounds=copy.deepcopy(self.rounds),
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
        from ..interop.arviz import to_arviz

        return to_arviz(self, x, y, symmetries=symmetries, removal_options=removal_options)


def load_posterior(path: str | os.PathLike) -> Posterior:
    """Read a file written by `Posterior.save` (never unpickles). Raises `DataError` naming the
    file and the problem."""
    from ..symmetry.checkpoints import read_npz

    return posterior_from_arrays(
        read_npz(path, DataError, "not a readable posterior archive"), os.fspath(path)
    )


def posterior_from_arrays(arrays: dict[str, np.ndarray], where: str) -> Posterior:
    """The `Posterior` held by the arrays of a posterior archive, every part checked; a
    `DataError` starting with `where` (the file) otherwise."""
    arrays = dict(arrays)
    if "metadata" not in arrays or "samples" not in arrays:
        raise DataError(f"{where}: not a symbnn posterior (missing 'metadata' or 'samples')")
    meta = _metadata(arrays.pop("metadata"), where)
    if not isinstance(meta.get("spec"), dict):
        raise DataError(f"{where}: bad spec in metadata (not a JSON object)")
    try:
        spec = MLP.from_dict(meta["spec"])
    except KeyError as e:
        raise DataError(f"{where}: bad spec in metadata (no {e})") from None
    except (TypeError, ValueError, IndexError) as e:  # SymbnnError is a ValueError
        raise DataError(f"{where}: bad spec in metadata ({e})") from None
    samples = arrays.pop("samples")
    noise_std = arrays.pop("noise_std", None)
    if samples.ndim != 3 or samples.shape[-1] != spec.num_params:
        raise DataError(
            f"{where}: samples have shape {samples.shape}, expected (chains, draws, "
            f"{spec.num_params}) for {spec!r}"
        )
    if 0 in samples.shape[:2]:
        raise DataError(f"{where}: samples of shape {samples.shape} hold no draws")
    if noise_std is not None and noise_std.shape != samples.shape[:2]:
        raise DataError(
            f"{where}: noise_std has shape {noise_std.shape}, expected {samples.shape[:2]}"
        )
    for key, value in (("samples", samples), ("noise_std", noise_std)):
        if value is not None and value.dtype.kind != "f":
            raise DataError(f"{where}: {key} hold {value.dtype} values, expected floats")
    diagnostics = {}
    for key, value in arrays.items():
        if not key.startswith(_DIAG):
            raise DataError(f"{where}: unexpected entry {key!r}")
        if value.shape[:1] != samples.shape[:1]:
            raise DataError(f"{where}: diagnostic {key!r} does not have one row per chain")
        diagnostics[key[len(_DIAG) :]] = value
    if "finite" in diagnostics and diagnostics["finite"].dtype != bool:
        raise DataError(f"{where}: diagnostic 'diagnostics.finite' is not boolean")
    return Posterior(
        spec=spec,
        samples=samples,
        noise_std=noise_std,
        diagnostics=diagnostics,
        timings=meta["timings"],
        settings=meta["settings"],
        rounds=meta["rounds"],
    )


def _metadata(value: np.ndarray, where: str) -> dict:
    """The metadata JSON object, with `timings` (seconds by name), `settings` and `rounds`
    checked and defaulted."""
    if value.shape != () or value.dtype.kind != "U":
        raise DataError(f"{where}: metadata is not a JSON string ({value.dtype}, {value.shape})")
    try:
        meta = json.loads(str(value))
    except (ValueError, RecursionError) as e:
        raise DataError(f"{where}: metadata is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{where}: metadata is a JSON {type(meta).__name__}, not an object")
    if meta.get("format") != FORMAT:
        raise DataError(f"{where}: not a symbnn posterior (format {meta.get('format')!r})")
    if meta.get("version") != VERSION or isinstance(meta.get("version"), bool):
        raise DataError(
            f"{where}: posterior format version {meta.get('version')!r} is not {VERSION}"
        )
    timings = meta.setdefault("timings", {})
    if not isinstance(timings, dict) or not all(
        isinstance(t, int | float) and not isinstance(t, bool) for t in timings.values()
    ):
        raise DataError(
            f"{where}: metadata 'timings' must map names to seconds, got {timings!r:.80}"
        )
    for key, kind in (("settings", dict), ("rounds", list)):
        meta.setdefault(key, kind())
        if not isinstance(meta[key], kind):
            raise DataError(
                f"{where}: metadata {key!r} must be a JSON {'object' if kind is dict else 'list'}"
            )
    return meta


def _json_default(o):
    """numpy scalars and arrays inside settings/rounds -> plain JSON."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"settings value of type {type(o).__name__} is not JSON-serialisable")
