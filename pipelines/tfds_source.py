"""The tensorflow-datasets fallback shared by the dataset sources.

A dataset module reads its official files first; when there are none, it comes
here. A prepared tensorflow-datasets copy is used as it is. Without one, the
download host is probed first, because an offline ``tfds.load`` spends minutes
retrying before it gives up: an unreachable host raises `DataUnavailableError`
at once, with the dataset module's hint on where to put a local copy.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import numpy as np
from cnnzoo.pipelines.errors import DataUnavailableError

SPLITS = ("train", "test")
# Long enough for a slow but working connection, short enough that an offline
# run fails within seconds instead of waiting for tfds's retries.
PROBE_TIMEOUT_S = 3.0


def host_reachable(host: str, port: int = 443, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``host:port`` opens within ``timeout`` seconds.

    Args:
        host: host name or IP address, e.g. a dataset's download host.
        port: TCP port; 443 because the downloads are HTTPS.
        timeout: seconds to wait for the connection (name lookup included).

    Returns:
        True when the connection opened (it is closed again at once), False on
        any failure: no route, refused, name not resolved, or timed out.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        # Every way of being offline is an OSError (socket.timeout and
        # socket.gaierror included); the answer is the same for all of them.
        return False


def load_tfds_arrays(
    name: str,
    *,
    tfds_data_dir: str | os.PathLike | None,
    host: str,
    probe: Callable[[], bool],
    offline_hint: str,
    display_name: str | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Load the train and test splits of a tensorflow-datasets dataset as numpy arrays.

    Args:
        name: the tensorflow-datasets name, e.g. "cifar10" or "mnist".
        tfds_data_dir: tensorflow-datasets data directory; None uses its default
            (``TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
        host: the download host, named in the error when it is unreachable.
        probe: called with no arguments when no prepared copy exists; returns
            whether ``host`` is reachable. Callers pass their module's probe so
            tests can replace it.
        offline_hint: what local copy was looked for and how to provide one,
            e.g. "no local IDX files (pass --data-dir ...)"; starts the error's
            list of what is missing.
        display_name: the dataset's name in messages; None uses ``name``.

    Returns:
        ``{"train": (images, labels), "test": (images, labels)}`` with uint8
        NHWC images and int64 labels, in tensorflow-datasets' stored order.

    Raises:
        DataUnavailableError: no prepared copy under ``tfds_data_dir`` and
            ``probe()`` returned False.
    """
    # Imported here: tensorflow-datasets is only needed when there is no local copy.
    import tensorflow_datasets as tfds

    data_dir = os.fspath(tfds_data_dir) if tfds_data_dir is not None else None
    # Building the builder reads local metadata only (GCS is off by default in tfds).
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared() and not probe():
        raise DataUnavailableError(
            f"{display_name or name} not found: {offline_hint}, no prepared "
            f"tensorflow-datasets copy under {builder.data_path}, and {host} is "
            f"unreachable to download one"
        )
    splits = tfds.as_numpy(
        tfds.load(name, split=list(SPLITS), data_dir=data_dir, batch_size=-1, as_supervised=True)
    )
    return {
        split: (np.asarray(images, dtype=np.uint8), np.asarray(labels, dtype=np.int64))
        for split, (images, labels) in zip(SPLITS, splits, strict=True)
    }
