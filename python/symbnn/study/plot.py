"""Figures for a sampling run (the `plot` extra: matplotlib).

- `plot_ppd`: the posterior predictive with central credible bands over the data (1-D input).
- `plot_predictions`: predictive mean and interval against the observed test targets (any
  input dimension).
- `plot_reliability`: the reliability diagram of a classifier.
- `plot_convergence`: the study's functional-convergence curve (paper.md §6), with the chain
  count from the bound marked.
- `plot_canonicalization`: two parameters of every sample, before and after canonicalization.
- `write_run_plots`: all that apply for one run, as PNG files.

Figures are built on `matplotlib.figure.Figure` directly (no pyplot, no global backend), and
`save_figure` writes them atomically (temporary file, then rename).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from .._checks import check_inputs
from ..errors import ShapeError, UnsupportedError
from ..model import layout
from ..predictive.metrics import mean_probs, quantiles_of
from ..predictive.ppd import FunctionalConvergence, posterior_arrays, predict

_TRAIN, _TEST, _BAND, _MEAN = "#4d4d4d", "#d95f02", "#1b6ca8", "#0b3c5d"


def _figure(width: float = 7.0, height: float = 4.5):
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("symbnn's plots need matplotlib: pip install 'symbnn[plot]'") from e
    return Figure(figsize=(width, height), dpi=150, layout="constrained")


def save_figure(fig, path: str | Path) -> Path:
    """Write `fig` as a PNG at `path` atomically (a reader never sees half a file)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fig.savefig(fh, format="png")
    return Path(path)


# --- units ----------------------------------------------------------------------------------
def _to_data_units(data, what: str, a: np.ndarray) -> np.ndarray:
    """Standardized -> the data's own units when `data` carries the statistics (a `Dataset`)."""
    mean, std = getattr(data, f"{what}_mean", None), getattr(data, f"{what}_std", None)
    if mean is None or std is None:
        return a
    return a * np.asarray(std).reshape(-1)[0] + np.asarray(mean).reshape(-1)[0]


def _has_units(data) -> bool:
    return getattr(data, "x_std", None) is not None


# --- the posterior predictive -----------------------------------------------------------------
def plot_ppd(
    posterior,
    data,
    *,
    levels: Sequence[float] = (0.5, 0.9),
    num_grid: int = 200,
    title: str | None = None,
):
    """The predictive mean and central credible bands over the data, for one input and one
    output. `data` has `x_train, y_train, x_test, y_test` (standardized, as sampled); with a
    `Dataset`'s statistics the axes are in the data's own units."""
    spec, _, _ = posterior_arrays(posterior)
    if spec.in_features != 1 or spec.out_features != 1 or spec.likelihood != "gaussian":
        raise UnsupportedError(f"plot_ppd needs one input and one regression output, got {spec!r}")
    xs = [check_inputs(spec, data.x_train, "x_train"), check_inputs(spec, data.x_test, "x_test")]
    lo, hi = min(x.min() for x in xs), max(x.max() for x in xs)
    pad = 0.1 * (hi - lo if hi > lo else 1.0)
    grid = np.linspace(lo - pad, hi + pad, num_grid)[:, None]

    pred = predict(posterior, grid)
    levels = sorted(levels, reverse=True)
    q = np.concatenate([[(1 - a) / 2 for a in levels], [(1 + a) / 2 for a in levels]])
    qs = _to_data_units(data, "y", quantiles_of(pred, q)[:, :, 0])
    mean = _to_data_units(data, "y", pred.mean.mean(axis=(0, 1))[:, 0])
    gx = _to_data_units(data, "x", grid[:, 0])

    fig = _figure()
    ax = fig.add_subplot()
    for i, a in enumerate(levels):
        alpha = 0.18 + 0.22 * i / max(1, len(levels) - 1)
        ax.fill_between(
            gx,
            qs[i],
            qs[len(levels) + i],
            color=_BAND,
            alpha=alpha,
            lw=0,
            label=f"{a:.0%} credible band",
        )
    ax.plot(gx, mean, color=_MEAN, lw=2, label="predictive mean")
    for x, y, colour, marker, name in (
        (data.x_train, data.y_train, _TRAIN, "o", "train"),
        (data.x_test, data.y_test, _TEST, "D", "test"),
    ):
        ax.scatter(
            _to_data_units(data, "x", np.asarray(x)[:, 0]),
            _to_data_units(data, "y", np.asarray(y).reshape(len(x), -1)[:, 0]),
            s=16,
            color=colour,
            marker=marker,
            alpha=0.8,
            edgecolor="white",
            lw=0.4,
            label=f"{name} data ({len(x)})",
            zorder=3,
        )
    chains, draws = pred.num_chains, pred.num_draws
    name = getattr(data, "name", "data")
    ax.set_title(title or f"Posterior predictive on {name}: {chains} chains × {draws} draws")
    unit = "" if _has_units(data) else " (standardized)"
    ax.set_xlabel(f"x{unit}")
    ax.set_ylabel(f"y{unit}")
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    ax.grid(alpha=0.25)
    return fig


