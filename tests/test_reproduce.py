"""`symbnn reproduce`: the table end to end on a generated study-format folder, resuming, bad
input, the Laplace approximation's covariance and the gap arithmetic."""

import json

import jax
import numpy as np
import pytest

from symbnn import MLP, datasets
from symbnn.cli import main
from symbnn.study.baselines import laplace
from symbnn.study.reproduce import PUBLISHED, ROWS, gap_in_se, markdown_table


@pytest.fixture
def data_dir(tmp_path):
    """`sinusoidal.data` and `splits.json` in the study's format, from our generator."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 8, 60)
    table = np.column_stack([x, np.sin(x) + 0.3 * rng.normal(size=60)])
    d = tmp_path / "data"
    d.mkdir()
    np.savetxt(d / "sinusoidal.data", table)
    perm = rng.permutation(60).tolist()
    (d / "splits.json").write_text(
        json.dumps({"sinusoidal": {"train": perm[:48], "test": perm[48:]}})
    )
    return d


def test_reproduce_writes_the_table_and_resumes(tmp_path, data_dir, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    argv = ["reproduce", "--data-dir", str(data_dir), "--datasets", "sinusoidal", "--budget",
            "smoke", "--chains", "6", "--warmup", "24", "--quiet", "-o", str(out),
            "--option", "adjusted_mclmc:target_accept=0.8"]  # fmt: skip
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    cell = results["cells"]["f1/sinusoidal"]
    assert set(cell["rows"]) == set(ROWS)
    assert cell["published"]["mcmc"] == PUBLISHED[("sinusoidal", "f1")][0]
    rows = cell["rows"]
    assert rows["mcmc"]["chains"] == 6 and rows["mcmc"]["kernel"] == "adjusted_mclmc"
    assert rows["mcmc"]["options"] == {"target_accept": 0.8}
    assert rows["single"]["options"] == {}
    assert rows["mcmc_bound"]["chains"] == 4 and rows["mcmc_bound"]["kernel"] == "adjusted_mclmc"
    assert rows["single"]["chains"] == 1 and rows["single"]["draws"] == 6
    assert rows["single"]["kernel"] == "nuts"
    for row in ROWS:
        assert np.isfinite(rows[row]["lppd"]) and rows[row]["wall_s"] > 0
        assert (out / "posteriors" / f"f1_sinusoidal_{row}.npz").is_file()
    for fig in ("convergence_f1_sinusoidal.png", "removal_f1_sinusoidal.png"):
        assert (out / fig).stat().st_size > 1000
    table = (out / "results.md").read_text()
    assert "| sinusoidal | f1 |" in table and "-0.53 (0.09)" in table
    assert table in capsys.readouterr().out
    # Resuming finds every row done: nothing is sampled again.
    stamp = (out / "posteriors" / "f1_sinusoidal_mcmc.npz").stat().st_mtime_ns
    assert main([*argv, "--resume", "--no-plots"]) == 0
    assert (out / "posteriors" / "f1_sinusoidal_mcmc.npz").stat().st_mtime_ns == stamp
    assert json.loads((out / "results.json").read_text())["cells"] == results["cells"]


def test_reproduce_bad_input(tmp_path, data_dir, capsys):
    out = tmp_path / "out"
    base = ["reproduce", "--data-dir", str(data_dir), "--quiet", "-o", str(out)]
    assert main([*base, "--datasets", "airfoil"]) == 2
    assert "airfoil.data does not exist" in capsys.readouterr().err
    assert main([*base, "--networks", "f3"]) == 2
    assert "unknown networks ['f3']" in capsys.readouterr().err
    assert main([*base, "--option", "desired_energy_var=1"]) == 2
    assert "expected KERNEL:KEY=VALUE" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()
    (out / "results.json").write_text("{broken")
    assert main([*base, "--datasets", "sinusoidal", "--resume"]) == 2
    assert "cannot resume from it" in capsys.readouterr().err


def test_laplace_draws_follow_the_inverse_hessian():
    spec = MLP(2, [], 1, activation="identity")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 2))
    y = x @ np.array([0.5, -1.0]) + 0.3 + 0.4 * rng.normal(size=40)
    mode = np.array([0.5, -1.0, 0.3, np.log(0.4)])
    post = laplace(spec, x, y, mode, num_draws=40_000, seed=0)
    draws = np.column_stack([post.samples[:, 0], np.log(post.noise_std[:, 0])])
    h = -np.asarray(jax.hessian(spec.logdensity_fn(x, y))(mode))
    cov = np.linalg.inv(h)
    assert post.diagnostics["clipped_eigenvalues"][0] == 0
    se = np.sqrt(np.diag(cov) / len(draws))
    assert np.all(np.abs(draws.mean(0) - mode) < 5 * se)
    np.testing.assert_allclose(np.cov(draws.T), cov, rtol=0.05, atol=0.05 * np.max(np.diag(cov)))


def test_laplace_clips_negative_curvature():
    # Far from any mode of a tanh net the Hessian is indefinite: clipped, draws stay finite.
    spec = MLP(1, [3], 1)
    d = datasets.sinusoidal(n=40)
    post = laplace(spec, d.x_train, d.y_train, np.full(spec.position_size, 2.0), num_draws=50)
    assert post.diagnostics["clipped_eigenvalues"][0] > 0
    assert np.all(np.isfinite(post.samples)) and np.all(post.noise_std > 0)


def test_gap_and_table_formatting():
    assert gap_in_se(-0.53, 0.0, -0.53, 0.09) == 0.0
    assert gap_in_se(-0.23, 0.4, -0.53, 0.3) == pytest.approx(0.6)
    assert gap_in_se(None, None, -0.53, 0.09) is None
    results = {
        "budget": {"name": "cpu", "num_warmup": 1024, "many_chains": 1274},
        "machine": "test machine",
        "cells": {
            "f1/airfoil": {
                "network": "f1",
                "data": "airfoil",
                "published": {"mcmc": -0.74, "mcmc_se": 0.04, "single": -0.8, "laplace": -1.78},
                "rows": {
                    "mcmc": {
                        "lppd": -1.0,
                        "lppd_se": 0.03,
                        "rmse": 0.5,
                        "wall_s": 100.0,
                        "speedup_vs_study": 49.7,
                        "chains": 1274,
                        "kernel": "mclmc",
                    }
                },
            }  # fmt: skip
        },
    }
    table = markdown_table(results)
    assert "-1.00 (0.03) (1274 × mclmc, 100 s) / -0.74 (0.04)" in table
    assert "-5.2 ⚠" in table and "| – / -0.80 |" in table and "test machine" in table
