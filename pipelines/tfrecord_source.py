"""TFRecord files of ``tf.train.Example`` images: the ImageNet convention of tensorflow/models.

Each record holds the encoded image under ``image/encoded`` and the class under
``image/class/label``, as written by ``research/inception/inception/data/
build_imagenet_data.py`` in tensorflow/models (and the TPU ``imagenet_to_gcs.py``
that copied it). That script numbers ImageNet's classes 1-1000 and leaves 0
unused, so ``label_offset=1`` (the default) turns them into 0-999; files numbered
from 0 take ``label_offset=0``. Other keys (``image``/``label`` in
tensorflow-datasets' own files) are parameters.

The decoded stream is the same as the class-folder source's: ``(uint8 (H, W, 3),
int32 label)``, decoded in parallel by `cnnzoo.pipelines.folder_source.decode_images`,
with the same handling of images that cannot be decoded (each named by its file
and record number).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import logging
from cnnzoo.pipelines.errors import DataError
from cnnzoo.pipelines.folder_source import SkippedFiles, decode_images
from cnnzoo.pipelines.seeds import epoch_order, shuffle_epoch

IMAGE_KEY = "image/encoded"
LABEL_KEY = "image/class/label"
# build_imagenet_data.py: "The label ranges from [1, 1000] where 0 is not used."
IMAGENET_LABEL_OFFSET = 1
# Files read at once: hides per-file latency on network filesystems; a tuning
# choice, not a published figure. The order of the records depends on it.
READ_CYCLE = 8
# Records held for shuffling in training: ImageNet's TFRecords are already
# shuffled across classes when written, so this only has to mix neighbouring shards.
SHUFFLE_BUFFER = 10_000


def list_tfrecord_files(files: str | os.PathLike | Sequence[str | os.PathLike]) -> tuple[str, ...]:
    """Resolve a glob pattern, a directory or a list of files to sorted file paths.

    Args:
        files: a glob such as ``/data/train-*``, a directory (all its files), or a
            list of paths.

    Returns:
        The files, sorted when they came from a pattern or directory.

    Raises:
        DataError: nothing matched, or a listed file does not exist.
    """
    if isinstance(files, (str, os.PathLike)):
        pattern = os.fspath(files)
        if os.path.isdir(pattern):
            found = sorted(str(p) for p in Path(pattern).iterdir() if p.is_file())
        else:
            found = sorted(glob.glob(pattern))
        if not found:
            raise DataError(
                f"no TFRecord files match {pattern}; expected a glob, a directory or files"
            )
        return tuple(found)
    found = tuple(os.fspath(f) for f in files)
    if not found:
        raise DataError("no TFRecord files given; expected at least one path")
    missing = [f for f in found if not os.path.isfile(f)]
    if missing:
        raise DataError(f"TFRecord file(s) do not exist: {', '.join(missing)}")
    return found


def _kind(feature: tf.train.Feature) -> str:
    return feature.WhichOneof("kind") or "an empty feature"


def check_first_record(
    path: str,
    *,
    image_key: str = IMAGE_KEY,
    label_key: str = LABEL_KEY,
    compression_type: str | None = None,
) -> None:
    """Check that a file's first record is a ``tf.train.Example`` with the two features.

    Catches a file of the wrong convention before training starts, with the keys
    the record does hold; records further on are checked as they are read.

    Args:
        path: a TFRecord file.
        image_key, label_key: the features' names.
        compression_type: "", "ZLIB" or "GZIP" (None: uncompressed).

    Raises:
        DataError: the file cannot be read as TFRecords, its first record is not an
            Example, or a feature is missing or of the wrong type (file, feature,
            expected and found are named).
    """
    try:
        first = next(iter(tf.data.TFRecordDataset(path, compression_type=compression_type)), None)
    except tf.errors.OpError as err:
        raise DataError(f"{path}: cannot be read as TFRecords: {err.message}") from err
    if first is None:
        return  # an empty shard is legal; nothing to check
    try:
        example = tf.train.Example.FromString(first.numpy())
    except Exception as err:  # protobuf's DecodeError does not subclass a common base
        raise DataError(f"{path}: record 0 is not a tf.train.Example ({err})") from err
    features = example.features.feature
    for key, expected in ((image_key, "bytes_list"), (label_key, "int64_list")):
        if key not in features:
            raise DataError(
                f"{path}: record 0 has no feature {key!r} (expected {expected}); "
                f"it holds {', '.join(sorted(features)) or 'no features'}"
            )
        got = _kind(features[key])
        if got != expected:
            raise DataError(f"{path}: record 0 feature {key!r}: expected {expected}, got {got}")


@dataclasses.dataclass(frozen=True)
class RecordFormat:
    """How the records of a set of TFRecord files are laid out.

    Attributes:
        image_key, label_key: the features holding the encoded image and the label.
        label_offset: subtracted from every stored label (1 for the ImageNet convention).
        num_classes: when given, labels must lie in [0, num_classes) after the offset.
        compression_type: "", "ZLIB" or "GZIP" (None: uncompressed).
    """

    image_key: str = IMAGE_KEY
    label_key: str = LABEL_KEY
    label_offset: int = IMAGENET_LABEL_OFFSET
    num_classes: int | None = None
    compression_type: str | None = None


def _parser(fmt: RecordFormat) -> Callable:
    """``(path, i, record) -> (encoded, int32 label, name)``, asserting what the record holds."""
    # Defaults that no real record holds, so a missing feature is detectable in the graph.
    missing_label = tf.constant(np.iinfo(np.int64).min, tf.int64)
    spec = {
        fmt.image_key: tf.io.FixedLenFeature([], tf.string, default_value=""),
        fmt.label_key: tf.io.FixedLenFeature([], tf.int64, default_value=missing_label),
    }
    # Messages inside the graph avoid quotes: TensorFlow escapes them in its error text.
    low, classes = fmt.label_offset, fmt.num_classes
    expected_label = f"a label >= {low}"
    if classes is not None:
        expected_label = f"a label in [{low}, {classes + low})"
    expected_label += f" (label_offset={low})"

    def parse(path, i, record):
        parsed = tf.io.parse_single_example(record, spec)
        name = tf.strings.join([path, "[record ", tf.strings.as_string(i), "]"])
        image, stored = parsed[fmt.image_key], parsed[fmt.label_key]
        label = stored - low
        in_range = label >= 0
        if classes is not None:
            in_range = tf.logical_and(in_range, label < classes)
        has_image = f"has no (or an empty) feature {fmt.image_key}; expected encoded image bytes"
        has_label = f"has no feature {fmt.label_key}; expected an int64 class label"
        checks = [
            tf.debugging.Assert(tf.strings.length(image) > 0, [name, has_image]),
            tf.debugging.Assert(stored != missing_label, [name, has_label]),
            tf.debugging.Assert(
                tf.logical_or(stored == missing_label, in_range),
                [name, f"feature {fmt.label_key}: expected {expected_label}, got", stored],
            ),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(image), tf.cast(label, tf.int32), name

    return parse


def tfrecord_records(
    files: Sequence[str],
    *,
    file_order: tf.Tensor | None = None,
    readable: Sequence[int] | None = None,
    **record_format,
) -> tf.data.Dataset:
    """The parsed records of TFRecord files, not yet decoded.

    Args:
        files: the TFRecord files (see `list_tfrecord_files`).
        file_order: optional int tensor of indices into ``files`` (an epoch's shuffle).
        readable: per file, how many records to read (`scan_records`: those before a
            corrupted one); None for all.
        **record_format: the fields of `RecordFormat` (image_key, label_key,
            label_offset, num_classes, compression_type).

    Returns:
        A dataset of ``(encoded bytes, int32 label, name)`` where name is
        ``"<file>[record <i>]"``. A record missing a feature, or with a label out of
        range, raises ``tf.errors.InvalidArgumentError`` naming file, record and feature.
    """
    fmt = RecordFormat(**record_format)
    file_t = tf.constant(list(files), dtype=tf.string)
    # -1: read to the end (take(-1) takes everything).
    count_t = tf.constant(list(readable) if readable is not None else [-1] * len(files), tf.int64)
    order = file_order if file_order is not None else tf.range(len(files), dtype=tf.int64)
    names = tf.data.Dataset.from_tensor_slices(order).map(
        lambda i: (tf.gather(file_t, i), tf.gather(count_t, i))
    )

    def records_of(path, count):
        return (
            tf.data.TFRecordDataset(path, compression_type=fmt.compression_type)
            .take(count)
            .enumerate()
            .map(lambda i, record: (path, i, record))
        )

    ds = names.interleave(
        records_of,
        cycle_length=min(READ_CYCLE, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return ds.map(_parser(fmt), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def scan_records(
    files: Sequence[str], compression_type: str = "", skip_corrupt: bool = False
) -> tuple[int, ...]:
    """How many records of each file can be read: all, or those before a corrupted one.

    TensorFlow stops a file at a record whose checksum fails ("corrupted record at
    N"), without naming the file; this reads the files once, first, to name it.
    The rest of a damaged file cannot be found again: with `skip_corrupt` it is
    skipped (a warning names the file and how many records were kept).

    Raises:
        DataError: a corrupted record, unless `skip_corrupt`; the file is named.
    """
    counts = []
    for path in files:
        n = 0
        try:
            for _ in tf.data.TFRecordDataset(path, compression_type=compression_type):
                n += 1
        except tf.errors.DataLossError as e:
            found = re.search(r"corrupted record at \d+", e.message)
            detail = found.group(0) if found else "data loss"
            where = f"{path}: record {n} is corrupted ({detail})"
            if not skip_corrupt:
                raise DataError(f"{where}; --skip-corrupt skips the rest of the file") from None
            logging.warning("%s; skipping the rest of the file (%d records read)", where, n)
        counts.append(n)
    return tuple(counts)


def _checked_files(files, fmt: RecordFormat, skip_corrupt: bool):
    """The files `files` names and their readable records, the first record checked."""
    files = list_tfrecord_files(files)
    check_first_record(
        files[0],
        image_key=fmt.image_key,
        label_key=fmt.label_key,
        compression_type=fmt.compression_type,
    )
    return files, scan_records(files, fmt.compression_type, skip_corrupt)


def tfrecord_dataset(
    files: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    skip_corrupt: bool = False,
    skipped: SkippedFiles | None = None,
    **record_format,
) -> tf.data.Dataset:
    """Every record once, decoded: the evaluation and statistics stream.

    Records come from up to `READ_CYCLE` files at a time, one record from each in
    turn, so the order is fixed for a given list of files.

    Args:
        files: a glob, a directory or a list of TFRecord files.
        skip_corrupt, skipped: see `cnnzoo.pipelines.folder_source.decode_images`.
        **record_format: the fields of `RecordFormat`.

    Returns:
        A finite, unbatched, prefetched dataset of ``(uint8 (H, W, 3), int32 label)``.

    Raises:
        DataError: no files, or the first file's first record lacks a feature
            (see `check_first_record`).
    """
    fmt = RecordFormat(**record_format)
    files, readable = _checked_files(files, fmt, skip_corrupt)
    records = tfrecord_records(files, readable=readable, **dataclasses.asdict(fmt))
    ds = decode_images(records, skip_corrupt=skip_corrupt, skipped=skipped)
    return ds.prefetch(tf.data.AUTOTUNE)


def tfrecord_epoch(
    files: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    seed: int = 0,
    shuffle_buffer: int = SHUFFLE_BUFFER,
    skip_corrupt: bool = False,
    skipped: SkippedFiles | None = None,
    **record_format,
) -> Callable[[tf.Tensor], tf.data.Dataset]:
    """The epoch source for `cnnzoo.pipelines.imagenet_augment.train_stream`.

    Each epoch permutes the files (`cnnzoo.pipelines.seeds.epoch_order`) and
    shuffles the records through a buffer seeded by (seed, epoch), so the stream
    is reproducible and a resumed run sees what an uninterrupted one would.

    Args:
        files: a glob, a directory or a list of TFRecord files.
        seed: the run's seed.
        shuffle_buffer: records held for shuffling.
        skip_corrupt, skipped: see `cnnzoo.pipelines.folder_source.decode_images`.
        **record_format: the fields of `RecordFormat`.

    Returns:
        ``epoch -> dataset`` of that epoch's decoded ``(uint8 (H, W, 3), int32 label)``.
    """
    fmt = RecordFormat(**record_format)
    files, readable = _checked_files(files, fmt, skip_corrupt)

    def epoch_dataset(epoch):
        order = epoch_order(len(files), seed, epoch)
        records = tfrecord_records(
            files, file_order=order, readable=readable, **dataclasses.asdict(fmt)
        )
        records = shuffle_epoch(records, seed, epoch, shuffle_buffer)
        return decode_images(records, skip_corrupt=skip_corrupt, skipped=skipped)

    return epoch_dataset


def _encode(image, image_format: str) -> bytes:
    if isinstance(image, bytes):
        return image
    image = np.asarray(image, dtype=np.uint8)
    if image_format == "png":
        return tf.io.encode_png(image).numpy()
    if image_format == "jpeg":
        return tf.io.encode_jpeg(image, quality=95).numpy()
    raise ValueError(f"unknown image_format {image_format!r}; expected 'png' or 'jpeg'")


def write_tfrecord(
    path: str | os.PathLike,
    images,
    labels,
    *,
    label_offset: int = IMAGENET_LABEL_OFFSET,
    image_format: str = "png",
    image_key: str = IMAGE_KEY,
    label_key: str = LABEL_KEY,
) -> Path:
    """Write images and labels as TFRecords of the ImageNet convention (tests, small exports).

    Args:
        path: the file to write.
        images: uint8 arrays (H, W, 3), or already encoded bytes (written as they are).
        labels: 0-based integer labels; ``label + label_offset`` is stored.
        label_offset: 1 stores ImageNet's 1-based labels.
        image_format: "png" (lossless) or "jpeg", for arrays.
        image_key, label_key: feature names.

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    labels = [int(y) for y in labels]
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    with tf.io.TFRecordWriter(str(path)) as writer:
        for image, label in zip(images, labels, strict=True):
            feature = {
                image_key: tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[_encode(image, image_format)])
                ),
                label_key: tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[label + label_offset])
                ),
                "image/format": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[image_format.upper().encode()])
                ),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    return path
