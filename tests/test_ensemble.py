"""Deep ensembles: trained members as a Posterior with one draw each."""

import jax
import numpy as np

import symbnn
from symbnn.study.baselines import deep_ensemble


def test_deep_ensemble_trains_every_member_towards_a_mode():
    data = symbnn.datasets.sinusoidal()
    spec = symbnn.MLP(1, (3,), 1)
    post = deep_ensemble(
        spec, data.x_train, data.y_train, num_members=6, epochs=300, learning_rate=1e-2, seed=1
    )
    assert post.samples.shape == (6, 1, spec.num_params) and post.noise_std.shape == (6, 1)
    starts = jax.vmap(spec.init_position)(
        jax.vmap(lambda i: jax.random.fold_in(jax.random.key(1), i))(np.arange(6))
    )
    start_loss = -np.asarray(jax.vmap(spec.logdensity_fn(data.x_train, data.y_train))(starts))
    assert np.all(post.diagnostics["final_loss"] < start_loss)
    assert post.diagnostics["finite"].all() and post.settings["method"] == "deep_ensemble"
    assert np.isfinite(symbnn.evaluate(post, data.x_test, data.y_test)["lppd"])
