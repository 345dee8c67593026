"""Lesion studies on a trained residual net: delete units, delete many, reorder them.

Veit et al., NIPS 2016 (arXiv:1605.06431) §4.1-4.3 and Fig. 3-5, as the survey
reads them (seed 003, §5.3.4): deleting one unit of a trained ResNet barely
changes its test error, while deleting a layer of a VGG net brings it to chance;
the error rises smoothly as more units are deleted, and with the Kendall tau
distance when units are reordered.

The plain counterpart. Veit et al. compare with VGG-15, removing single layers
whose input and output dimensions agree. Here the comparison is with the plain
twin of the same depth (plain56 beside resnet56, He et al. Fig. 6): deleting its
unit ``conv{s}_block{b}`` (the same two 3x3 layers as the ResNet's branch) passes
the unit's input straight on, so the data can still go through and the test
measures what the removed unit was needed for, as in VGG. Plain units that change
the shape (the first of stages 3 and 4) cannot be removed, as in Veit et al.
"""

from __future__ import annotations

import numpy as np

from cnnzoo.analysis.inputs import batches, top1_error


def kendall_tau(order) -> float:
    """Kendall's tau between `order` and the identity order (1 for the identity, -1 reversed)."""
    order = list(order)
    n = len(order)
    if n < 2:
        return 1.0
    concordant = sum(1 if order[i] < order[j] else -1 for i in range(n) for j in range(i + 1, n))
    return concordant / (n * (n - 1) / 2)


def swap_pairs(surgery, swaps: int, rng) -> list[int]:
    """An order of `surgery`'s units after `swaps` swaps of random same-shape pairs."""
    blocks = surgery.blocks
    key = [(tuple(b.input.shape), tuple(b.output.shape)) for b in blocks]
    pairs = [
        (i, j) for i in range(len(blocks)) for j in range(i + 1, len(blocks)) if key[i] == key[j]
    ]
    if not pairs:
        raise ValueError("no two units of the same shapes: nothing can be reordered")
    order = list(range(len(blocks)))
    for _ in range(swaps):
        i, j = pairs[rng.integers(len(pairs))]
        order[i], order[j] = order[j], order[i]
    return order


def single_deletions(surgery, images, labels, batch_size=250, bar=None) -> dict:
    """Test error (%) with each gated unit deleted alone, and with none ("none")."""
    model = surgery.build()
    surgery.set_on({})
    errors = {"none": top1_error(model, images, labels, batch_size, bar)}
    for name in surgery.gated:
        surgery.delete([name])
        errors[name] = top1_error(model, images, labels, batch_size, bar)
    surgery.set_on({})
    return errors


def random_deletions(surgery, images, labels, draws=3, batch_size=250, seed=0, bar=None):
    """Test errors (%) with k random units deleted, k = 1..n, `draws` draws each."""
    model = surgery.build()
    rng = np.random.default_rng(seed)
    names = surgery.gated
    out = {}
    for k in range(1, len(names) + 1):
        out[k] = []
        for _ in range(draws):
            surgery.delete(rng.choice(names, size=k, replace=False).tolist())
            out[k].append(top1_error(model, images, labels, batch_size, bar))
    surgery.set_on({})
    return out


def reorderings(surgery, images, labels, max_swaps, draws=3, batch_size=250, seed=0, bar=None):
    """(Kendall tau, test error %) after 1..max_swaps random same-shape swaps, `draws` each."""
    rng = np.random.default_rng(seed)
    surgery.set_on({})
    out = []
    for swaps in range(1, max_swaps + 1):
        for _ in range(draws):
            order = swap_pairs(surgery, swaps, rng)
            error = top1_error(surgery.build(order), images, labels, batch_size, bar)
            out.append({"swaps": swaps, "kendall_tau": kendall_tau(order), "error": error})
    return out


def steps(surgery, n_images, batch_size, draws, max_swaps, plain=None) -> int:
    """Batches the whole lesion study evaluates (for its progress bar)."""
    evals = 1 + len(surgery.gated) + draws * len(surgery.gated) + draws * max_swaps
    if plain is not None:
        evals += 1 + len(plain.gated)
    return evals * batches(n_images, batch_size)


def figure(results: dict):
    """Veit et al. Fig. 3-5: single deletions (ResNet vs plain), error vs k, error vs tau."""
    from cnnzoo.analysis.report import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    # One x position per unit name, so that a plain twin (whose shape-changing units
    # cannot be deleted) lines up with the residual net unit for unit.
    units = list(dict.fromkeys(n for e in results["single"].values() for n in e if n != "none"))
    for label, errors in results["single"].items():
        names = [n for n in errors if n != "none"]
        x = [units.index(n) for n in names]
        axes[0].plot(x, [errors[n] for n in names], marker="o", label=label)
        axes[0].axhline(errors["none"], linestyle=":", color="gray")
    axes[0].set(xlabel="deleted unit", ylabel="test error (%)", title="(a) one unit deleted")
    axes[0].legend()
    ks = sorted(results["random"], key=int)
    errs = [results["random"][k] for k in ks]
    axes[1].errorbar([int(k) for k in ks], [np.mean(e) for e in errs], [np.std(e) for e in errs])
    axes[1].set(xlabel="units deleted", ylabel="test error (%)", title="(b) k units deleted")
    taus = [r["kendall_tau"] for r in results["reorder"]]
    axes[2].scatter(taus, [r["error"] for r in results["reorder"]], s=12)
    axes[2].invert_xaxis()  # Veit et al. Fig. 5: from the intact order (tau 1) to the right
    axes[2].set(xlabel="Kendall tau", ylabel="test error (%)", title="(c) units reordered")
    for ax in axes:
        ax.grid(alpha=0.3)
    return fig
