"""Class-folder image trees: ``root/<class>/<image>``, read and decoded inside tf.data.

The layout of ImageNet's training set and of most users' own data: one folder
per class, the folder names sorted to give the label indices (as torchvision's
ImageFolder and Keras' ``image_dataset_from_directory`` do, so ImageNet's synset
folders get the standard 0-999 order).

Decoding happens in tf.data with AUTOTUNE parallelism. A file that cannot be
decoded (truncated, corrupt, or not an image under an image extension) stops the
stream with an error naming the file; with ``skip_corrupt=True`` it is dropped,
named once on stderr, and counted in a `SkippedFiles` the caller prints at the end.

How the skip is done without losing the file's name: each encoded image becomes a
one-element dataset whose decode runs under ``ignore_errors``, followed by a
placeholder flagged as failed; ``take(1)`` keeps the decoded image when there is
one and the placeholder (which still holds the name) otherwise. All of it is
tf.data ops, so the stream stays parallel, deterministic and free of Python calls.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf
from cnnzoo.pipelines.errors import DataError
from cnnzoo.pipelines.seeds import epoch_order

# The formats tf.io.decode_image reads (its own error lists JPEG, PNG, GIF, BMP,
# WebP); compared case-insensitively, so ImageNet's ".JPEG" counts.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
# Examples named in the "ignored files" warning; the count is always complete.
_EXAMPLES_NAMED = 5


@dataclasses.dataclass(frozen=True)
class FolderIndex:
    """The image files of a class-folder tree, in a fixed order.

    Attributes:
        root: the tree's root directory.
        paths: every image file, classes in label order, files sorted within a class.
        labels: int64 (N,) label of each path: the index of its folder in ``class_names``.
        class_names: the class folder names, sorted.
        ignored: files skipped because they are not images (or lie outside class folders).
    """

    root: Path
    paths: tuple[str, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]
    ignored: int = 0

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _is_image(name: str, extensions: tuple[str, ...]) -> bool:
    return name.lower().endswith(extensions)


def _class_dirs(root: Path, extensions: tuple[str, ...]) -> tuple[list[os.DirEntry], list[str]]:
    """The class folders of ``root``, sorted, and the files lying directly under it."""
    if not root.is_dir():
        found = "does not exist" if not root.exists() else "is not a directory"
        raise DataError(
            f"image folder {root} {found}; expected a directory of class folders "
            f"({root}/<class>/<image>)"
        )
    entries = sorted(os.scandir(root), key=lambda e: e.name)
    # Hidden folders (.ipynb_checkpoints) are tool metadata, not classes.
    class_dirs = [e for e in entries if e.is_dir() and not e.name.startswith(".")]
    loose = [e.name for e in entries if not e.is_dir()]
    if not class_dirs:
        images = sum(_is_image(name, extensions) for name in loose)
        raise DataError(
            f"image folder {root} holds no class folders; expected {root}/<class>/<image> "
            f"(found {len(loose)} files directly under it, {images} of them images)"
        )
    return class_dirs, [str(root / name) for name in loose]


def _walk_class(folder: str, extensions: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The image files under one class folder, recursively and sorted, and the others."""
    images, others = [], []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames.sort()  # os.walk visits subfolders in this list's order
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            (images if _is_image(name, extensions) else others).append(path)
    return images, others


def _warn_ignored(root: Path, ignored: list[str], extensions: tuple[str, ...]) -> None:
    shown = ", ".join(ignored[:_EXAMPLES_NAMED])
    if len(ignored) > _EXAMPLES_NAMED:
        shown += f", ... ({len(ignored) - _EXAMPLES_NAMED} more)"
    warnings.warn(
        f"image folder {root}: ignored {len(ignored)} file(s) that are not images "
        f"in class folders (image endings: {', '.join(extensions)}): {shown}",
        stacklevel=3,
    )


def list_image_folder(
    root: str | os.PathLike, extensions: tuple[str, ...] = IMAGE_EXTENSIONS
) -> FolderIndex:
    """List a class-folder tree ``root/<class>/**/<image>``.

    Class folders are the non-hidden subdirectories of ``root`` (hidden ones, such
    as ``.ipynb_checkpoints``, are tool metadata, not classes); their images are
    found recursively, following symbolic links. Files that are not images, and
    files directly under ``root``, are ignored with a single warning giving their count.

    Args:
        root: the tree's root directory.
        extensions: lower-case file name endings counted as images.

    Returns:
        A `FolderIndex`.

    Raises:
        DataError: ``root`` is missing or not a directory, holds no class folders,
            or a class folder holds no image files (all such folders are named).
    """
    root = Path(root)
    extensions = tuple(e.lower() for e in extensions)
    class_dirs, ignored = _class_dirs(root, extensions)
    paths: list[str] = []
    labels: list[int] = []
    empty: list[str] = []
    for label, entry in enumerate(class_dirs):
        found, others = _walk_class(entry.path, extensions)
        ignored.extend(others)
        if not found:
            empty.append(entry.path)
        paths.extend(found)
        labels.extend([label] * len(found))
    if empty:
        raise DataError(
            f"image folder {root}: {len(empty)} class folder(s) hold no image files "
            f"(expected at least one file ending in {', '.join(extensions)}): {', '.join(empty)}"
        )
    if ignored:
        _warn_ignored(root, ignored, extensions)
    return FolderIndex(
        root=root,
        paths=tuple(paths),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=tuple(e.name for e in class_dirs),
        ignored=len(ignored),
    )


