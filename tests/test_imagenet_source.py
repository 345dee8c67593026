"""The tfds imagenet2012 source: only the offline error paths (no ImageNet, no network here)."""

from __future__ import annotations

import pytest
from cnnzoo.pipelines.errors import DataError
from cnnzoo.pipelines.imagenet_source import (
    SPLIT_ARCHIVES,
    check_manual_dir,
    default_manual_dir,
    imagenet_builder,
    manual_dir_path,
)


def test_missing_manual_dir_names_it_and_the_archives(tmp_path):
    manual = tmp_path / "manual"
    with pytest.raises(DataError) as info:
        check_manual_dir(manual)
    message = str(info.value)
    assert f"ImageNet manual directory {manual} does not exist" in message
    assert "ILSVRC2012_img_train.tar" in message and "ILSVRC2012_img_val.tar" in message
    assert "image-net.org" in message


def test_missing_archive_is_named_and_present_ones_pass(tmp_path):
    (tmp_path / SPLIT_ARCHIVES["validation"]).write_bytes(b"")
    assert check_manual_dir(tmp_path, splits=("validation",)) == tmp_path
    with pytest.raises(DataError, match=r"lacks ILSVRC2012_img_train\.tar"):
        check_manual_dir(tmp_path)
    with pytest.raises(ValueError, match="unknown ImageNet split"):
        check_manual_dir(tmp_path, splits=("test",))


def test_unprepared_builder_without_archives_fails_before_tfds_starts(tmp_path):
    data_dir, manual = tmp_path / "tfds", tmp_path / "manual"
    manual.mkdir()
    with pytest.raises(DataError) as info:
        imagenet_builder(data_dir=data_dir, manual_dir=manual)
    message = str(info.value)
    assert str(manual) in message and "ILSVRC2012_img_train.tar" in message
    assert str(data_dir) in message  # where a prepared copy was looked for


def test_default_manual_dir_is_tfds_own(tmp_path):
    with pytest.raises(DataError) as info:
        imagenet_builder(data_dir=tmp_path)
    assert str(tmp_path / "downloads" / "manual") in str(info.value)


def test_manual_dir_path_is_where_tfds_looks(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    builder = tfds.builder("imagenet2012", data_dir=str(tmp_path))
    assert manual_dir_path(tmp_path) == default_manual_dir(builder)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "env"))
    assert manual_dir_path() == tmp_path / "env" / "downloads" / "manual"
