"""The official releases of the in-memory datasets: where their files are, and the fallback.

The readers of the releases (`cnnzoo.pipelines.cifar10`, `cnnzoo.pipelines.mnist`)
know their file formats; what they share is here, in `Release`:

- a data directory may hold the dataset's own folder (``cifar-10-batches-bin/``,
  ``mnist/``) or be that folder;
- with no directory given, ``CNNZOO_DATA_DIR`` is tried the same way; it names a
  shared data root, so one without this dataset is no error;
- with no local files, tensorflow-datasets' copy is used, or downloaded when its
  host answers (`cnnzoo.pipelines.tfds_source`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from cnnzoo.pipelines.errors import DataError
from cnnzoo.pipelines.tfds_source import host_reachable, load_tfds_arrays

DATA_DIR_ENV = "CNNZOO_DATA_DIR"
SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class Release:
    """One dataset's official release, and the shared ways to find and load it.

    Attributes:
        name: the dataset's name in messages, e.g. "CIFAR-10".
        folder: its folder under a data root, e.g. "cifar-10-batches-bin".
        files: what the release's files are called, e.g. "CIFAR-10 binary files".
        expected: the files expected in the folder, and where they come from.
        holds: whether a directory holds (some of) the release's files.
        read_split: ``(split, directory) -> (images, labels)``, the release's reader.
        tfds_name: the tensorflow-datasets name.
        download_host: where tensorflow-datasets downloads it from; probed first,
            because an offline ``tfds.load`` spends minutes retrying before it gives up.
        refuse: raises `DataError` for a directory holding a version that must not
            be read (CIFAR-10's pickles); None when there is none.
    """

    name: str
    folder: str
    files: str
    expected: str
    holds: Callable[[Path], bool]
    read_split: Callable[[str, Path], tuple[np.ndarray, np.ndarray]]
    tfds_name: str
    download_host: str
    refuse: Callable[[Path], None] | None = None

    def find_local_dir(self, data_dir: str | os.PathLike | None = None) -> Path | None:
        """Find the directory holding the release's files.

        Args:
            data_dir: a directory containing the release's `folder`, or that folder
                itself. When None, ``CNNZOO_DATA_DIR`` is used in the same way.

        Returns:
            The release's directory, or None when no directory was given, or when
            the one from ``CNNZOO_DATA_DIR`` holds no copy of this dataset (it is a
            shared data root that may hold other datasets only).

        Raises:
            DataError: ``data_dir`` was given but does not exist or holds no copy,
                or `refuse` refused what it holds.
        """
        explicit = data_dir is not None
        if not explicit:
            data_dir = os.environ.get(DATA_DIR_ENV) or None
            if data_dir is None:
                return None
        root = Path(data_dir)
        for candidate in (root / self.folder, root):
            if candidate.is_dir() and self.holds(candidate):
                return candidate
        if self.refuse is not None:
            self.refuse(root)
        if not explicit:
            return None
        found = "does not exist" if not root.exists() else f"holds no {self.files}"
        if root.exists() and not root.is_dir():
            found = "is not a directory"
        raise DataError(
            f"{self.name} data directory {root} {found}; expected a directory containing "
            f"{self.folder}/, or that directory itself, with {self.expected}"
        )

    def check_split(self, split: str, split_files: dict) -> None:
        """Raise ValueError for a split the release does not have."""
        if split not in split_files:
            raise ValueError(
                f"unknown {self.name} split {split!r}; expected one of {list(split_files)}"
            )

    def load(
        self,
        data_dir: str | os.PathLike | None = None,
        tfds_data_dir: str | os.PathLike | None = None,
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Load both splits: the local files first, tensorflow-datasets otherwise.

        Args:
            data_dir: see `find_local_dir`.
            tfds_data_dir: tensorflow-datasets data directory; None uses its default
                (``TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).

        Returns:
            ``{"train": (images, labels), "test": (images, labels)}``, uint8 NHWC
            images and int64 labels. Local files give them in file order,
            tensorflow-datasets in its own.

        Raises:
            DataError: local files exist but are malformed.
            DataUnavailableError: no local copy, no prepared tfds copy, and no network.
        """
        local = self.find_local_dir(data_dir)
        if local is not None:
            return {split: self.read_split(split, local) for split in SPLITS}
        return load_tfds_arrays(
            self.tfds_name,
            tfds_data_dir=tfds_data_dir,
            host=self.download_host,
            probe=lambda: host_reachable(self.download_host),
            display_name=self.name,
            offline_hint=(
                f"no local {self.files} (pass --data-dir or set {DATA_DIR_ENV} to a "
                f"directory containing {self.folder}/ with {self.expected})"
            ),
        )