def path_bytes(paths):
    """File paths as the bytes the file system holds, for string tensors.

    A name that is not UTF-8 (a Latin-1 name from an old archive) reaches Python as
    a str with surrogate escapes, which TensorFlow refuses to convert; its bytes
    read fine, and messages decode them with replacement characters.
    """
    if isinstance(paths, tf.Tensor):
        return paths
    return [os.fsencode(p) if isinstance(p, str) else p for p in paths]


class SkippedFiles:
    """Counts the images skipped because they could not be decoded.

    Filled while a dataset built with ``skip_corrupt=True`` is iterated (tf
    variables, so the counting happens inside tf.data). Print it at the end of a
    run for the summary. A file met again in a later epoch is counted again in
    ``count`` but named once in ``paths``.
    """

    def __init__(self) -> None:
        self._attempted = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._count = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._paths = tf.Variable(
            tf.constant([], tf.string), shape=tf.TensorShape([None]), trainable=False
        )

    @property
    def count(self) -> int:
        """Images skipped so far (a file skipped in two epochs counts twice)."""
        return int(self._count.numpy())

    @property
    def attempted(self) -> int:
        """Images the stream tried to decode so far."""
        return int(self._attempted.numpy())

    @property
    def paths(self) -> list[str]:
        """The distinct files (or records) skipped, in the order first met."""
        return [p.decode("utf-8", "replace") for p in self._paths.numpy()]

    def summary(self) -> str:
        """One line: how many were skipped, out of how many, and which."""
        if not self.count:
            return f"skipped no images ({self.attempted:,} decoded)"
        return (
            f"skipped {self.count:,} of {self.attempted:,} images that could not be decoded "
            f"({len(self.paths)} distinct): {', '.join(self.paths)}"
        )

    def __str__(self) -> str:
        return self.summary()

    def _record(self, name: tf.Tensor, ok: tf.Tensor) -> tf.Tensor:
        """Count one decode attempt; called from a sequential map so updates never race."""
        self._attempted.assign_add(1)

        def on_failure():
            self._count.assign_add(1)
            new = tf.logical_not(tf.reduce_any(tf.equal(self._paths, name)))

            def remember():
                tf.print(
                    "skipping image that could not be decoded:", name, output_stream=sys.stderr
                )
                self._paths.assign(tf.concat([self._paths, [name]], axis=0))
                return tf.constant(True)

            return tf.cond(new, remember, lambda: tf.constant(False))

        return tf.cond(ok, lambda: tf.constant(False), on_failure)


def _decode(contents: tf.Tensor) -> tf.Tensor:
    # expand_animations=False: a GIF gives its first frame, so every image is (H, W, 3).
    return tf.io.decode_image(contents, channels=3, expand_animations=False)


def _try_decode(contents, label, name) -> tf.data.Dataset:
    """One element: (image, label, name, True), or a placeholder with ok=False."""
    decoded = (
        tf.data.Dataset.from_tensors((contents, label, name))
        .map(lambda c, y, n: (_decode(c), y, n, tf.constant(True)))
        .ignore_errors()
    )
    failed = tf.data.Dataset.from_tensors(
        (tf.zeros([0, 0, 3], tf.uint8), label, name, tf.constant(False))
    )
    return decoded.concatenate(failed).take(1)


