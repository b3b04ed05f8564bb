"""`symbnn canonicalize` on real files written here: flax and torch layouts, safetensors and npz,
single files and ensembles, and every bad input refused with its key named and nothing written."""

import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from symbnn import canonicalize
from symbnn.cli import main
from symbnn.symmetry.checkpoint_layout import detect_layout
from symbnn.symmetry.checkpoints import read_checkpoint

SIZES = [3, 6, 5, 2]


def flat_params(seed, sizes=SIZES):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False)))


def layers_of(theta, sizes=SIZES):
    out, off = [], 0
    for a, b in zip(sizes, sizes[1:], strict=False):
        out.append((theta[off : off + a * b].reshape(a, b), theta[off + a * b : off + a * b + b]))
        off += a * b + b
    return out


def flax_arrays(theta, sizes=SIZES, prefix="params.", dtype=np.float64):
    arrays = {}
    for i, (w, b) in enumerate(layers_of(theta, sizes)):
        arrays[f"{prefix}Dense_{i}.kernel"] = w.astype(dtype)
        arrays[f"{prefix}Dense_{i}.bias"] = b.astype(dtype)
    return arrays


def torch_arrays(theta, sizes=SIZES, dtype=np.float64):
    """`nn.Sequential(Linear, Tanh, Linear, Tanh, Linear)`: layers 0, 2, 4."""
    arrays = {}
    for i, (w, b) in enumerate(layers_of(theta, sizes)):
        arrays[f"{2 * i}.weight"] = np.ascontiguousarray(w.T, dtype=dtype)
        arrays[f"{2 * i}.bias"] = b.astype(dtype)
    return arrays


def write(path, arrays, metadata=None):
    if path.suffix == ".npz":
        np.savez(path, **arrays)
    else:
        save_file(arrays, str(path), metadata=metadata)
    return path


def read(path):
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    return load_file(str(path))


def run(*args):
    return main(["canonicalize", *map(str, args)])


# --- round trips --------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["flax", "torch"])
@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_round_trip_keeps_keys_dtypes_and_outputs(tmp_path, capsys, layout, suffix):
    theta = flat_params(0)
    make = flax_arrays if layout == "flax" else torch_arrays
    src = write(tmp_path / f"model{suffix}", make(theta))
    before = src.read_bytes()
    assert run(src, "--check") == 0
    out = capsys.readouterr().out
    assert f"{layout} layout" in out and "largest output difference" in out
    dst = tmp_path / f"model.canonical{suffix}"
    got = read(dst)
    assert sorted(got) == sorted(make(theta))  # the same keys
    if suffix == ".npz":
        assert list(got) == list(make(theta))  # in the same order (safetensors sorts them)
    for key, value in make(canonicalize(theta, (SIZES, "tanh"))).items():
        assert got[key].dtype == value.dtype and got[key].shape == value.shape
        np.testing.assert_array_equal(got[key], value)
    assert src.read_bytes() == before  # the input is untouched
    # Canonicalizing the output again changes nothing.
    again = tmp_path / f"again{suffix}"
    assert run(dst, "-o", again) == 0
    for key, value in read(again).items():
        np.testing.assert_array_equal(value, got[key])


def test_float32_relu_and_stored_metadata(tmp_path, capsys):
    theta = flat_params(1)
    arrays = flax_arrays(theta, prefix="", dtype=np.float32)
    src = write(tmp_path / "m.safetensors", arrays, metadata={"activation": "relu", "by": "me"})
    dst = tmp_path / "out" / "m.safetensors"
    assert run(src, "-o", dst, "--check") == 0
    ckpt = read_checkpoint(dst)
    assert ckpt.metadata == {"activation": "relu", "by": "me"}
    assert all(v.dtype == np.float32 for v in ckpt.arrays.values())
    want = flax_arrays(
        canonicalize(theta.astype(np.float32), (SIZES, "relu")), prefix="", dtype=np.float32
    )
    for key, value in want.items():
        np.testing.assert_array_equal(ckpt.arrays[key], value)
    # The ReLU representative: unit (incoming, bias) vectors in the first hidden layer.
    w, b = ckpt.arrays["Dense_0.kernel"], ckpt.arrays["Dense_0.bias"]
    np.testing.assert_allclose(np.sqrt((w**2).sum(0) + b**2), 1.0, rtol=1e-6)