def plot_predictions(posterior, x, y, *, level: float = 0.9, data=None, title: str | None = None):
    """Predictive mean with its central `level` interval against the observed targets (first
    output); points on the diagonal are predicted exactly. With `data` (a `Dataset`) the axes
    are in the data's own units."""
    spec, _, _ = posterior_arrays(posterior)
    if spec.likelihood != "gaussian":
        raise UnsupportedError("plot_predictions is for regression; see plot_reliability")
    pred = predict(posterior, check_inputs(spec, x))
    y = np.asarray(y, dtype=np.float64).reshape(len(pred.mean[0, 0]), -1)[:, 0]
    qs = quantiles_of(pred, np.array([(1 - level) / 2, (1 + level) / 2]))[:, :, 0]
    mean = pred.mean.mean(axis=(0, 1))[:, 0]
    y, qs, mean = (_to_data_units(data, "y", a) for a in (y, qs, mean))
    fig = _figure(5.5, 5.0)
    ax = fig.add_subplot()
    ax.errorbar(
        y,
        mean,
        yerr=[mean - qs[0], qs[1] - mean],
        fmt="o",
        ms=3.5,
        color=_BAND,
        ecolor=_BAND,
        elinewidth=0.8,
        alpha=0.75,
        label=f"mean and {level:.0%} interval",
    )
    lim = [min(y.min(), qs[0].min()), max(y.max(), qs[1].max())]
    ax.plot(lim, lim, color=_TEST, lw=1.2, ls="--", label="perfect prediction")
    unit = "" if _has_units(data) else " (standardized)"
    ax.set_xlabel(f"observed y{unit}")
    ax.set_ylabel(f"predicted y{unit}")
    ax.set_aspect("equal", adjustable="datalim")
    name = getattr(data, "name", None)
    ax.set_title(title or f"Test predictions{f' on {name}' if name else ''} ({len(y)} points)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.25)
    return fig


def plot_reliability(posterior, x, y, *, n_bins: int = 10, title: str | None = None):
    """Reliability diagram: accuracy against confidence of the predictive, equal-width bins."""
    from ..predictive.metrics import ece_of, prepare

    pred, y = prepare(posterior, x, y)
    p = mean_probs(pred)
    conf, hit = p.max(axis=1), p.argmax(axis=1) == y
    bins = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    acc = np.bincount(bins, weights=hit, minlength=n_bins) / np.maximum(count, 1)
    edges = np.linspace(0, 1, n_bins + 1)
    fig = _figure(5.5, 5.0)
    ax = fig.add_subplot()
    ax.bar(
        edges[:-1],
        np.where(count > 0, acc, 0),
        width=1 / n_bins,
        align="edge",
        color=_BAND,
        alpha=0.7,
        edgecolor="white",
        label="accuracy in bin",
    )
    ax.plot([0, 1], [0, 1], color=_TEST, ls="--", label="perfect calibration")
    ax.set_xlabel("confidence (predictive probability of the top class)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ece = ece_of(pred, y, n_bins)
    ax.set_title(title or f"Reliability ({len(y)} points, ECE {ece:.3f})")
    ax.legend(loc="upper left", fontsize=8)
    return fig


# --- functional convergence -------------------------------------------------------------------
def plot_convergence(
    curve: FunctionalConvergence, *, bound: int | None = None, title: str | None = None
):
    """KL divergence between successive PPDs as chains are added (log scale), with the chain
    count from the bound marked when given."""
    k, kl = np.asarray(curve.num_chains), np.asarray(curve.kl)
    fig = _figure()
    ax = fig.add_subplot()
    keep = kl > 0  # a log axis cannot show exact zeros (identical chains)
    ax.plot(
        k[keep],
        kl[keep],
        color=_BAND,
        lw=1.5,
        marker="o" if len(k) <= 60 else None,
        ms=3,
        label="KL(PPD with k chains ‖ PPD with k−1)",
    )
    ax.set_yscale("log")
    if bound is not None:
        ax.axvline(bound, color=_TEST, ls="--", lw=1.5, label=f"chains from the bound: {bound}")
    if len(k) == 0:
        ax.text(0.5, 0.5, "fewer than 2 chains: no curve", ha="center", transform=ax.transAxes)
    ax.set_xlabel("number of chains k")
    ax.set_ylabel("mean KL over the x grid (nats)")
    ax.set_title(title or "Functional convergence of the posterior predictive")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3, which="major")
    ax.grid(alpha=0.08, which="minor")
    return fig


# --- canonicalization ------------------------------------------------------------------------
def param_name(spec, index: int) -> str:
    """The label of position coordinate `index` (`model.layout.param_names`, then `log σ`)."""
    names = layout.param_names(spec.sizes, log_sigma=spec.likelihood == "gaussian")
    if not 0 <= index < len(names):
        raise ShapeError(f"parameter index {index} is out of range for {spec!r}")
    return names[index]


def default_params(spec) -> tuple[int, int]:
    """The incoming and outgoing weight of the first hidden neuron: a pair on which both
    sign flips (mirrored through the origin) and permutations (copies) are visible."""
    return 0, spec.sizes[0] * spec.sizes[1] + spec.sizes[1]


def plot_canonicalization(
    before,
    after,
    *,
    names: tuple[str, str] = ("θᵢ", "θⱼ"),
    labels=None,
    title: str | None = None,
):
    """Two parameters of every sample before and after canonicalization, side by side.

    `before`, `after`: `(N, 2)` arrays (one row per sample). `labels (N,)`: optional mode
    labels to colour the samples by.
    """
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    for what, a in (("before", before), ("after", after)):
        if a.ndim != 2 or a.shape[1] != 2 or len(a) == 0:
            raise ShapeError(f"{what} must have shape (N, 2) with N >= 1, got {a.shape}")
    if before.shape != after.shape:
        raise ShapeError(f"before {before.shape} and after {after.shape} differ in shape")
    if labels is not None and np.shape(labels) != (len(before),):
        raise ShapeError(f"labels must have shape ({len(before)},), got {np.shape(labels)}")
    fig = _figure(10.0, 4.6)
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    alpha = float(np.clip(30 / np.sqrt(len(before)), 0.15, 0.9))
    for ax, pts, what in ((axes[0], before, "as sampled"), (axes[1], after, "canonicalized")):
        if labels is None:
            ax.scatter(pts[:, 0], pts[:, 1], s=10, color=_BAND, alpha=alpha, lw=0)
        else:
            for j, lab in enumerate(np.unique(labels)):
                m = np.asarray(labels) == lab
                ax.scatter(
                    pts[m, 0],
                    pts[m, 1],
                    s=10,
                    alpha=alpha,
                    lw=0,
                    color=f"C{j}",
                    label=f"mode {lab} ({m.sum()})",
                )
            ax.legend(loc="best", fontsize=8, markerscale=2)
        ax.set_title(f"{what} ({len(pts)} samples)")
        ax.set_xlabel(names[0])
        ax.axhline(0, color="grey", lw=0.6)
        ax.axvline(0, color="grey", lw=0.6)
        ax.grid(alpha=0.25)
    axes[0].set_ylabel(names[1])
    fig.suptitle(title or "Posterior marginal of two parameters, before and after canonicalization")
    return fig


def plot_removal(before, removal, spec, *, max_neurons: int = 3, title: str | None = None):
    """Bivariate marginals of the first hidden layer before and after symmetry removal, as the
    study showed them: per neuron j, (first incoming weight, bias) and (bias, first outgoing
    weight); the top row as sampled, the bottom row after `removal` (a `remove_symmetries`
    result for `before`), with the removal quality in the title."""
    d = spec.num_params
    before = np.asarray(before, dtype=float).reshape(-1, d)
    after = np.asarray(removal.samples, dtype=float).reshape(-1, d)
    if len(spec.sizes) < 3:
        raise UnsupportedError("plot_removal needs a network with a hidden layer")
    if before.shape != after.shape or len(before) == 0:
        raise ShapeError(f"before {before.shape} and removal {after.shape} must match, N >= 1")
    k = min(max_neurons, spec.sizes[1])
    fig = _figure(3.0 * 2 * k, 6.0)
    axes = np.asarray(fig.subplots(2, 2 * k)).reshape(2, 2 * k)
    alpha = float(np.clip(30 / np.sqrt(len(before)), 0.1, 0.8))
    for row, (pts, label) in enumerate([(before, "as sampled"), (after, "symmetries removed")]):
        (w0, b0), (w1, _) = spec.unflatten(pts)[:2]
        for j in range(k):
            pairs = [
                (w0[:, 0, j], b0[:, j], f"$w^{{in}}_{j}$", f"$b_{j}$"),
                (b0[:, j], w1[:, j, 0], f"$b_{j}$", f"$w^{{out}}_{j}$"),
            ]
            for c, (a, b, xl, yl) in enumerate(pairs):
                ax = axes[row, 2 * j + c]
                ax.scatter(np.asarray(a), np.asarray(b), s=4, alpha=alpha, lw=0, color=_BAND)
                ax.set_xlabel(xl)
                ax.set_ylabel(yl)
                ax.grid(alpha=0.25)
        axes[row, 0].set_title(label, loc="left")
    fig.suptitle(
        title
        or f"{len(before)} samples: removal quality {removal.quality_before:.3f} before, "
        f"{removal.quality_after:.3f} after ({removal.method})"
    )
    return fig


# --- everything for one run ------------------------------------------------------------------
def write_run_plots(
    posterior,
    dataset,
    outdir: str | Path,
    *,
    convergence: FunctionalConvergence | None = None,
    canonical=None,
    bound: int | None = None,
    params: tuple[int, int] | None = None,
    labels=None,
) -> list[Path]:
    """Write the PNGs that apply to one run into `outdir` and return their paths.

    - `ppd.png` (one input, regression) or `predictions.png` (more inputs) or `reliability.png`
      (classification), on `dataset` (`x_train, y_train, x_test, y_test`).
    - `convergence.png` when `convergence` (from `functional_convergence`) is given, marking
      `bound` (the chain count from the bound) when given.
    - `canonicalization.png` when `canonical` (the canonicalized samples, same shape as
      `posterior.samples` or `(chains * draws, d)`) is given: parameters `params` (default
      `default_params`), coloured by `labels` (mode per sample) when given.
    """
    spec, samples, _ = posterior_arrays(posterior)
    d = spec.num_params
    flat = samples.reshape(-1, d)
    if canonical is not None:
        canonical = np.asarray(canonical, dtype=float)
        if canonical.size != flat.size or canonical.shape[-1] != d:
            raise ShapeError(
                f"canonical samples {canonical.shape} do not match the posterior's {samples.shape}"
            )
    # Build every figure before writing any, so that bad input leaves no partial set.
    figures = []
    if spec.likelihood == "categorical":
        figures.append(
            ("reliability.png", plot_reliability(posterior, dataset.x_test, dataset.y_test))
        )
    elif spec.in_features == 1 and spec.out_features == 1:
        figures.append(("ppd.png", plot_ppd(posterior, dataset)))
    else:
        figures.append(
            (
                "predictions.png",
                plot_predictions(posterior, dataset.x_test, dataset.y_test, data=dataset),
            )
        )
    if convergence is not None:
        figures.append(("convergence.png", plot_convergence(convergence, bound=bound)))
    if canonical is not None:
        i, j = params if params is not None else default_params(spec)
        names = (param_name(spec, i), param_name(spec, j))
        after = canonical.reshape(-1, d)[:, [i, j]]
        figures.append(
            (
                "canonicalization.png",
                plot_canonicalization(flat[:, [i, j]], after, names=names, labels=labels),
            )
        )
    outdir = Path(outdir)
    return [save_figure(fig, outdir / name) for name, fig in figures]


__all__ = [
    "default_params",
    "param_name",
    "plot_canonicalization",
    "plot_convergence",
    "plot_ppd",
    "plot_predictions",
    "plot_reliability",
    "plot_removal",
    "save_figure",
    "write_run_plots",
]