def decode_images(
    encoded: tf.data.Dataset,
    *,
    skip_corrupt: bool = False,
    skipped: SkippedFiles | None = None,
) -> tf.data.Dataset:
    """Decode a stream of encoded images, in order, naming any that fail.

    Args:
        encoded: elements ``(contents, label, name)``: the encoded bytes (JPEG,
            PNG, GIF, BMP or WebP), the int32 label and the string that names the
            image in messages (its path, or file and record number).
        skip_corrupt: drop images that cannot be decoded instead of failing.
        skipped: where to count them (see `SkippedFiles`); with None they are
            still named on stderr, but not counted.

    Returns:
        A dataset of ``(uint8 (H, W, 3), int32 label)`` in the input order. Without
        ``skip_corrupt``, iterating it raises ``tf.errors.InvalidArgumentError``
        whose message names the first image that cannot be decoded.
    """
    # cycle_length and parallelism AUTOTUNE: the one-element inner datasets are
    # decoded on as many threads as tf.data finds worthwhile; deterministic keeps order.
    ds = encoded.interleave(_try_decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if skip_corrupt:
        counter = skipped if skipped is not None else SkippedFiles()

        def record(image, label, name, ok):
            counter._record(name, ok)
            return image, label, ok

        # Sequential on purpose: the counter's read-modify-write must not race.
        ds = ds.map(record).filter(lambda image, label, ok: ok)
        return ds.map(lambda image, label, ok: (image, label))

    def check(image, label, name, ok):
        message = "cannot decode image file (truncated, corrupt or not an image; "
        message += "fix or remove it, or skip such files with skip_corrupt):"
        with tf.control_dependencies([tf.debugging.Assert(ok, [message, name])]):
            return tf.identity(image), label

    return ds.map(check, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def decode_files(
    paths,
    labels,
    order: tf.Tensor | None = None,
    *,
    skip_corrupt: bool = False,
    skipped: SkippedFiles | None = None,
) -> tf.data.Dataset:
    """Read and decode image files, in list order or in ``order``.

    Args:
        paths: string tensor or sequence (N,) of file paths.
        labels: integer tensor or sequence (N,).
        order: optional int tensor of indices into ``paths`` (e.g. an epoch's permutation).
        skip_corrupt, skipped: see `decode_images`.

    Returns:
        A dataset of ``(uint8 (H, W, 3), int32 label)``. A file that cannot be read
        raises TensorFlow's own error, which names it; one that cannot be decoded,
        see `decode_images`.
    """
    paths = tf.convert_to_tensor(path_bytes(paths), dtype=tf.string)
    labels = tf.cast(tf.convert_to_tensor(labels), tf.int32)
    if order is None:
        ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    else:
        ds = tf.data.Dataset.from_tensor_slices(order).map(
            lambda i: (tf.gather(paths, i), tf.gather(labels, i))
        )
    # Reading sits outside the decode's ignore_errors: a missing or unreadable file is
    # a different fault from a corrupt one and is never skipped.
    ds = ds.map(
        lambda path, label: (tf.io.read_file(path), label, path),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return decode_images(ds, skip_corrupt=skip_corrupt, skipped=skipped)


def _index(source: FolderIndex | str | os.PathLike) -> FolderIndex:
    return source if isinstance(source, FolderIndex) else list_image_folder(source)


def folder_dataset(
    source: FolderIndex | str | os.PathLike,
    *,
    skip_corrupt: bool = False,
    skipped: SkippedFiles | None = None,
    cache: bool | str = False,
) -> tf.data.Dataset:
    """Every image of a class-folder tree once, in `FolderIndex` order, decoded.

    For evaluation and statistics; training uses `folder_epoch`.

    Args:
        source: a `FolderIndex`, or the tree's root directory.
        skip_corrupt, skipped: see `decode_images`.
        cache: keep the decoded images after the first pass: True in memory, a
            string as that file prefix (worth it only for small trees read repeatedly).

    Returns:
        A finite, unbatched, prefetched dataset of ``(uint8 (H, W, 3), int32 label)``.
    """
    index = _index(source)
    ds = decode_files(index.paths, index.labels, skip_corrupt=skip_corrupt, skipped=skipped)
    if cache:
        ds = ds.cache("" if cache is True else str(cache))
    return ds.prefetch(tf.data.AUTOTUNE)


def folder_epoch(
    source: FolderIndex,
    *,
    seed: int = 0,
    skip_corrupt: bool = False,
    skipped: SkippedFiles | None = None,
) -> Callable[[tf.Tensor], tf.data.Dataset]:
    """The epoch source for `cnnzoo.pipelines.imagenet_augment.train_stream`.

    Args:
        source: the tree's `FolderIndex`.
        seed: the run's seed (shuffles each epoch by `cnnzoo.pipelines.seeds.epoch_order`).
        skip_corrupt, skipped: see `decode_images`.

    Returns:
        ``epoch -> dataset`` of that epoch's decoded ``(uint8 (H, W, 3), int32 label)``,
        every file once in a fresh order; ``epoch`` may be a tensor.
    """
    # Held once as tensors that the per-epoch function captures, not graph constants.
    paths = tf.constant(path_bytes(source.paths), dtype=tf.string)
    labels = tf.constant(source.labels, dtype=tf.int32)
    n = len(source)

    def epoch_dataset(epoch):
        return decode_files(
            paths,
            labels,
            epoch_order(n, seed, epoch),
            skip_corrupt=skip_corrupt,
            skipped=skipped,
        )

    return epoch_dataset
