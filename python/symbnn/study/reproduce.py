"""Reproduce the study's results table (paper.md §8): per data set and network, the test LPPD
of MCMC with the study's chain count, MCMC with the exact bound's (smaller) count, a single
chain, a deep ensemble and a Laplace approximation, next to the published values, with wall
times against the study's 3.9 s per chain.

How a table is made (`reproduce`):
- Data: `DIR/NAME.data` and `DIR/splits.json` (the study's split, standardized with the whole
  data set's moments, as in `symbnn.datasets.load`). Any table in `DIR` will do: one without
  an entry in `splits.json` takes a seeded random split when a test fraction is given, and a
  data set the study did not publish gets an empty published column. `"all"` names every
  `DIR/*.data`.
- Rows per (network, data set), all on the same training split and scored on the test split:
  `mcmc` (`Budget.many_chains` chains, one draw each: the study's 1274), `mcmc_bound` (the
  exact bound's count for the same ν and confidence: 54), `single` (one chain with as many
  draws as `mcmc` has chains), `ensemble` (deep ensemble, the study's RMSProp settings) and
  `laplace` (full-Hessian Laplace around the best ensemble member).
- A `Budget` says how each row samples. `study` follows the study everywhere (NUTS, 1024
  warm-up steps: hours on two cores, as NUTS needs 140k-420k gradients per chain on these
  posteriors). `cpu` (the default) runs the two many-chain rows with the package's default
  sampler (optimised starts, then Metropolis-adjusted MCLMC: ~6,000 gradients per chain where
  NUTS needs 140k or more) and the single chain with NUTS, so that the `f1` table takes
  minutes on two cores. `mixed` keeps NUTS for the bound's chains too. `smoke` is for tests.
- Results go to `OUT/results.json` after every row (a re-run with `resume=True` skips rows
  already there), posteriors to `OUT/posteriors/`, the table to `OUT/results.md`, and for `f1`
  on the sinusoid the functional-convergence and symmetry-removal figures.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import jax
import numpy as np

from .._atomic import write_text
from ..errors import DataError, SymbnnError
from ..sampling.driver import DEFAULT_KERNEL

#: The study's networks (paper.md §5).
NETWORKS: dict[str, tuple[int, ...]] = {"f1": (3,), "f2": (16, 16, 16)}
#: The data sets of the study's table, in its order.
DATASETS = ("sinusoidal", "izmailov", "regression2d", "airfoil", "diabetes")
#: paper.md §8: (MCMC with 1274 chains, its standard error, single chain, Laplace).
PUBLISHED: dict[tuple[str, str], tuple[float, float, float, float]] = {
    ("sinusoidal", "f1"): (-0.53, 0.09, -0.56, -0.57),
    ("sinusoidal", "f2"): (-0.59, 0.12, -0.59, -2.42),
    ("izmailov", "f1"): (0.79, 0.06, 0.65, 0.53),
    ("izmailov", "f2"): (0.91, 0.09, 0.91, -1.81),
    ("regression2d", "f1"): (0.64, 0.10, 0.75, -27.39),
    ("regression2d", "f2"): (0.95, 0.08, 0.95, -2.33),
    ("airfoil", "f1"): (-0.74, 0.04, -0.80, -1.78),
    ("airfoil", "f2"): (0.92, 0.05, 0.72, -3.57),
    ("diabetes", "f1"): (-1.20, 0.07, -1.20, -1.46),
    ("diabetes", "f2"): (-1.18, 0.08, -1.22, -2.61),
}
#: The study's code: 1274 sequential NumPyro NUTS chains of f1 in 1 h 23 min.
STUDY_SECONDS_PER_CHAIN = 3.9
ROWS = ("mcmc", "mcmc_bound", "single", "ensemble", "laplace")


@dataclass(frozen=True)
class Budget:
    """How every row of one table is computed."""

    name: str
    many_chains: int = 1274  # the study's Markov-bound count for ν=3, 99 %
    many_kernel: str = "nuts"  # the `mcmc` row
    bound_kernel: str = "nuts"  # the `mcmc_bound` row
    kernel: str = "nuts"  # the `single` row
    num_warmup: int = 1024
    init: str = "prior"  # chain starts: "prior" (the study) or "ensemble" (optimised first)
    modes: int = 3  # ν of the bound
    confidence: float = 0.99
    bound_chains: int | None = None  # None: the exact bound's count for (modes, confidence)
    ensemble_members: int = 10
    epochs: int | None = None  # None: the study's 500 (one hidden layer) / 1000
    ensemble_lr: float = 1e-4  # the study's RMSProp learning rate
    laplace_draws: int = 1274
    #: kernel name -> extra options of `sample` for the rows that use that kernel
    kernel_options: dict = field(default_factory=dict)


BUDGETS: dict[str, Budget] = {
    "study": Budget("study"),
    # The package's default sampler (`sample`'s defaults) for the many-chain rows.
    "cpu": Budget("cpu", many_kernel=DEFAULT_KERNEL, bound_kernel=DEFAULT_KERNEL, init="ensemble"),
    "mixed": Budget("mixed", many_kernel=DEFAULT_KERNEL, init="ensemble"),
    "smoke": Budget(
        "smoke",
        many_chains=16,
        many_kernel=DEFAULT_KERNEL,
        bound_kernel=DEFAULT_KERNEL,
        num_warmup=64,
        bound_chains=4,
        ensemble_members=3,
        epochs=50,
        laplace_draws=64,
    ),
}


def machine() -> str:
    """A one-line description of where the numbers were measured."""
    dev = jax.devices()[0]
    name = dev.device_kind if dev.platform != "cpu" else (platform.processor() or "CPU")
    cpu = _cpu_model() or name
    where = cpu if dev.platform == "cpu" else f"{name} ({cpu} host)"
    return f"{where}, {os.cpu_count()} cores, {dev.platform}, jax {jax.__version__}"


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _timed(fn: Callable):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _row_result(posterior, data, wall_s: float, **extra) -> dict:
    from ..predictive.metrics import evaluate

    scored = posterior
    finite = posterior.diagnostics.get("finite")
    if finite is not None and not np.all(finite):
        # Non-finite chains are reported (`finite_chains`), not scored: one NaN draw would
        # make the whole mixture NaN.
        scored = posterior.select(np.asarray(finite, bool))
    m = evaluate(scored, data.x_test, data.y_test)
    out = {"lppd": m["lppd"], "lppd_se": m["lppd_se"], "rmse": m.get("rmse"), "wall_s": wall_s}
    if finite is not None:
        out["finite_chains"] = int(np.sum(finite))
    out.update(extra)
    return out


def _mcmc_row(spec, data, *, chains, draws, kernel, budget, seed, progress):
    from ..sampling.driver import sample

    post, wall = _timed(
        lambda: sample(
            spec,
            data.x_train,
            data.y_train,
            num_chains=chains,
            num_warmup=budget.num_warmup,
            num_samples=draws,
            kernel=kernel,
            init=budget.init,
            seed=seed,
            progress=progress,
            **budget.kernel_options.get(kernel, {}),
        )
    )
    compile_s = post.timings.get("compile_s")
    per_chain = wall / chains
    row = _row_result(
        post,
        data,
        wall,
        chains=chains,
        draws=draws,
        kernel=kernel,
        init=budget.init,
        warmup=budget.num_warmup,
        options=budget.kernel_options.get(kernel, {}),
        compile_s=compile_s,
        s_per_chain=per_chain,
        # The study's time for the same number of chains, over ours.
        speedup_vs_study=STUDY_SECONDS_PER_CHAIN * chains / wall,
    )
    if "num_grad_evals" in post.diagnostics:
        row["grad_evals_per_chain"] = float(np.mean(post.diagnostics["num_grad_evals"]))
    verdict = post.convergence
    row["converged"] = verdict.converged
    if not verdict.converged:
        row["convergence_problems"] = list(verdict.problems)
    return post, row


def _bound_count(budget: Budget) -> int:
    from ..chains.bound import chains_needed, halfnormal_weights

    if budget.bound_chains is not None:
        return budget.bound_chains
    return chains_needed(halfnormal_weights(budget.modes), budget.confidence, method="exact")


def run_cell(spec, data, budget: Budget, *, seed: int, rows: Sequence[str], progress: bool):
    """Yield `(row, result, posterior)` for the rows of one (network, data set) cell."""
    from .baselines import deep_ensemble

    ensemble = None
    for row in rows:
        if row == "mcmc":
            post, res = _mcmc_row(
                spec, data, chains=budget.many_chains, draws=1, kernel=budget.many_kernel,
                budget=budget, seed=seed, progress=progress,
            )  # fmt: skip
        elif row == "mcmc_bound":
            post, res = _mcmc_row(
                spec, data, chains=_bound_count(budget), draws=1, kernel=budget.bound_kernel,
                budget=budget, seed=seed, progress=progress,
            )  # fmt: skip
        elif row == "single":
            post, res = _mcmc_row(
                spec, data, chains=1, draws=budget.many_chains, kernel=budget.kernel,
                budget=budget, seed=seed, progress=progress,
            )  # fmt: skip
        elif row in ("ensemble", "laplace"):
            if ensemble is None:
                ensemble, ens_wall = _timed(
                    lambda: deep_ensemble(
                        spec, data.x_train, data.y_train, num_members=budget.ensemble_members,
                        epochs=budget.epochs, learning_rate=budget.ensemble_lr, seed=seed,
                    )
                )  # fmt: skip
            if row == "ensemble":
                post, res = ensemble, _row_result(
                    ensemble, data, ens_wall, members=budget.ensemble_members,
                    epochs=ensemble.settings["epochs"],
                )  # fmt: skip
            else:
                from .baselines import laplace

                best = int(np.argmin(ensemble.diagnostics["final_loss"]))
                mode = ensemble.samples[best, 0]
                if ensemble.noise_std is not None:
                    mode = np.append(mode, np.log(ensemble.noise_std[best, 0]))
                post, wall = _timed(
                    lambda m=mode: laplace(
                        spec, data.x_train, data.y_train, m, num_draws=budget.laplace_draws,
                        seed=seed,
                    )
                )  # fmt: skip
                res = _row_result(
                    post, data, ens_wall + wall, draws=budget.laplace_draws,
                    clipped_eigenvalues=int(post.diagnostics["clipped_eigenvalues"][0]),
                )  # fmt: skip
        else:
            raise SymbnnError(f"unknown row {row!r}; expected one of {ROWS}")
        yield row, res, post


def _check_names(given: Sequence[str], known: Sequence[str], what: str) -> list[str]:
    given = list(given)
    bad = [g for g in given if g not in known]
    if bad or not given:
        raise SymbnnError(f"unknown {what} {bad or given}; expected some of {list(known)}")
    return given


def dataset_names(data_dir: str | Path, names: Sequence[str]) -> list[str]:
    """The data sets to run: `names` as given, or for `["all"]` every `DIR/*.data` (the
    study's in its order, then the rest by name). Raises `DataError` for a missing table."""
    data_dir = Path(data_dir)
    names = list(names)
    if names == ["all"]:
        found = sorted(p.stem for p in data_dir.glob("*.data") if p.is_file())
        names = [n for n in DATASETS if n in found] + [n for n in found if n not in DATASETS]
        if not names:
            raise DataError(f"{data_dir}: no NAME.data tables in this folder")
    if not names:
        raise SymbnnError("no data sets given")
    for name in names:
        if not (data_dir / f"{name}.data").is_file():
            raise DataError(f"{data_dir / f'{name}.data'} does not exist (data set {name!r})")
    return names


def _splits(data_dir: Path) -> dict:
    path = data_dir / "splits.json"
    if not path.is_file():
        return {}
    try:
        splits = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not readable JSON ({e})") from e
    if not isinstance(splits, dict):
        raise DataError(f"{path}: expected an object mapping data set names to splits")
    return splits


def _no_split(data_dir: Path, what: str) -> DataError:
    return DataError(
        f"{data_dir / 'splits.json'} has no split for {what}: give a test fraction "
        "(--test-fraction 0.2) for a seeded random split"
    )


def load_dataset(data_dir: str | Path, name: str, *, test_fraction: float | None, seed: int):
    """`(Dataset, split description)`: `DIR/NAME.data` on its `splits.json` split, else (with
    `test_fraction`) on a random split seeded by `seed`."""
    from .. import datasets as ds

    data_dir = Path(data_dir)
    path = data_dir / f"{name}.data"
    if name in _splits(data_dir):
        return ds.load_table(path, splits=data_dir / "splits.json"), "splits.json"
    if test_fraction is None:
        raise _no_split(data_dir, repr(name))
    data = ds.load_table(path, test_fraction=test_fraction, seed=seed)
    return data, f"random, test fraction {test_fraction:g}, seed {seed}"


def published(name: str, net: str) -> dict:
    """The study's values for a cell (`None` each where it did not publish that data set)."""
    values = PUBLISHED.get((name, net), (None, None, None, None))
    return dict(zip(("mcmc", "mcmc_se", "single", "laplace"), values, strict=True))


def reproduce(
    data_dir: str | Path,
    outdir: str | Path,
    *,
    networks: Sequence[str] = ("f1",),
    datasets: Sequence[str] = DATASETS,
    test_fraction: float | None = None,
    budget: str | Budget = "cpu",
    rows: Sequence[str] = ROWS,
    seed: int = 0,
    progress: bool = True,
    resume: bool = False,
    plots: bool = True,
    log: Callable[[str], None] | None = print,
) -> dict:
    """Compute the table and write it to `outdir` (see the module docstring); returns the
    results as written to `results.json`.

    `datasets`: names of `DIR/NAME.data` tables, or `["all"]`. `test_fraction`: for tables
    without a split in `DIR/splits.json`, hold out this fraction of rows (seeded by `seed`);
    without it such tables are refused before anything runs."""
    from ..model.mlp import MLP
    from .report import write_report

    networks = _check_names(networks, list(NETWORKS), "networks")
    data_dir, outdir = Path(data_dir), Path(outdir)
    names = dataset_names(data_dir, datasets)
    rows = _check_names(rows, list(ROWS), "rows")
    if isinstance(budget, str):
        if budget not in BUDGETS:
            raise SymbnnError(f"unknown budget {budget!r}; expected one of {list(BUDGETS)}")
        budget = BUDGETS[budget]
    if test_fraction is not None and not 0.0 < test_fraction < 1.0:
        raise DataError(f"test fraction must be in (0, 1), got {test_fraction}")
    split_of = _splits(data_dir)
    lacking = [n for n in names if n not in split_of]
    if lacking and test_fraction is None:
        raise _no_split(data_dir, str(lacking))
    results_path = outdir / "results.json"
    results: dict = {}
    if resume and results_path.is_file():
        try:
            results = json.loads(results_path.read_text())
        except ValueError as e:
            raise DataError(f"{results_path}: cannot resume from it, not valid JSON: {e}") from e
    results.update(
        budget=asdict(budget),
        machine=machine(),
        seed=seed,
        study_seconds_per_chain=STUDY_SECONDS_PER_CHAIN,
    )
    cells = results.setdefault("cells", {})
    loaded = {}
    for net in networks:
        for name in names:
            if name not in loaded:
                loaded[name] = load_dataset(data_dir, name, test_fraction=test_fraction, seed=seed)
            data, split_text = loaded[name]
            spec = MLP(data.in_features, NETWORKS[net], data.y_train.shape[1])
            key = f"{net}/{name}"
            cell = cells.setdefault(key, {"network": net, "data": name, "rows": {}})
            cell["published"] = published(name, net)
            cell["split"] = split_text
            todo = [r for r in rows if r not in cell["rows"]]
            for row, res, post in run_cell(
                spec, data, budget, seed=seed, rows=todo, progress=progress
            ):
                res["machine"] = results["machine"]
                res["budget"] = budget.name  # rows kept by --resume may come from another
                cell["rows"][row] = res
                post.save(outdir / "posteriors" / f"{net}_{name}_{row}.npz")
                write_report(results_path, results)
                if log:
                    log(f"{key} {row}: LPPD {res['lppd']:.3f} ({res['wall_s']:.1f} s)")
                if plots and row == "mcmc" and net == "f1" and name == "sinusoidal":
                    figures(post, spec, outdir, bound=_bound_count(budget))
    write_text(outdir / "results.md", markdown_table(results))
    return results


def figures(posterior, spec, outdir: Path, *, bound: int | None = None) -> list[Path]:
    """The convergence figure (KL between successive PPDs as chains are added) and the
    symmetry-removal figure of an `f1` posterior."""
    from ..predictive.ppd import functional_convergence
    from ..symmetry.removal import remove_symmetries
    from .plot import plot_convergence, plot_removal, save_figure

    curve = functional_convergence(posterior)
    removal = remove_symmetries(posterior.flat_samples(), spec)
    return [
        save_figure(plot_convergence(curve, bound=bound), outdir / "convergence_f1_sinusoidal.png"),
        save_figure(
            plot_removal(posterior.flat_samples(), removal, spec),
            outdir / "removal_f1_sinusoidal.png",
        ),
    ]


def _fmt(v, digits: int = 2) -> str:
    return (
        "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"
    )


def gap_in_se(
    ours: float | None,
    ours_se: float | None,
    published: float | None,
    published_se: float | None,
):
    """(ours − published) in units of the two standard errors combined; `None` where either
    value is missing."""
    if ours is None or published is None or published_se is None:
        return None
    return (ours - published) / math.hypot(published_se, ours_se or 0.0)


def _vs(ours: str, study: float | None, study_se: float | None = None) -> str:
    """`"ours / study"`, or `ours` alone where the study published nothing."""
    if study is None:
        return ours
    se = "" if study_se is None else f" ({study_se:.2f})"
    return f"{ours} / {study:.2f}{se}"


def _lp(rows: dict, row: str) -> str:
    return _fmt(rows.get(row, {}).get("lppd"))


def _chains(rows: dict, row: str) -> str:
    if row not in rows:
        return ""
    r = rows[row]
    return f" ({r['chains']} × {r['kernel']}, {r['wall_s']:.0f} s)"


def markdown_table(results: dict) -> str:
    """The results as a markdown table: one line per cell, published values beside ours."""
    budget = results.get("budget", {})
    lines = [
        "| data | net | MCMC, many chains (wall): ours (SE) / study (SE) | gap (SE) "
        "| MCMC, bound's chains | single chain: ours / study | deep ensemble "
        "| Laplace: ours / study | RMSE (MCMC) | wall (MCMC) | speed-up vs study |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cell in results.get("cells", {}).values():
        r, pub = cell["rows"], cell["published"]
        m = r.get("mcmc", {})
        gap = gap_in_se(m.get("lppd"), m.get("lppd_se"), pub["mcmc"], pub["mcmc_se"])
        flag = " ⚠" if gap is not None and abs(gap) > 2 else ""
        many = f"{_lp(r, 'mcmc')} ({_fmt(m.get('lppd_se'))}){_chains(r, 'mcmc')}"

        lines.append(
            f"| {cell['data']} | {cell['network']} "
            f"| {_vs(many, pub['mcmc'], pub['mcmc_se'])} "
            f"| {'' if pub['mcmc'] is None else _fmt(gap, 1)}{flag} "
            f"| {_lp(r, 'mcmc_bound')}{_chains(r, 'mcmc_bound')} "
            f"| {_vs(_lp(r, 'single'), pub['single'])} | {_lp(r, 'ensemble')} "
            f"| {_vs(_lp(r, 'laplace'), pub['laplace'])} | {_fmt(m.get('rmse'))} "
            f"| {_fmt(m.get('wall_s'), 0)} s | {_fmt(m.get('speedup_vs_study'), 0)}× |"
        )
    lines += [
        "",
        f"Budget `{budget.get('name')}`: {budget.get('num_warmup')} warm-up steps; the "
        f"single chain keeps {budget.get('many_chains')} draws; deep ensemble of "
        f"{budget.get('ensemble_members')} (RMSProp, lr {budget.get('ensemble_lr')}, "
        f"{budget.get('epochs') or 'the study’s'} epochs); Laplace around its best member. "
        "Machine: "
        f"{results.get('machine')}. Speed-up: the study's "
        f"{STUDY_SECONDS_PER_CHAIN} s per chain times the chains, over our wall time "
        "(compilation included). Gap: (ours − study) / √(SE² + SE²); ⚠ above 2.",
    ]
    return "\n".join(lines) + "\n"


def with_overrides(budget: Budget, **overrides) -> Budget:
    """`budget` with the given fields replaced (None values are ignored)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(budget, **given, name=budget.name + ("*" if given else ""))


__all__ = [
    "BUDGETS",
    "DATASETS",
    "NETWORKS",
    "PUBLISHED",
    "ROWS",
    "STUDY_SECONDS_PER_CHAIN",
    "Budget",
    "dataset_names",
    "load_dataset",
    "markdown_table",
    "published",
    "reproduce",
]
