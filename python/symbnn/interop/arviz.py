"""`Posterior.to_arviz`: an `arviz.InferenceData` whose diagnostics mean something.

Raw network parameters make ArviZ's R-hat and ESS lie: chains that found the same function
in different symmetric copies (permuted or sign-flipped neurons) look like chains that
disagree (R-hat of 2-3 on a healthy run). So the parameters go out in the reference set
(`canonicalize`, one representative per orbit, sample by sample) or aligned across all samples
(`remove_symmetries`), and what never depends on the labelling goes out beside them: the
network's outputs at probe points (`f`, in the posterior group, so that `az.summary` and
`az.plot_trace` show function-space convergence) and the pointwise log likelihood of data
(`log_likelihood`, for `az.loo` and `az.waic`).
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import SymbnnError
from ..model import layout

#: `symmetries` values of `to_arviz`: the reference set, removal across samples, raw.
SYMMETRY_MODES = ("canonicalize", "remove", None)


def _parameters(posterior, symmetries, removal_options) -> tuple[np.ndarray, dict]:
    from ..symmetry.canonical import canonicalize
    from ..symmetry.removal import remove_symmetries

    if symmetries not in SYMMETRY_MODES:
        raise SymbnnError(
            f"symmetries must be 'canonicalize', 'remove' or None, got {symmetries!r}"
        )
    if removal_options and symmetries != "remove":
        raise SymbnnError("removal_options apply to symmetries='remove' only")
    if symmetries == "canonicalize":
        return canonicalize(posterior.samples, posterior.spec), {}
    if symmetries == "remove":
        removal = remove_symmetries(posterior.samples, posterior.spec, **(removal_options or {}))
        quality = {
            "removal_quality_before": removal.quality_before,
            "removal_quality_after": removal.quality_after,
        }
        return removal.samples, quality
    return np.asarray(posterior.samples), {}


def _log_likelihood(pred, y: np.ndarray) -> np.ndarray:
    """`(chains, draws, n)`: `log p(y_i | x_i, θ_s)` per sample and point (a point's outputs
    summed, matching the joint density the LPPD scores)."""
    mean = pred.mean
    if pred.likelihood == "gaussian":
        sigma = pred.noise_std[:, :, None, None]
        z = (y[None, None] - mean) / sigma
        logp = -0.5 * z**2 - np.log(sigma) - 0.5 * np.log(2.0 * np.pi)
        return logp.sum(axis=-1)
    shifted = mean - mean.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return np.take_along_axis(log_probs, y[None, None, :, None], axis=-1)[..., 0]


def to_arviz(posterior, x=None, y=None, *, symmetries="canonicalize", removal_options=None):
    """See `Posterior.to_arviz`."""
    try:
        import arviz
    except ImportError as e:
        raise ImportError(
            "Posterior.to_arviz needs arviz: pip install arviz (or symbnn[arviz])"
        ) from e
    from .._checks import check_inputs, check_targets
    from ..predictive.ppd import predict

    spec = posterior.spec
    if y is not None and x is None:
        raise SymbnnError("y needs the inputs x it belongs to")
    theta, extra_attrs = _parameters(posterior, symmetries, removal_options)
    groups: dict = {"posterior": {"theta": theta}}
    dims = {"theta": ["param"]}
    coords: dict = {"param": layout.param_names(spec.sizes)}
    if posterior.noise_std is not None:
        groups["posterior"]["noise_std"] = np.asarray(posterior.noise_std)
    if x is not None:
        x = check_inputs(spec, x)
        # The function is the same whatever the labelling of the neurons: use the raw draws.
        pred = predict(posterior, x)
        groups["posterior"]["f"] = pred.mean
        dims["f"] = ["point", "output"]
        coords["point"] = np.arange(len(x))
        coords["output"] = np.arange(spec.out_features)
        if y is not None:
            y = check_targets(spec, y, len(x))
            groups["log_likelihood"] = {"y": _log_likelihood(pred, y)}
            groups["observed_data"] = {"y": y}
            dims["y"] = ["point", "output"] if y.ndim == 2 else ["point"]
    groups["sample_stats"] = {
        name: np.repeat(np.asarray(v)[:, None], posterior.num_draws, axis=1)
        for name, v in posterior.diagnostics.items()
        if np.ndim(v) == 1
    }
    return arviz.from_dict(
        **groups,
        coords=coords,
        dims=dims,
        attrs={
            "spec": json.dumps(spec.to_dict()),
            "kernel": str(posterior.settings.get("kernel")),
            "device": str(posterior.settings.get("device")),
            "symmetries": str(symmetries),
            **extra_attrs,
        },
    )
