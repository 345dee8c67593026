"""The unravelled view of a residual network: path lengths and the gradient per path length.

Veit, Wilber, Belongie, "Residual Networks Behave Like Ensembles of Relatively
Shallow Networks", NIPS 2016 (arXiv:1605.06431), §4.2 and Fig. 6, as the survey
reads them (seed 003, §5.3.2-5.3.3). A net of n residual units has 2^n paths, one
per subset of branches taken; C(n, k) of them have length k. For n = 54
(ResNet-110) "more than 95% of paths go through 19 to 35 modules"; almost all the
gradient reaching the input comes from paths of length 5-17, 0.45% of all paths.

The gradient per length follows Veit et al.'s measurement: forward a batch through
the whole net, then backpropagate through k randomly chosen branches only (the
other n - k units pass the gradient through their shortcut only), and take the
norm of the gradient that arrives at the input. They took 1,000 measurements per
length on training batches; the default here is far fewer, to run in minutes on
a CPU (see `gradient_per_length`).
"""

from __future__ import annotations

import math

import numpy as np

# Veit et al. §4.2: "more than 95% of paths go through 19 to 35 modules" (n = 54).
TAIL = 0.025


def path_counts(n: int) -> list[int]:
    """Number of paths of each length k = 0..n through n residual units: C(n, k), summing to 2^n."""
    if n < 0:
        raise ValueError(f"the number of units must be >= 0, got {n}")
    return [math.comb(n, k) for k in range(n + 1)]


def central_interval(weights, tail: float = TAIL) -> tuple[int, int]:
    """The central interval [lo, hi] of a distribution over 0..n, by Veit et al.'s convention.

    lo is the last length whose cumulative share is still at most `tail`, hi its
    mirror from the top (0 or n where the first length already holds more). For the
    54-unit path lengths this gives Veit et al.'s 19-35 (98.0% of paths); the
    tightest interval holding 95% (`tightest_interval`) is 20-34 (96.0%), and the
    usual quantiles (first length reaching 2.5%) give 20-34 too. The same rule
    names the lengths that carry "most of the gradient".
    """
    w = np.asarray(weights, dtype=np.float64)
    share = w / w.sum()
    below = np.flatnonzero(np.cumsum(share) <= tail)
    above = np.flatnonzero(np.cumsum(share[::-1]) <= tail)
    lo = int(below[-1]) if below.size else 0
    hi = len(w) - 1 - int(above[-1]) if above.size else len(w) - 1
    return lo, hi


def tightest_interval(weights, mass: float = 1 - 2 * TAIL) -> tuple[int, int]:
    """The shortest interval [lo, hi] holding at least `mass`; of equal ones, the fullest."""
    w = np.asarray(weights, dtype=np.float64)
    cum = np.concatenate([[0.0], np.cumsum(w / w.sum())])
    candidates = []
    for lo in range(len(w)):
        reach = np.flatnonzero(cum[lo + 1 :] - cum[lo] >= mass - 1e-12)
        if reach.size:
            hi = lo + int(reach[0])
            candidates.append((hi - lo, -(cum[hi + 1] - cum[lo]), lo, hi))
    _, _, lo, hi = min(candidates)
    return lo, hi


def share(weights, lo: int, hi: int) -> float:
    """Share of the distribution's mass on lengths lo..hi."""
    w = np.asarray(weights, dtype=np.float64)
    return float(w[lo : hi + 1].sum() / w.sum())


def path_lengths(n: int) -> dict:
    """The path-length distribution of n units and its intervals, as JSON-able numbers."""
    counts = path_counts(n)
    lo, hi = central_interval(counts)
    tight = tightest_interval(counts)
    return {
        "units": n,
        "paths": 2**n,
        "counts": counts,
        "interval_95": [lo, hi],
        "interval_95_share": share(counts, lo, hi),
        "tightest_95": list(tight),
        "tightest_95_share": share(counts, *tight),
    }


def _gradient_norm_fn(model, loss_fn):
    import tensorflow as tf

    @tf.function
    def norm(images, labels, probe):
        with tf.GradientTape() as tape:
            tape.watch(probe)
            loss = tf.reduce_mean(loss_fn(labels, model([images, probe], training=False)))
        return tf.norm(tape.gradient(loss, probe))

    return norm


