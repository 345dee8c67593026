"""Dataset sources: one table from a dataset's name to its loader, and what `--data` names.

Two kinds of dataset are known by name, in `SOURCES`:

- in-memory datasets (``cifar10``, ``mnist``, ``fake``): `load_dataset` returns their
  train and test arrays as an `ArrayDataset`, whatever the files came from (the
  official release, tensorflow-datasets, or nothing at all for ``fake``);
- streamed datasets (``imagenet2012``): too large for memory, read image by image.
  Only their test split opens here; `load_dataset` refuses them with what to pass
  instead (training reads ``--data ROOT`` image folders, `train_val_folders`).

`open_test_images` resolves what ``cnnzoo evaluate --data`` names: a dataset name,
else each of `PATH_SOURCES` in turn (TFRecord files, a class-folder tree).

A new dataset is a loader function and a line in `SOURCES`; a new kind of path is
an opener function and a line in `PATH_SOURCES`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class ArrayDataset:
    """An in-memory image-classification dataset.

    Attributes:
        name: dataset name.
        train: (images uint8 (N, H, W, C), labels int64 (N,)).
        test: same for the test split.
        class_names: one name per class.
    """

    name: str
    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    class_names: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.train[0].shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclasses.dataclass(frozen=True)
class TestImages:
    """A test split as the evaluation protocols read it.

    Attributes:
        images: uint8 (N, H, W, C) array, or a ``tf.data.Dataset`` of
            ``(uint8 (H, W, 3), int32 label)``.
        labels: (N,) int64 labels of an array; None for a dataset (its elements hold them).
        class_names: the classes in label order; None where the files hold indices
            only (TFRecords), which are then taken to be the model's own.
        skipped: the counter of undecodable images skipped, when skipping was asked
            for on a decoded source; else None.
    """

    images: object
    labels: np.ndarray | None
    class_names: tuple[str, ...] | None
    skipped: object | None = None


@dataclasses.dataclass(frozen=True)
class Source:
    """A dataset known by name.

    Attributes:
        load: ``(data_dir, **options) -> ArrayDataset`` for an in-memory dataset;
            None for a streamed one.
        open_test: ``(data_dir, skipped) -> TestImages`` for a streamed dataset
            (``skipped`` a `SkippedFiles` when corrupt images are to be skipped);
            None for an in-memory one, whose test arrays are used.
        needs: for a streamed dataset, what training on it needs instead (the error
            of `load_dataset`).
    """

    load: Callable[..., ArrayDataset] | None = None
    open_test: Callable[..., TestImages] | None = None
    needs: Callable[[str | None], str] | None = None

    def test_images(self, data_dir: str | None, skipped) -> TestImages:
        """The test split: opened by `open_test`, or the test arrays of `load`."""
        if self.open_test is not None:
            return self.open_test(data_dir, skipped)
        data = self.load(data_dir)
        return TestImages(*data.test, class_names=data.class_names)


# ---- in-memory datasets ---------------------------------------------------------------


def fake_dataset(
    train_size: int = 2048, test_size: int = 512, shape=(32, 32, 3), classes: int = 10, seed=0
) -> ArrayDataset:
    """Random images with labels that depend on them, for smoke runs and benchmarks.

    Like torchvision's FakeData, but learnable: the label is the arg-max of a
    fixed random projection of the centred pixels, so a run that trains shows it,
    and the classes are about equally frequent.

    Args:
        train_size, test_size: images in each split (CIFAR-10's are 50,000 and 10,000).
        shape: (H, W, C) of every image.
        classes: number of classes.
        seed: which images and labels.

    Returns:
        An `ArrayDataset` named ``fake``.
    """
    rng = np.random.default_rng(seed)
    n = train_size + test_size
    images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    # Labels from a fixed random projection of the image keep the task learnable.
    proj = rng.standard_normal((int(np.prod(shape)), classes)).astype(np.float32)
    # Centred: on raw 0..255 pixels the projection's column sums would pick one class.
    centred = images.reshape(n, -1).astype(np.float32) - 127.5
    labels = np.argmax(centred @ proj, axis=1).astype(np.int64)
    return ArrayDataset(
        name="fake",
        train=(images[:train_size], labels[:train_size]),
        test=(images[train_size:], labels[train_size:]),
        class_names=tuple(f"class_{i}" for i in range(classes)),
    )


def _fake(data_dir: str | None = None, **options) -> ArrayDataset:
    # No files: data_dir is accepted like every loader's and has no use.
    return fake_dataset(**options)


def _cifar10(data_dir: str | None = None) -> ArrayDataset:
    from cnnzoo.pipelines import cifar10

    splits = cifar10.load_cifar10(data_dir)
    return ArrayDataset("cifar10", splits["train"], splits["test"], cifar10.CLASS_NAMES)


def _mnist(data_dir: str | None = None) -> ArrayDataset:
    from cnnzoo.pipelines import mnist

    splits = mnist.load_mnist(data_dir)
    return ArrayDataset("mnist", splits["train"], splits["test"], mnist.CLASS_NAMES)


# ---- streamed datasets ----------------------------------------------------------------


def _imagenet_validation(data_dir: str | None, skipped) -> TestImages:
    from cnnzoo.pipelines import imagenet_source as inet

    builder = inet.imagenet_builder(data_dir=data_dir)
    skip = skipped is not None
    ds = inet.imagenet_dataset(builder, "validation", skip_corrupt=skip, skipped=skipped)
    return TestImages(ds, None, inet.class_names(builder), skipped)


def _imagenet_needs(data_dir: str | None) -> str:
    from cnnzoo.pipelines import imagenet_source as inet

    archives = " and ".join(inet.SPLIT_ARCHIVES.values())
    return (
        "--data ROOT, ROOT holding the images as class folders ROOT/train/<class>/ and "
        "ROOT/val/<class>/; or, for `cnnzoo evaluate --data imagenet2012`, "
        f"tensorflow-datasets' manual download: {archives} (from {inet.DOWNLOAD_PAGE} "
        f"after registering) in {inet.manual_dir_path(data_dir)}"
    )


SOURCES: dict[str, Source] = {
    "cifar10": Source(load=_cifar10),
    "mnist": Source(load=_mnist),
    "fake": Source(load=_fake),
    "imagenet2012": Source(open_test=_imagenet_validation, needs=_imagenet_needs),
}
# The datasets `load_dataset` takes.
DATASETS = tuple(name for name, source in SOURCES.items() if source.load is not None)


def load_dataset(name: str, data_dir: str | None = None, **options) -> ArrayDataset:
    """Load an in-memory dataset by name.

    Args:
        name: one of `DATASETS`.
        data_dir: directory with the official files (else CNNZOO_DATA_DIR, else
            tensorflow-datasets).
        **options: the loader's own arguments, e.g. ``train_size=50_000,
            test_size=10_000`` for ``fake`` (see `fake_dataset`).

    Returns:
        An `ArrayDataset`.

    Raises:
        ValueError: an unknown name, or a streamed dataset (the message says what
            it needs instead).
    """
    source = SOURCES.get(name)
    if source is None:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    if source.load is None:
        raise ValueError(
            f"dataset {name!r} is not an in-memory dataset (those are {', '.join(DATASETS)}); "
            f"it needs {source.needs(data_dir)}"
        )
    return source.load(data_dir, **options)


# ---- what --data names ----------------------------------------------------------------


def _tfrecords(data: str, skipped) -> TestImages | None:
    """TFRecord files: a glob, a file or a directory holding ``*.tfrecord*`` files."""
    from cnnzoo.pipelines.tfrecord_source import list_tfrecord_files, tfrecord_dataset

    path = Path(data)
    if path.is_dir() and not any(path.glob("*.tfrecord*")):
        return None
    if not path.is_dir() and "tfrecord" not in path.name:
        return None
    files = list_tfrecord_files(data)
    ds = tfrecord_dataset(files, skip_corrupt=skipped is not None, skipped=skipped)
    # TFRecords carry indices only: they are the model's own.
    return TestImages(ds, None, None, skipped)


def _class_folders(data: str, skipped) -> TestImages | None:
    """A class-folder tree ``data/<class>/<image>``."""
    from cnnzoo.pipelines.folder_source import folder_dataset, list_image_folder

    if not Path(data).is_dir():
        return None
    index = list_image_folder(data)
    ds = folder_dataset(index, skip_corrupt=skipped is not None, skipped=skipped)
    return TestImages(ds, None, index.class_names, skipped)


# Tried in order on a `--data` that names no dataset; each returns None if it is not its kind.
PATH_SOURCES: tuple[Callable[[str, object], TestImages | None], ...] = (
    _tfrecords,
    _class_folders,
)


def open_test_images(
    data: str, data_dir: str | None = None, skip_corrupt: bool = False
) -> TestImages:
    """The test images `data` names.

    Args:
        data: a name of `SOURCES` (its test split; ImageNet's validation split from
            tensorflow-datasets, prepared from the manual download in ``data_dir``),
            TFRecord files (a glob, a file or a directory of them), or a class-folder
            tree ``root/<class>/*.jpg``.
        data_dir: directory of the official dataset files (tensorflow-datasets'
            data directory for ``imagenet2012``).
        skip_corrupt: skip images that cannot be decoded (counted in ``skipped``).

    Returns:
        `TestImages`.

    Raises:
        FileNotFoundError: `data` is no name, and no path of a known kind.
    """
    from cnnzoo.pipelines.folder_source import SkippedFiles

    skipped = SkippedFiles() if skip_corrupt else None
    if data in SOURCES:
        return SOURCES[data].test_images(data_dir, skipped)
    for opener in PATH_SOURCES:
        found = opener(data, skipped)
        if found is not None:
            return found
    raise FileNotFoundError(
        f"--data {data!r}: not one of {tuple(SOURCES)}, a class-folder directory or TFRecord files"
    )


def train_val_folders(root: str | os.PathLike):
    """The training and validation class-folder trees of ``--data ROOT``.

    Args:
        root: a directory holding ``train/<class>/`` and ``val/<class>/`` image folders.

    Returns:
        ``(train, val)`` `cnnzoo.pipelines.folder_source.FolderIndex` es, with the same classes.

    Raises:
        FileNotFoundError: ``train`` or ``val`` is missing (the layout is named).
        ValueError: the two trees have different classes (some are named).
    """
    from cnnzoo.pipelines.folder_source import list_image_folder

    root = Path(root)
    indexes = []
    for split in ("train", "val"):
        path = root / split
        if not path.is_dir():
            raise FileNotFoundError(
                f"{root}: expected the class folders of the {split} images in {path} "
                "(ROOT/train/<class>/*.jpg and ROOT/val/<class>/*.jpg)"
            )
        indexes.append(list_image_folder(path))
    train, val = indexes
    if val.class_names != train.class_names:
        only = sorted(set(train.class_names) ^ set(val.class_names))
        raise ValueError(f"{root}: train and val have different classes (e.g. {only[:5]})")
    return train, val
