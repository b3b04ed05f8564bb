"""The run's report: the short summary table printed on the terminal and the `report.json`
written atomically (a reader never finds half a report)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._atomic import write_text
from ..errors import SymbnnError

# Known metric keys -> labels, in display order; other scalar keys follow under their own name.
_LABELS = {
    "lppd": "LPPD",
    "rmse": "RMSE",
    "crps": "CRPS",
    "accuracy": "accuracy",
    "nll": "NLL",
    "ece": "ECE",
    "rhat_max": "R-hat, max over x",
    "ess_bulk_min": "bulk ESS, min over x",
    "num_samples": "posterior samples",
    "num_points": "test points",
}
_HIDDEN = {"lppd_se"}  # shown next to its mean


def _format(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return "n/a"
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return str(value)


def _label(key: str) -> str:
    if key in _LABELS:
        return _LABELS[key]
    if key.startswith("coverage_"):
        return f"coverage of {key.removeprefix('coverage_')}% interval"
    return key.replace("_", " ")


def summary_table(metrics: Mapping, title: str | None = None) -> str:
    """A two-column plain-text table of the scalar entries of `metrics` (e.g. from `evaluate`,
    plus whatever the caller adds); nested dicts and lists are left to the JSON report.
    `lppd` is shown with its standard error. Returns the text without a trailing newline."""
    # Scores first (coverage after CRPS), then diagnostics and counts, then the caller's keys.
    order = list(_LABELS)
    at = order.index("crps") + 1
    order[at:at] = [k for k in metrics if k.startswith("coverage_")]
    keys = [k for k in order if k in metrics]
    keys += [k for k in metrics if k not in keys and k not in _HIDDEN]
    rows = []
    for k in keys:
        v = metrics[k]
        if isinstance(v, Mapping | list | tuple | np.ndarray):
            continue
        text = _format(v)
        if k == "lppd" and metrics.get("lppd_se") is not None:
            text = f"{text} ± {_format(metrics['lppd_se'])}"
        rows.append((_label(k), text))
    width = max([len(r[0]) for r in rows] + [6])
    vwidth = max([len(r[1]) for r in rows] + [5])
    lines = [title] if title else []
    lines.append(f"{'metric':<{width}}  {'value':>{vwidth}}")
    lines.append(f"{'-' * width}  {'-' * vwidth}")
    lines += [f"{label:<{width}}  {text:>{vwidth}}" for label, text in rows]
    return "\n".join(lines)


def to_json_ready(obj):
    """numpy scalars and arrays -> Python numbers and lists; non-finite floats -> `None`
    (strict JSON has no NaN)."""
    if isinstance(obj, Mapping):
        return {str(k): to_json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_json_ready(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


def write_report(path: str | Path, report: Mapping) -> Path:
    """Write `report` as indented strict JSON at `path`, atomically (temp file + rename)."""
    path = Path(path)
    try:
        text = json.dumps(to_json_ready(report), indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as e:
        raise SymbnnError(f"report is not JSON-serialisable: {e}") from e
    return write_text(path, text)


__all__ = ["summary_table", "to_json_ready", "write_report"]
