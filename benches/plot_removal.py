"""Bivariate marginals of an `f1` posterior ([1, 3, 1], tanh) before and after symmetry removal,
as the study showed them: per hidden neuron j, (incoming weight, bias) and (bias, outgoing
weight), one row before removal and one after, with the quality numbers in the title.

    python benches/plot_removal.py [SAMPLES] [OUT.png]

SAMPLES: an .npy of shape (N, 10) (e.g. MCMC draws), or a `symbnn.Posterior` .npz; default:
planted samples as in bench_removal.py. OUT defaults to removal_f1.png.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from symbnn import MLP, load_posterior, remove_symmetries  # noqa: E402
from symbnn.symmetry.planted import plant_modes  # noqa: E402

F1 = MLP(1, (3,), 1)


def load(path):
    if path is None:
        theta, _, _ = plant_modes(F1, (0.567, 0.35, 0.083), 1274, noise=0.15, scale=1.5)
        return theta, "planted, 3 modes"
    if path.endswith(".npz"):
        post = load_posterior(path)
        return post.flat_samples(), path
    return np.load(path, allow_pickle=False).reshape(-1, F1.num_params), path


def main(argv):
    theta, source = load(argv[1] if len(argv) > 1 and argv[1] else None)
    out = argv[2] if len(argv) > 2 else "removal_f1.png"
    r = remove_symmetries(theta, F1)
    fig, axes = plt.subplots(2, 6, figsize=(18, 6), constrained_layout=True)
    for row, (x, label) in enumerate([(theta, "before"), (r.samples, "after")]):
        (w0, b0), (w1, _) = F1.unflatten(np.asarray(x))
        for j in range(3):
            pairs = [
                (w0[:, 0, j], b0[:, j], f"$w^{{in}}_{j}$", f"$b_{j}$"),
                (b0[:, j], w1[:, j, 0], f"$b_{j}$", f"$w^{{out}}_{j}$"),
            ]
            for c, (a, b, xl, yl) in enumerate(pairs):
                ax = axes[row, 2 * j + c]
                ax.scatter(a, b, s=3, alpha=0.4)
                ax.set_xlabel(xl)
                ax.set_ylabel(yl)
                if c == 0 and j == 0:
                    ax.set_title(label, loc="left")
    fig.suptitle(
        f"f1, {len(theta)} samples ({source}): quality {r.quality_before:.3f} before, "
        f"{r.quality_after:.3f} after"
    )
    fig.savefig(out, dpi=110)
    print(f"wrote {out}: quality {r.quality_before:.4f} -> {r.quality_after:.4f}")


if __name__ == "__main__":
    main(sys.argv)
