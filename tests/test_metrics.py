"""Top-k hits: one implementation, agreeing with the Keras metrics of the training logs."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from _tiny_models import tiny_model
from cnnzoo.pipelines.datasets import eval_dataset

from cnnzoo.evaluation import protocols
from cnnzoo.evaluation.evaluate import score_dataset
from cnnzoo.evaluation.metrics import TopKTally, score, top_k_hits


def _keras_hits(scores, labels, k):
    """Keras's own verdicts: accuracy (an arg-max) for k = 1, top-k accuracy (in_top_k) else."""
    if k == 1:
        metric = keras.metrics.sparse_categorical_accuracy(labels, scores)
    else:
        metric = keras.metrics.sparse_top_k_categorical_accuracy(labels, scores, k=k)
    return np.asarray(metric).astype(bool)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_hits_equal_keras_metrics_with_and_without_ties(k):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, size=200)
    smooth = rng.random((200, 7)).astype(np.float32)
    # Coarse scores tie often, also across the k-th place: Keras counts such ties in.
    tied = rng.integers(0, 3, size=(200, 7)).astype(np.float32)
    for scores in (smooth, tied):
        np.testing.assert_array_equal(top_k_hits(scores, labels, k), _keras_hits(scores, labels, k))


def test_a_constant_output_is_no_top1_hit_but_a_tied_top5_one():
    scores = np.full((4, 10), 0.1, np.float32)
    labels = np.array([0, 3, 7, 9])
    # The arg-max of a tie is class 0, as Keras's accuracy has it.
    assert top_k_hits(scores, labels, 1).tolist() == [True, False, False, False]
    assert top_k_hits(scores, labels, 5).all()


def test_non_finite_rows_are_misses_and_one_hot_labels_are_classes():
    scores = np.array([[0.1, 0.9, 0.0], [np.nan, 1.0, 0.0], [0.2, np.inf, 0.1]])
    labels = np.array([1, 1, 1])
    assert top_k_hits(scores, labels, 1).tolist() == [True, False, False]
    assert top_k_hits(scores, labels, 5).tolist() == [True, False, False]
    one_hot = np.eye(3)[labels]
    assert top_k_hits(scores, one_hot, 1).tolist() == [True, False, False]
    with pytest.raises(ValueError, match="expected scores"):
        top_k_hits(scores[:2], labels)


def test_a_tally_over_batches_equals_one_over_the_whole_set():
    rng = np.random.default_rng(1)
    scores, labels = rng.random((50, 12)), rng.integers(0, 12, size=50)
    losses = rng.random(50)
    tally = TopKTally()
    for batch in np.array_split(np.arange(50), 4):
        tally.add(scores[batch], labels[batch], losses[batch])
    whole = score(scores, labels)
    assert tally.result() == {**whole, "loss": pytest.approx(losses.mean())}
    assert whole["top1_correct"] == int(top_k_hits(scores, labels, 1).sum())
    assert whole["top5_error"] == pytest.approx(100 * (1 - whole["top5_correct"] / 50))
    with pytest.raises(ValueError, match="no images were evaluated"):
        TopKTally().result()


def test_cnnzoo_evaluate_and_the_protocols_count_the_same_hits():
    model = tiny_model((8, 8, 3), 6, seed=2)
    rng = np.random.default_rng(2)
    images, labels = rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8), rng.integers(0, 6, 40)
    plain = score_dataset(model, eval_dataset(images, labels, 16))
    viewed = protocols.evaluate_views(model, images, labels, views="single", batch_size=16)
    for key in ("images", "top1_correct", "top5_correct", "top1_error", "top5_error"):
        assert plain[key] == viewed[key]
    probs = model(images.astype("float32")).numpy()
    expected = keras.losses.sparse_categorical_crossentropy(labels, probs)
    assert plain["loss"] == pytest.approx(float(np.mean(expected)), rel=1e-5)
