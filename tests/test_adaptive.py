"""`sample(num_chains="auto")`: rounds of chains until the estimated chain count is met."""

import numpy as np
import pytest

import symbnn
from symbnn import MLP, sample


def test_auto_runs_rounds_until_the_recommendation_is_met(tmp_path):
    data = symbnn.datasets.sinusoidal()
    spec = MLP(1, (3,), 1)
    common = dict(num_warmup=30, kernel="hmc", num_integration_steps=5, progress=False)
    post = sample(
        spec, data.x_train, data.y_train, num_chains="auto", pilot_chains=4, max_chains=12,
        **common,
    )  # fmt: skip
    rounds = post.rounds
    assert rounds[0]["chains_run"] == 4
    assert post.num_chains == rounds[-1]["chains_run"] <= 12
    last = rounds[-1]
    assert last["chains_recommended"] <= post.num_chains or post.num_chains == 12
    assert post.settings["num_chains"] == "auto"
    assert post.diagnostics["finite"].shape == (post.num_chains,)
    # The same chains as one plain run: rounds continue the chain indices.
    plain = sample(spec, data.x_train, data.y_train, num_chains=post.num_chains, **common)
    np.testing.assert_allclose(post.samples, plain.samples, rtol=1e-6, atol=1e-9)
    path = post.save(tmp_path / "auto.npz")
    assert symbnn.load_posterior(path).rounds == post.rounds


def test_auto_rejects_bad_settings():
    data = symbnn.datasets.sinusoidal()
    spec = MLP(1, (3,), 1)
    with pytest.raises(symbnn.SymbnnError, match="'auto'"):
        sample(spec, data.x_train, data.y_train, num_chains="many")
    with pytest.raises(symbnn.SymbnnError, match="pilot_chains"):
        sample(spec, data.x_train, data.y_train, num_chains="auto", pilot_chains=0)
