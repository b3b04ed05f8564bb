"""`reproduce` on tables the study did not publish: `--datasets all`, random splits for tables
without an entry in splits.json, and an empty published column."""

import json

import numpy as np
import pytest

from symbnn import DataError
from symbnn.cli import main
from symbnn.study.reproduce import dataset_names, markdown_table, published


@pytest.fixture
def data_dir(tmp_path):
    """`sinusoidal.data` with a split in `splits.json`, and `bumps.data` with none."""
    rng = np.random.default_rng(1)
    d = tmp_path / "data"
    d.mkdir()
    x = rng.uniform(0, 8, 40)
    np.savetxt(d / "sinusoidal.data", np.column_stack([x, np.sin(x)]))
    perm = rng.permutation(40).tolist()
    (d / "splits.json").write_text(
        json.dumps({"sinusoidal": {"train": perm[:32], "test": perm[32:]}})
    )
    x2 = rng.normal(size=(40, 2))
    np.savetxt(d / "bumps.data", np.column_stack([x2, np.exp(-(x2**2).sum(1))]))
    (d / "notes.txt").write_text("not a table")
    return d


def test_all_names_every_table_study_order_first(data_dir):
    assert dataset_names(data_dir, ["all"]) == ["sinusoidal", "bumps"]
    assert dataset_names(data_dir, ["bumps"]) == ["bumps"]
    with pytest.raises(DataError, match="nope.data does not exist"):
        dataset_names(data_dir, ["bumps", "nope"])
    with pytest.raises(DataError, match="no NAME.data tables"):
        dataset_names(data_dir / "..", ["all"])


def test_unpublished_table_runs_with_a_random_split(tmp_path, data_dir, capsys):
    out = tmp_path / "out"
    base = ["reproduce", "--data-dir", str(data_dir), "--datasets", "all", "--budget", "smoke",
            "--rows", "mcmc", "--chains", "3", "--warmup", "10", "--quiet", "--no-plots",
            "-o", str(out)]  # fmt: skip
    # Without a test fraction a table lacking a split is refused before anything runs.
    assert main(base) == 2
    assert "no split for ['bumps']" in capsys.readouterr().err
    assert not out.exists()
    assert main([*base, "--test-fraction", "0.25"]) == 0
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert set(cells) == {"f1/sinusoidal", "f1/bumps"}
    bumps = cells["f1/bumps"]
    assert bumps["published"] == {"mcmc": None, "mcmc_se": None, "single": None, "laplace": None}
    assert bumps["split"] == "random, test fraction 0.25, seed 0"
    assert cells["f1/sinusoidal"]["split"] == "splits.json"
    assert cells["f1/sinusoidal"]["published"]["mcmc"] == -0.53
    assert np.isfinite(bumps["rows"]["mcmc"]["lppd"])
    table = (out / "results.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| bumps |"))
    assert " / " not in row  # nothing published to compare with
    assert "/ -0.53 (0.09)" in table


def test_table_leaves_unpublished_values_empty():
    assert published("protein", "f1") == dict.fromkeys(("mcmc", "mcmc_se", "single", "laplace"))
    rows = {"mcmc": {"lppd": -1.0, "lppd_se": 0.03, "wall_s": 9.0, "chains": 4, "kernel": "hmc"}}
    cell = {"network": "f1", "data": "protein", "published": published("protein", "f1")}
    table = markdown_table({"cells": {"f1/protein": {**cell, "rows": rows}}})
    line = next(x for x in table.splitlines() if x.startswith("| protein |"))
    assert line.startswith("| protein | f1 | -1.00 (0.03) (4 × hmc, 9 s) |  | – | – | – | – |")
