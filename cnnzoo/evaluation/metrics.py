"""Top-1 / top-5 accuracy: the one place that decides whether a prediction hits.

Every evaluation path counts hits here (`cnnzoo evaluate` through
`cnnzoo.evaluation.evaluate.score_dataset`, the papers' test protocols through
`cnnzoo.evaluation.protocols`), so their figures agree with each other and with
the Keras metrics of the training logs, whose conventions they follow:

- top-1: the arg-max is the label (of tied maxima the lowest class index wins),
  as ``keras.metrics.SparseCategoricalAccuracy`` decides;
- top-k, k > 1: fewer than k classes score strictly higher than the label, so a
  tie across the k-th place counts as a hit, as ``tf.math.in_top_k`` (behind
  ``keras.metrics.SparseTopKCategoricalAccuracy``) decides.

A row with a NaN or infinite score is a miss for every k (``in_top_k``'s rule),
so a diverged model scores zero rather than a lucky arg-max.
"""

from __future__ import annotations

import numpy as np

# Krizhevsky et al. 2012 §2: "it is customary to report two error rates: top-1 and
# top-5, where the top-5 error rate is the fraction of test images for which the
# correct label is not among the five labels considered most probable by the model".
TOP_K = 5


def class_labels(labels) -> np.ndarray:
    """Integer class labels: (N,) as they are, one-hot (or smoothed) rows (N, K) by arg-max."""
    labels = np.asarray(labels)
    return labels.argmax(axis=-1) if labels.ndim == 2 else labels.astype(np.int64)


def top_k_hits(scores, labels, k: int = TOP_K) -> np.ndarray:
    """Whether each label is among the `k` highest scores, by this module's rules.

    Args:
        scores: (N, K) posteriors, or any scores ranked the same way (logits).
        labels: (N,) integer labels, or (N, K) one-hot rows.
        k: how many of the highest scores count; k >= K makes every finite row a hit.

    Returns:
        bool array (N,).
    """
    scores = np.asarray(scores)
    labels = class_labels(labels)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(
            f"expected scores (N, K) for {len(labels)} labels, got shape {scores.shape}"
        )
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    finite = np.isfinite(scores).all(axis=-1)
    if k == 1:
        return finite & (scores.argmax(axis=-1) == labels)
    own = np.take_along_axis(scores, labels[:, None], axis=-1)
    return finite & ((scores > own).sum(axis=-1) < k)


class TopKTally:
    """Running top-1 / top-5 hit counts, and optionally a loss sum, over batches.

    ``TopKTally().add(scores, labels).result()`` scores a whole set at once;
    streaming evaluations call `add` once per batch.
    """

    def __init__(self) -> None:
        self.images = 0
        self.top1 = 0
        self.top5 = 0
        self.loss_sum: float | None = None

    def add(self, scores, labels, losses=None) -> TopKTally:
        """Count one batch: (B, K) scores, (B,) labels and, if given, (B,) per-example losses."""
        self.images += len(class_labels(labels))
        self.top1 += int(top_k_hits(scores, labels, 1).sum())
        self.top5 += int(top_k_hits(scores, labels, TOP_K).sum())
        if losses is not None:
            total = float(np.sum(np.asarray(losses, dtype=np.float64)))
            self.loss_sum = total if self.loss_sum is None else self.loss_sum + total
        return self

    def result(self) -> dict[str, float | int]:
        """The score dict: counts, accuracies as fractions and errors in percent.

        Returns:
            ``{"images", "top1_correct", "top5_correct", "top1_accuracy",
            "top5_accuracy", "top1_error", "top5_error"}``, plus ``"loss"`` (the mean
            per-example loss) when losses were added. Errors are in percent, as the
            papers and the model cards give them.
        """
        n = self.images
        if n == 0:
            raise ValueError("no images were evaluated")
        out = {
            "images": n,
            "top1_correct": self.top1,
            "top5_correct": self.top5,
            "top1_accuracy": self.top1 / n,
            "top5_accuracy": self.top5 / n,
            "top1_error": 100.0 * (1 - self.top1 / n),
            "top5_error": 100.0 * (1 - self.top5 / n),
        }
        if self.loss_sum is not None:
            out["loss"] = self.loss_sum / n
        return out


def score(scores, labels) -> dict[str, float | int]:
    """Top-1 / top-5 accuracy, error and counts of a whole set of predictions.

    Args:
        scores: (N, K) posteriors (or any scores ranked the same way).
        labels: (N,) integer labels, or one-hot rows.

    Returns:
        `TopKTally.result`'s dict.
    """
    return TopKTally().add(scores, labels).result()