def gradient_per_length(
    surgery, images, labels, samples=10, batch_size=32, lengths=None, seed=0, bar=None
):
    """Norms of the gradient arriving at the input through single paths of each length.

    For each length k and each sample: a random batch (with replacement, so every
    batch has `batch_size` images and the function is traced once), k random
    residual units whose branch carries the gradient (the others pass it through
    their shortcut only), the full forward pass, and the L2 norm of the gradient of
    the batch's mean cross-entropy at the input of the first unit (the residual
    part's input, where the paths begin; the stem before it is common to all paths).

    Args:
        surgery: a `BlockSurgery` of a residual net (every unit residual).
        images, labels: the pool batches are drawn from (Veit et al.: training set).
        samples: measurements per length (Veit et al.: 1,000).
        batch_size: images per measurement.
        lengths: the k to measure (default 0..n).
        seed: seed of the batches and of the units chosen.
        bar: a progress bar to advance once per measurement.

    Returns:
        {k: list of norms}.
    """
    import keras

    plain = [b.name for b in surgery.blocks if not b.residual]
    if plain:
        raise ValueError(f"paths need residual units; {plain[:3]}... have no shortcut")
    names = surgery.gated
    lengths = range(len(names) + 1) if lengths is None else lengths
    norm = _gradient_norm_fn(
        surgery.build(probe=True), keras.losses.sparse_categorical_crossentropy
    )
    probe = np.zeros((batch_size, *surgery.blocks[0].input.shape[1:]), "float32")
    rng = np.random.default_rng(seed)
    out = {}
    for k in lengths:
        out[int(k)] = []
        for _ in range(samples):
            surgery.route_gradient(set(rng.choice(names, size=k, replace=False).tolist()))
            pick = rng.integers(0, len(images), batch_size)
            out[int(k)].append(float(norm(images[pick], labels[pick], probe)))
            if bar is not None:
                bar.add(1)
    surgery.route_gradient(None)
    return out


def gradient_summary(norms: dict, n: int) -> dict:
    """Mean per path and total per length (mean x C(n, k)), and the effective range.

    The effective range is `central_interval` of the totals (Veit et al. §4.2:
    "almost all gradient updates come from paths of length 5 to 17" for n = 54);
    its `share` of all paths is their 0.45%.
    """
    ks = sorted(norms)
    mean = [float(np.mean(norms[k])) for k in ks]
    total = [m * math.comb(n, k) for m, k in zip(mean, ks, strict=True)]
    lo, hi = central_interval(total)
    return {
        "lengths": ks,
        "mean_per_path": mean,
        "std_per_path": [float(np.std(norms[k])) for k in ks],
        "total_per_length": total,
        "effective_range": [ks[lo], ks[hi]],
        "effective_share_of_gradient": share(total, lo, hi),
        "effective_share_of_paths": share(path_counts(n), ks[lo], ks[hi]),
    }


def figure(lengths: dict, gradient: dict | None):
    """Veit et al. Fig. 6: path lengths (a), gradient per path (b) and per length (c)."""
    from cnnzoo.analysis.report import pyplot

    plt = pyplot()
    panels = 3 if gradient else 1
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.8), squeeze=False)
    ax = axes[0][0]
    ax.bar(range(lengths["units"] + 1), lengths["counts"], color="tab:blue")
    lo, hi = lengths["interval_95"]
    ax.axvspan(lo - 0.5, hi + 0.5, alpha=0.15, color="tab:orange", label=f"95%: {lo}-{hi}")
    ax.set(xlabel="path length", ylabel="number of paths", title="(a) path lengths")
    ax.legend()
    if gradient:
        ks = gradient["lengths"]
        axes[0][1].semilogy(ks, gradient["mean_per_path"], marker="o")
        axes[0][1].set(xlabel="path length", ylabel="gradient magnitude per path")
        axes[0][1].set_title("(b) gradient per path")
        axes[0][2].plot(ks, gradient["total_per_length"], marker="o")
        lo, hi = gradient["effective_range"]
        axes[0][2].axvspan(lo - 0.5, hi + 0.5, alpha=0.15, color="tab:orange", label=f"{lo}-{hi}")
        axes[0][2].set(xlabel="path length", ylabel="total gradient magnitude")
        axes[0][2].set_title("(c) total gradient per length")
        axes[0][2].legend()
    for a in axes[0]:
        a.grid(alpha=0.3)
    return fig
