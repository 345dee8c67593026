"""What the training loop reads: in-memory datasets (CIFAR-10, MNIST) or image folders.

`cnnzoo fit` needs the same few things from either kind of source: the input
shape and classes, images for the preprocessing statistics, an infinite training
stream that can start at any epoch (for exact resumption), and batched
validation and test sets. `TrainingInputs` holds them; `array_inputs` and
`folder_inputs` build them, so the loop itself does not care where images come from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from cnnzoo.pipelines import datasets as pipe
from cnnzoo.pipelines.sources import ArrayDataset
from cnnzoo.training.recipe import Recipe

# Images of a folder whose statistics (means, PCA colour basis) the run computes at
# its start: enough for the per-channel figures to settle, spread over the classes.
STATS_SAMPLE = 2000
# Centre-crop evaluation resizes the shorter side to crop / 0.875 (224 -> 256), the
# usual ratio of the papers' single-crop numbers.
CROP_FRACTION = 0.875


@dataclasses.dataclass
class TrainingInputs:
    """A run's data, whatever its source.

    Attributes:
        name: dataset name (or the folder's path) for the model's metadata.
        class_names: class names in label order.
        input_shape: (H, W, C) of the images the model sees (before its padding).
        n_train: training images (one epoch).
        stats_images: uint8 images the preprocessing statistics come from.
        train_stream: ``start_epoch -> infinite dataset`` of augmented batches.
        val: batched validation set (what the curves and plateau schedules watch).
        test: batched test set.
        n_test: images in `test`.
        val_is_test: whether `val` is the test set itself (no held-out split):
            fine for the papers' test curves, never for selecting a model.
    """

    name: str
    class_names: tuple[str, ...]
    input_shape: tuple[int, int, int]
    n_train: int
    stats_images: np.ndarray
    train_stream: Callable[[int], tf.data.Dataset]
    val: tf.data.Dataset
    test: tf.data.Dataset
    n_test: int
    val_is_test: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def split_data(recipe: Recipe, data: ArrayDataset, seed: int):
    """Training, validation and test arrays for a recipe.

    Returns:
        (train, val, test) as (images, labels) pairs; `val` is the recipe's
        held-out part of the training set, or the test set when val_split is 0
        (the papers' curves plot test error).
    """
    train, val = pipe.split_validation(*data.train, recipe.evaluation.val_split, seed=seed)
    return train, (val if val is not None else data.test), data.test


def limit_examples(arrays, n: int | None):
    """The first `n` (images, labels), or all of them when `n` is None."""
    return arrays if n is None else (arrays[0][:n], arrays[1][:n])


def array_inputs(
    recipe: Recipe, data: ArrayDataset, seed: int, max_eval_images: int | None = None
) -> TrainingInputs:
    """Inputs from an in-memory dataset: the recipe's validation split, pad-crop-flip."""
    train, val, _ = split_data(recipe, data, seed)
    eval_batch = recipe.data.batch_size * 2
    test = limit_examples(data.test, max_eval_images)

    def stream(start_epoch: int) -> tf.data.Dataset:
        return pipe.train_dataset(
            *train,
            recipe.data.batch_size,
            seed=seed,
            start_epoch=start_epoch,
            augment=recipe.data.augment,
            pad=recipe.data.augment_pad,
            flip=recipe.data.augment_flip,
            affine=recipe.data.affine,
        )

    return TrainingInputs(
        name=data.name,
        class_names=tuple(data.class_names),
        input_shape=tuple(data.input_shape),
        n_train=len(train[0]),
        stats_images=train[0],
        train_stream=stream,
        val=pipe.eval_dataset(*limit_examples(val, max_eval_images), eval_batch),
        test=pipe.eval_dataset(*test, eval_batch),
        n_test=len(test[0]),
        val_is_test=recipe.evaluation.val_split == 0,
    )


def center_view(size: int) -> Callable:
    """``image -> float32 (size, size, 3)``: shorter side to size / 0.875, centre crop."""
    from cnnzoo.pipelines.imagenet_augment import center_crop, resize_shorter_side

    side = round(size / CROP_FRACTION)

    def view(image, label):
        image = center_crop(resize_shorter_side(image, side), size)
        return tf.cast(image, tf.float32), label

    return view


def prefetch_to_accelerator(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Stage the next batches on the first GPU while the current one trains, if there is one.

    Without a GPU (this project's machines) the dataset is returned as it is: the
    host-side `prefetch` of the pipelines already overlaps input with compute.
    """
    gpus = tf.config.list_logical_devices("GPU")
    if not gpus:
        return ds
    return ds.apply(tf.data.experimental.prefetch_to_device(gpus[0].name, buffer_size=2))


def _stats_sample(index, view) -> np.ndarray:
    """Centre views of every k-th training file, so the statistics see all classes."""
    from cnnzoo.pipelines.folder_source import folder_dataset

    step = max(1, len(index) // STATS_SAMPLE)
    sample = dataclasses.replace(
        index, paths=index.paths[::step][:STATS_SAMPLE], labels=index.labels[::step][:STATS_SAMPLE]
    )
    views = folder_dataset(sample).map(view).as_numpy_iterator()
    return np.stack([np.asarray(x, np.uint8) for x, _ in views])


def _folder_augment(kind: str, crop: int, stats_images: np.ndarray, view) -> Callable:
    """The recipe's image augmentation, or a centre view and a flip when it names none."""
    from cnnzoo.pipelines import imagenet_augment as aug

    if kind:
        pca = aug.compute_pca(stats_images) if kind != "inception" else None
        return aug.make_augment(kind, size=crop, pca=pca)

    def augment(image, seed_pair):
        image = view(image, 0)[0]
        return tf.image.stateless_random_flip_left_right(image, seed_pair)

    return augment


def folder_inputs(
    recipe: Recipe,
    root: str | Path,
    crop: int,
    seed: int,
    max_eval_images: int | None = None,
) -> TrainingInputs:
    """Inputs from ``root/train/<class>/`` and ``root/val/<class>/`` image trees.

    Training images get the recipe's `image_augment` (`_folder_augment`); validation
    and test are the val tree's centre views, as the papers' single-crop figures are.

    Args:
        recipe: the resolved recipe.
        root: the directory holding ``train`` and ``val``.
        crop: the model's input side (224, 227 or 299).
        seed: the run's seed (epoch order and augmentation).
        max_eval_images: validate and test on the first N val images only.
    """
    from cnnzoo.pipelines import imagenet_augment as aug
    from cnnzoo.pipelines.folder_source import folder_dataset, folder_epoch
    from cnnzoo.pipelines.sources import train_val_folders

    root = Path(root)
    train_index, val_index = train_val_folders(root)
    view = center_view(crop)
    stats_images = _stats_sample(train_index, view)
    augment = _folder_augment(recipe.data.image_augment, crop, stats_images, view)

    def stream(start_epoch: int) -> tf.data.Dataset:
        epochs = folder_epoch(train_index, seed=seed)
        return aug.train_stream(
            epochs, augment, recipe.data.batch_size, seed=seed, start_epoch=start_epoch
        )

    def evaluation(n: int | None) -> tf.data.Dataset:
        ds = folder_dataset(val_index)
        n = len(val_index) if n is None else min(n, len(val_index))
        # The decoder's error handling hides the size from tf.data; Keras, when it
        # cannot see it, warns of "running out of data" at each validation's end.
        ds = ds.take(n).apply(tf.data.experimental.assert_cardinality(n))
        ds = ds.map(view, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(recipe.data.batch_size * 2).prefetch(tf.data.AUTOTUNE)

    n_test = len(val_index) if max_eval_images is None else min(len(val_index), max_eval_images)
    return TrainingInputs(
        name=str(root),
        class_names=train_index.class_names,
        input_shape=(crop, crop, 3),
        n_train=len(train_index),
        stats_images=stats_images,
        train_stream=stream,
        val=evaluation(max_eval_images),
        test=evaluation(max_eval_images),
        n_test=n_test,
        # The papers' single-crop figures are on ImageNet's val set, as here.
        val_is_test=True,
    )