def test_a_directory_is_an_ensemble(tmp_path, capsys):
    ens = tmp_path / "ensemble"
    (ens / "sub").mkdir(parents=True)
    for i in range(4):
        write(ens / f"member{i}.npz", torch_arrays(flat_params(10 + i)))
    write(ens / "sub" / "member4.safetensors", flax_arrays(flat_params(14)))
    (ens / "notes.txt").write_text("not a checkpoint")
    out = tmp_path / "canonical"
    assert run(ens, "-o", out, "--check") == 0
    assert "canonicalized 5 files" in capsys.readouterr().out
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "member0.npz",
        "member1.npz",
        "member2.npz",
        "member3.npz",
        "sub/member4.safetensors",
    ]
    got = read(out / "member2.npz")
    for key, value in torch_arrays(canonicalize(flat_params(12), (SIZES, "tanh"))).items():
        np.testing.assert_array_equal(got[key], value)


def test_flat_layout_and_layer_order_from_shapes(tmp_path):
    thetas = np.stack([flat_params(s) for s in range(7)])
    src = write(tmp_path / "samples.npz", {"theta": thetas, "sizes": np.array(SIZES)})
    assert run(src, "--check") == 0
    np.testing.assert_array_equal(
        read(tmp_path / "samples.canonical.npz")["theta"], canonicalize(thetas, (SIZES, "tanh"))
    )
    src2 = write(tmp_path / "flat.safetensors", {"position": thetas})
    assert run(src2, "--sizes", "3,6,5,2", "--layout", "flat") == 0
    # Names that do not sort into the right order: the shapes decide.
    (w0, b0), (w1, b1), (w2, b2) = layers_of(flat_params(3))
    named = {
        "input.w": w0,
        "input.b": b0,
        "hidden.w": w1,
        "hidden.b": b1,
        "output.w": w2,
        "output.b": b2,
    }
    layout = detect_layout(named)
    assert [layer.name for layer in layout.layers] == ["input", "hidden", "output"]
    assert layout.kind == "flax" and layout.sizes == tuple(SIZES)


