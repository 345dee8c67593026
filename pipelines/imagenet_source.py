"""ImageNet (ILSVRC 2012) through tensorflow-datasets' ``imagenet2012`` and its manual download.

ImageNet cannot be downloaded by a script: the archives come from image-net.org
after registration, and tensorflow-datasets prepares them from its "manual
directory". This module checks that the archives are there before preparing
(otherwise tfds fails deep inside its generator), then reads the prepared
records with the images still encoded and decodes them with
`cnnzoo.pipelines.folder_source.decode_images`, so corrupt images are handled as in
the other sources and the stream is the same: ``(uint8 (H, W, 3), int32 label)``.

The labels are tfds' ClassLabel indices, from its sorted synset list, which is
the order a class-folder tree of the training set gets from sorted folder names.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf
from cnnzoo.pipelines.errors import DataError
from cnnzoo.pipelines.folder_source import SkippedFiles, decode_images
from cnnzoo.pipelines.seeds import shuffle_epoch

NAME = "imagenet2012"
# The archives tfds' imagenet2012 builder reads from its manual directory
# (its MANUAL_DOWNLOAD_INSTRUCTIONS); the test archive is optional and unlabelled.
SPLIT_ARCHIVES = {
    "train": "ILSVRC2012_img_train.tar",
    "validation": "ILSVRC2012_img_val.tar",
}
DOWNLOAD_PAGE = "https://image-net.org/download-images"
# Records held for shuffling in training; tfds shuffles examples when it writes
# them, so a buffer only has to mix neighbouring shards.
SHUFFLE_BUFFER = 10_000


def _builder(name: str, data_dir, config):
    # Imported here: tensorflow-datasets is only needed for this source.
    import tensorflow_datasets as tfds

    kwargs = {"data_dir": os.fspath(data_dir) if data_dir is not None else None}
    if config is not None:
        kwargs["config"] = config
    # Building the builder reads local metadata only (GCS is off by default in tfds).
    return tfds.builder(name, **kwargs)


def default_manual_dir(builder) -> Path:
    """Where tfds looks for the archives when no manual directory is given.

    Args:
        builder: a tfds builder.

    Returns:
        ``<data_dir root>/downloads/manual``, tfds' own default.
    """
    return Path(os.fspath(builder.data_dir_root)) / "downloads" / "manual"


def manual_dir_path(data_dir: str | os.PathLike | None = None) -> Path:
    """Where tfds looks for the archives, found without importing tensorflow-datasets.

    Args:
        data_dir: tensorflow-datasets data directory; None uses its default
            (``TFDS_DATA_DIR``, else ``~/tensorflow_datasets``).

    Returns:
        ``<data_dir>/downloads/manual``, what `default_manual_dir` gives for a
        builder of that data directory.
    """
    if data_dir is None:
        data_dir = os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets"
    return Path(data_dir) / "downloads" / "manual"


def check_manual_dir(
    manual_dir: str | os.PathLike,
    splits=("train", "validation"),
    prepared_dir: str | os.PathLike | None = None,
) -> Path:
    """Check that the ImageNet archives the splits need are in ``manual_dir``.

    Args:
        manual_dir: the directory holding the downloaded archives.
        splits: the splits to be prepared ("train", "validation").
        prepared_dir: where a prepared copy was looked for, named in the error.

    Returns:
        ``manual_dir`` as a Path.

    Raises:
        ValueError: an unknown split.
        DataError: the directory or an archive is missing (directory and expected
            files named, with where to get them).
    """
    manual_dir = Path(manual_dir)
    unknown = [s for s in splits if s not in SPLIT_ARCHIVES]
    if unknown:
        raise ValueError(f"unknown ImageNet split(s) {unknown}; expected {list(SPLIT_ARCHIVES)}")
    expected = [SPLIT_ARCHIVES[s] for s in splits]
    missing = [name for name in expected if not (manual_dir / name).is_file()]
    if missing:
        where = "does not exist" if not manual_dir.is_dir() else f"lacks {', '.join(missing)}"
        raise DataError(
            f"ImageNet manual directory {manual_dir} {where}; expected "
            f"{', '.join(expected)} there (the ILSVRC 2012 archives, downloaded from "
            f"{DOWNLOAD_PAGE} after registering)"
            + (f", or a prepared copy in {prepared_dir}" if prepared_dir is not None else "")
        )
    return manual_dir


def imagenet_builder(
    *,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
    splits=("train", "validation"),
    name: str = NAME,
    config: str | None = None,
):
    """The prepared tfds ImageNet builder, preparing it from the manual archives if needed.

    Preparing reads the archives once and writes tfds' records (about 150 GB and
    hours of work for the full training set); a prepared copy is used as it is.

    Args:
        data_dir: tensorflow-datasets data directory; None uses its default.
        manual_dir: the directory holding the ILSVRC 2012 tar files; None uses
            tfds' default (see `default_manual_dir`).
        splits: the splits whose archives must be present to prepare.
        name: the tfds dataset name.
        config: a tfds builder config name, for datasets that have configs.

    Returns:
        A prepared ``tfds`` builder.

    Raises:
        DataError: not prepared and the archives are missing (see `check_manual_dir`).
    """
    builder = _builder(name, data_dir, config)
    if builder.is_prepared():
        return builder
    manual = check_manual_dir(
        manual_dir if manual_dir is not None else default_manual_dir(builder),
        splits,
        prepared_dir=os.fspath(builder.data_dir),
    )
    import tensorflow_datasets as tfds

    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual))
    )
    return builder


def class_names(builder) -> tuple[str, ...]:
    """The synset ids in label order, e.g. ``("n01440764", ...)``."""
    return tuple(builder.info.features["label"].names)


def _records(builder, split: str) -> tf.data.Dataset:
    import tensorflow_datasets as tfds

    # Images stay encoded so decoding (and its corrupt-image handling) is ours.
    ds = builder.as_dataset(
        split=split, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()}
    )
    return ds.map(
        lambda ex: (
            ex["image"],
            tf.cast(ex["label"], tf.int32),
            tf.strings.join([f"{builder.name}/{split}/", ex["file_name"]]),
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def imagenet_dataset(
    builder,
    split: str = "validation",
    *,
    skip_corrupt: bool = False,
    skipped: SkippedFiles | None = None,
) -> tf.data.Dataset:
    """Every image of a split once, decoded, in tfds' stored order.

    Args:
        builder: from `imagenet_builder`.
        split: "train" or "validation".
        skip_corrupt, skipped: see `cnnzoo.pipelines.folder_source.decode_images`.

    Returns:
        A finite, unbatched, prefetched dataset of ``(uint8 (H, W, 3), int32 label)``.
    """
    ds = decode_images(_records(builder, split), skip_corrupt=skip_corrupt, skipped=skipped)
    return ds.prefetch(tf.data.AUTOTUNE)


def imagenet_epoch(
    builder,
    split: str = "train",
    *,
    seed: int = 0,
    shuffle_buffer: int = SHUFFLE_BUFFER,
    skip_corrupt: bool = False,
    skipped: SkippedFiles | None = None,
) -> Callable[[tf.Tensor], tf.data.Dataset]:
    """The epoch source for `cnnzoo.pipelines.imagenet_augment.train_stream`.

    Args:
        builder: from `imagenet_builder`.
        split: normally "train".
        seed: the run's seed; each epoch's shuffle is seeded by (seed, epoch).
        shuffle_buffer: records held for shuffling.
        skip_corrupt, skipped: see `cnnzoo.pipelines.folder_source.decode_images`.

    Returns:
        ``epoch -> dataset`` of that epoch's decoded ``(uint8 (H, W, 3), int32 label)``.
    """
    records = _records(builder, split)

    def epoch_dataset(epoch):
        shuffled = shuffle_epoch(records, seed, epoch, shuffle_buffer)
        return decode_images(shuffled, skip_corrupt=skip_corrupt, skipped=skipped)

    return epoch_dataset
