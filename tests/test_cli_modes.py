"""`symbnn modes` on a posterior .npz and on checkpoint ensembles (flax and torch layouts)."""

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from symbnn import MLP, CheckpointError, Posterior
from symbnn.cli import main
from symbnn.symmetry.checkpoints import read_ensemble, read_network
from symbnn.symmetry.planted import plant_modes


def _run(capsys, *argv):
    code = main(["modes", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_posterior_npz(tmp_path, capsys):
    spec = MLP(1, (3,), 1)
    theta, _, _ = plant_modes(spec, (0.567, 0.35, 0.083), 300, noise=0.02, seed=0)
    path = tmp_path / "posterior.npz"
    samples = theta.reshape(300, 1, -1)
    Posterior(spec, samples, np.ones((300, 1)), settings={"kernel": "nuts"}).save(path)
    code, out, _ = _run(capsys, path, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["num_modes"] == 3 and report["num_samples"] == 300
    np.testing.assert_allclose(report["weights"], [0.567, 0.35, 0.083], atol=0.01)
    assert report["chains_needed"] >= 50
    code, out, _ = _run(capsys, path, "--space", "parameter")
    assert code == 0 and "3 functionally distinct modes" in out and "mode 2: weight" in out


def _ensemble(spec, n):
    theta, truth, _ = plant_modes(spec, (0.5, 0.5), n, noise=0.01, seed=1)
    return [spec.unflatten(t) for t in theta], truth


def test_checkpoint_directories_in_both_layouts(tmp_path, capsys):
    spec = MLP(2, (4, 3), 1)
    members, _ = _ensemble(spec, 12)
    flax, torch = tmp_path / "flax", tmp_path / "torch"
    flax.mkdir()
    torch.mkdir()
    for i, layers in enumerate(members):
        np.savez(
            flax / f"m{i:02d}.npz",
            **{f"params/Dense_{j}/kernel": w for j, (w, b) in enumerate(layers)},
            **{f"params/Dense_{j}/bias": b for j, (w, b) in enumerate(layers)},
        )
        tensors = {}
        for j, (w, b) in enumerate(layers):
            tensors[f"net.layers.{j}.weight"] = np.ascontiguousarray(w.T).astype(np.float32)
            tensors[f"net.layers.{j}.bias"] = b.astype(np.float32)
        save_file(tensors, str(torch / f"m{i:02d}.safetensors"))
    for directory in (flax, torch):
        theta, read_spec = read_ensemble(directory)
        assert read_spec.sizes == spec.sizes and theta.shape == (12, spec.num_params)
        code, out, _ = _run(capsys, directory, "--json")
        report = json.loads(out)
        assert code == 0 and report["num_modes"] == 2 and report["counts"] == [6, 6]
    # One checkpoint file on its own is an ensemble of one.
    code, out, _ = _run(capsys, flax / "m00.npz", "--json")
    assert json.loads(out)["num_samples"] == 1


def test_broken_inputs_are_reported(tmp_path, capsys):
    code, _, err = _run(capsys, tmp_path / "missing.npz")
    assert code == 2 and "no such file" in err
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, tmp_path / "empty")
    assert code == 2 and "no .npz or .safetensors" in err
    np.savez(tmp_path / "junk.npz", something=np.zeros(3))
    code, _, err = _run(capsys, tmp_path / "junk.npz")
    assert code == 2 and "layer sizes are unknown" in err
    np.savez(
        tmp_path / "gap.npz",
        **{"Dense_0/kernel": np.zeros((2, 3)), "Dense_0/bias": np.zeros(3)},
        **{"Dense_1/kernel": np.zeros((4, 1)), "Dense_1/bias": np.zeros(1)},
    )
    with pytest.raises(CheckpointError, match="gap.npz: the layer shapes do not chain"):
        read_network(tmp_path / "gap.npz")