def test_in_place_and_the_console_script(tmp_path):
    theta = flat_params(5)
    src = write(tmp_path / "m.npz", flax_arrays(theta))
    result = subprocess.run(
        [sys.executable, "-m", "symbnn", "canonicalize", str(src), "--in-place"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    got = read(src)
    for key, value in flax_arrays(canonicalize(theta, (SIZES, "tanh"))).items():
        np.testing.assert_array_equal(got[key], value)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary left behind


# --- bad input ------------------------------------------------------------------------------------
def refused(tmp_path, capsys, *args, match):
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert run(*args) == 2
    err = capsys.readouterr().err
    assert "error:" in err and match in err, err
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # nothing written, nothing changed
    return err


def test_non_mlp_checkpoints_are_refused_naming_the_key(tmp_path, capsys):
    theta = flat_params(0)
    conv = torch_arrays(theta) | {"conv1.weight": np.zeros((4, 3, 3, 3)), "conv1.bias": np.zeros(4)}
    src = write(tmp_path / "conv.safetensors", conv)
    refused(tmp_path, capsys, src, match="key 'conv1.")
    bn = torch_arrays(theta) | {"1.running_mean": np.zeros(6), "1.running_var": np.ones(6)}
    src = write(tmp_path / "bn.npz", bn)
    refused(tmp_path, capsys, src, match="1.running_mean")
    flax_bn = flax_arrays(theta) | {"batch_stats.BatchNorm_0.mean": np.zeros(6)}
    src = write(tmp_path / "flax_bn.npz", flax_bn)
    refused(tmp_path, capsys, src, match="BatchNorm_0")
    src = write(tmp_path / "extra.npz", flax_arrays(theta) | {"params.step": np.zeros(())})
    refused(tmp_path, capsys, src, match="params.step")
    hidden = {"0.weight": np.zeros((6, 3, 2)), "0.bias": np.zeros(6)}
    src = write(tmp_path / "3d.npz", hidden)
    refused(tmp_path, capsys, src, match="0.weight")


def test_layers_that_do_not_fit_are_refused(tmp_path, capsys):
    arrays = flax_arrays(flat_params(0))
    arrays["params.Dense_1.kernel"] = np.zeros((4, 5))  # 6 outputs feed 4 inputs
    src = write(tmp_path / "chain.npz", arrays)
    err = refused(tmp_path, capsys, src, match="chain")
    assert "params.Dense_0.kernel (3, 6)" in err  # the keys found are listed
    arrays = flax_arrays(flat_params(0))
    del arrays["params.Dense_2.bias"]
    refused(tmp_path, capsys, write(tmp_path / "nobias.npz", arrays), match="no bias")
    arrays = flax_arrays(flat_params(0))
    arrays["params.Dense_1.bias"] = np.zeros(4)
    refused(tmp_path, capsys, write(tmp_path / "bias.npz", arrays), match="params.Dense_1.bias")
    square = {"a.w": np.eye(3), "a.b": np.zeros(3), "b.w": np.eye(3), "b.b": np.zeros(3)}
    refused(tmp_path, capsys, write(tmp_path / "square.npz", square), match="--layout")
    mixed = flax_arrays(flat_params(0)) | {
        "params.Dense_3.weight": np.zeros((1, 2)),
        "params.Dense_3.bias": np.zeros(1),
    }
    refused(tmp_path, capsys, write(tmp_path / "mixed.npz", mixed), match="mix")


def test_bad_values_and_files_are_refused(tmp_path, capsys):
    theta = flat_params(0)
    theta[4] = np.inf
    refused(tmp_path, capsys, write(tmp_path / "inf.npz", flax_arrays(theta)), match="non-finite")
    samples = np.stack([flat_params(s) for s in range(3)])
    samples[2, 0] = np.nan
    src = write(tmp_path / "nan.npz", {"theta": samples, "sizes": np.array(SIZES)})
    refused(tmp_path, capsys, src, match="sample 2")
    src = write(tmp_path / "d.npz", {"theta": samples[:, :-1]})
    refused(tmp_path, capsys, src, "--sizes", "3,6,5,2", match="d = 71")
    refused(tmp_path, capsys, src, match="--sizes")
    ints = {k: v.astype(np.int32) for k, v in flax_arrays(flat_params(0)).items()}
    refused(tmp_path, capsys, write(tmp_path / "ints.npz", ints), match="int32")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, obj=np.array([{"a": 1}], dtype=object))
    refused(tmp_path, capsys, pickled, match="cannot read")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01not a safetensors file")
    refused(tmp_path, capsys, garbage, match="cannot read")
    other = tmp_path / "model.pt"
    other.write_bytes(b"whatever")
    refused(tmp_path, capsys, other, match=".safetensors or .npz")
    refused(tmp_path, capsys, tmp_path / "missing.npz", match="no such file")


def test_unsafe_outputs_are_refused(tmp_path, capsys):
    src = write(tmp_path / "m.npz", flax_arrays(flat_params(0)))
    refused(tmp_path, capsys, src, "-o", src, match="refusing to overwrite")
    refused(tmp_path, capsys, src, "-o", tmp_path / "m.safetensors", match="format")
    refused(tmp_path, capsys, src, "--in-place", "-o", tmp_path / "x.npz", match="exclude")
    ens = tmp_path / "ens"
    ens.mkdir()
    write(ens / "a.npz", flax_arrays(flat_params(1)))
    write(ens / "b.npz", flax_arrays(flat_params(2)))
    refused(tmp_path, capsys, ens, match="-o OUT_DIR")
    # One bad member: no member is written.
    write(ens / "c.npz", flax_arrays(flat_params(3)) | {"bn.running_var": np.ones(6)})
    refused(tmp_path, capsys, ens, "-o", tmp_path / "out", match="bn.running_var")
    assert not (tmp_path / "out").exists()
    # A failed --check writes nothing either (ReLU rescaling rounds; a zero tolerance fails).
    refused(
        tmp_path,
        capsys,
        src,
        "--activation",
        "relu",
        "--check",
        "--tolerance",
        "0",
        match="--check failed",
    )
    with pytest.raises(SystemExit):
        run(src, "--activation", "swish")
