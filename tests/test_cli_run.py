"""`symbnn run` end to end on the built-in sinusoid (few chains, short warm-up) and on a file."""

import json

import numpy as np
import pytest

from symbnn import load_posterior
from symbnn.cli import main


def test_run_writes_report_posterior_and_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    rc = main(["run", "--chains", "4", "--warmup", "40", "--quiet", "-o", str(out)])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["bound"]["markov"] == 1274 and report["bound"]["exact"] == 54
    assert report["bound"]["chains_used"] == 4
    assert np.isfinite(report["test_metrics"]["lppd"]) and report["test_metrics"]["rmse"] > 0
    assert report["modes"]["count"] >= 1
    for name in report["files"]:
        assert (out / name).stat().st_size > 1000
    assert {"ppd.png", "convergence.png", "canonicalization.png"} <= set(report["files"])
    post = load_posterior(out / "posterior.npz")
    assert post.samples.shape == (4, 1, 10)
    assert "LPPD" in capsys.readouterr().out


def test_run_on_a_data_file(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (60, 2))
    table = np.column_stack([x, x[:, 0] * np.sin(x[:, 1]) + 0.1 * rng.normal(size=60)])
    path = tmp_path / "toy.data"
    np.savetxt(path, table)
    out = tmp_path / "out"
    argv = ["run", "--data", str(path), "--hidden", "4", "--chains", "3", "--warmup", "20"]
    assert main([*argv, "--quiet", "--no-plots", "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["data"] == {"name": "toy", "train": 48, "test": 12}
    assert report["spec"]["sizes"] == [2, 4, 1]


def test_run_refuses_a_bad_file_without_writing(tmp_path, capsys):
    path = tmp_path / "bad.data"
    path.write_text("1 2\n3\n")
    out = tmp_path / "out"
    assert main(["run", "--data", str(path), "--quiet", "-o", str(out)]) == 2
    assert "line 2" in capsys.readouterr().err
    assert not out.exists()
