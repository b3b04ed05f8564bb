"""The terminal summary table and the atomic, strict-JSON report."""

import json

import numpy as np
import pytest

from symbnn import SymbnnError, summary_table, write_report


def test_summary_table():
    metrics = {
        "num_points": 30,
        "lppd": -0.53137,
        "lppd_se": 0.0912,
        "rmse": 0.41234,
        "crps": 0.2,
        "coverage_50": 0.5,
        "coverage_97.5": 1.0,
        "rhat_max": None,
        "chains": np.int64(54),
        "settled_at": 12,
        "curve": {"kl": [1.0]},
        "kls": [0.1, 0.2],
        "kernel": "nuts",
        "run_s": 1234567.0,
        "finite": True,
    }
    text = summary_table(metrics, title="sinusoidal")
    lines = text.splitlines()
    assert lines[0] == "sinusoidal" and lines[1].startswith("metric")
    labels = [line.split("  ")[0] for line in lines[3:]]
    assert labels == [
        "LPPD",
        "RMSE",
        "CRPS",
        "coverage of 50% interval",
        "coverage of 97.5% interval",
        "R-hat, max over x",
        "test points",
        "chains",
        "settled at",
        "kernel",
        "run s",
        "finite",
    ]
    assert "-0.5314 ± 0.0912" in lines[3]
    assert lines[8].endswith("n/a") and lines[-1].endswith("yes")
    assert "1.235e+06" in text and "curve" not in text
    assert len({len(line) for line in lines[1:]}) == 1  # aligned columns


def test_write_report(tmp_path):
    path = write_report(
        tmp_path / "run" / "report.json",
        {
            "lppd": np.float64(-0.5),
            "se": float("nan"),
            "kl": np.arange(3.0),
            "chains": np.int32(3),
            "ok": np.bool_(True),
            "where": tmp_path,
        },
    )
    data = json.loads(path.read_text())
    assert data == {
        "lppd": -0.5,
        "se": None,
        "kl": [0.0, 1.0, 2.0],
        "chains": 3,
        "ok": True,
        "where": str(tmp_path),
    }
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_write_report_refuses_what_json_cannot_hold(tmp_path):
    with pytest.raises(SymbnnError, match="JSON"):
        write_report(tmp_path / "report.json", {"x": object()})
    assert list(tmp_path.iterdir()) == []
