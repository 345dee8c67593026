"""Dataset sources by name: the arrays a recipe's dataset resolves to.

Every source returns the same thing — uint8 NHWC images and int64 labels for
"train" and "test", with class names — so the rest of the pipeline does not
care whether the data came from the official files, tensorflow-datasets or the
synthetic `fake` source.
"""

from __future__ import annotations

import dataclasses

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


DATASETS = ("cifar10", "mnist", "fake")


def fake_dataset(
    train_size: int = 2048, test_size: int = 512, shape=(32, 32, 3), classes: int = 10, seed=0
) -> ArrayDataset:
    """Random images with labels that depend on them, for smoke runs and benchmarks.

    Like torchvision's FakeData, but learnable: the label is the arg-max of a
    fixed random projection of the centred pixels, so a run that trains shows it,
    and the classes are about equally frequent.
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


def load_dataset(name: str, data_dir: str | None = None) -> ArrayDataset:
    """Load a dataset by name.

    Args:
        name: one of `DATASETS`.
        data_dir: directory with the official files (else CNNZOO_DATA_DIR, else
            tensorflow-datasets).

    Returns:
        An `ArrayDataset`.
    """
    if name == "cifar10":
        from cnnzoo.pipelines import cifar10

        splits = cifar10.load_cifar10(data_dir)
        return ArrayDataset("cifar10", splits["train"], splits["test"], tuple(cifar10.CLASS_NAMES))
    if name == "mnist":
        from cnnzoo.pipelines import mnist

        splits = mnist.load_mnist(data_dir)
        return ArrayDataset("mnist", splits["train"], splits["test"], tuple(mnist.CLASS_NAMES))
    if name == "fake":
        return fake_dataset()
    raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
