"""The shared tensorflow-datasets fallback: the host probe and the fail-fast offline path."""

from __future__ import annotations

import time

import pytest
from cnnzoo.pipelines.errors import DataUnavailableError
from cnnzoo.pipelines.tfds_source import host_reachable, load_tfds_arrays


def test_host_reachable_is_false_at_once_when_blocked():
    # conftest makes every non-loopback connection fail, as an offline machine would;
    # 192.0.2.1 is TEST-NET-1 (RFC 5737), never routed, so no real host is named.
    start = time.perf_counter()
    assert host_reachable("192.0.2.1", port=443, timeout=3.0) is False
    assert time.perf_counter() - start < 1.0


def test_loader_offline_without_a_prepared_copy_raises_with_the_hint(tmp_path):
    calls = []

    def probe():
        calls.append(True)
        return False

    start = time.perf_counter()
    with pytest.raises(DataUnavailableError) as info:
        load_tfds_arrays(
            "mnist",
            tfds_data_dir=tmp_path / "tfds",
            host="downloads.example.org",
            probe=probe,
            offline_hint="no local files (pass --data-dir)",
            display_name="MNIST",
        )
    # An offline tfds.load would retry for minutes; the probe must stop it at once.
    assert time.perf_counter() - start < 20
    assert calls == [True]
    message = str(info.value)
    assert message.startswith("MNIST not found: no local files (pass --data-dir)")
    assert str(tmp_path / "tfds") in message
    assert "downloads.example.org is unreachable" in message
