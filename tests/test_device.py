"""Where sampling ran: printed at the start of a run, kept in `Posterior.settings["device"]`,
shown by `symbnn run`; and the GPU extras track the pinned JAX."""

import tomllib
from pathlib import Path

import jax
import numpy as np
import pytest

import symbnn
from symbnn.cli import main

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_sample_prints_and_keeps_its_device(capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 1))
    post = symbnn.sample(
        symbnn.MLP(1, (2,), 1), x, np.sin(x), num_chains=2, num_warmup=5, kernel="hmc",
        num_integration_steps=2, progress=True,
    )  # fmt: skip
    dev = jax.devices()[0]
    want = f"{dev.platform}: {dev.device_kind} × {len(jax.devices())}"
    assert post.settings["device"] == want
    assert f"symbnn.sample: 2 chains of hmc on {want}" in capsys.readouterr().err
    post = symbnn.sample(
        symbnn.MLP(1, (2,), 1), x, np.sin(x), num_chains=2, num_warmup=5, kernel="hmc",
        num_integration_steps=2, progress=False, devices=jax.devices()[:1],
    )  # fmt: skip
    assert post.settings["device"] == f"{dev.platform}: {dev.device_kind} × 1"
    assert "symbnn.sample" not in capsys.readouterr().err


def test_run_summary_names_the_device(tmp_path, capsys):
    argv = ["run", "--chains", "2", "--warmup", "5", "--kernel", "hmc", "--quiet", "--no-plots",
            "-o", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("device "))
    dev = jax.devices()[0]
    assert line.endswith(f"{dev.platform}: {dev.device_kind} × {len(jax.devices())}")


def test_cuda_extras_pin_the_same_jax():
    if not PYPROJECT.is_file():
        pytest.skip("run from an installed wheel: no pyproject.toml next to the tests")
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    jax_pin = next(d for d in project["dependencies"] if d.startswith("jax>="))
    pin = jax_pin.removeprefix("jax")
    extras = project["optional-dependencies"]
    for cuda in ("cuda12", "cuda13"):
        assert extras[cuda] == [f"jax[{cuda}]{pin}"]
