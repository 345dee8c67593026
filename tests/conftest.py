"""Shared fixtures: where the real datasets are, and a guard against network use."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]
_DEFAULT_SHARED = _REPO.parent / "shared" / "data"


def _data_root() -> Path | None:
    env = os.environ.get("CNNZOO_DATA_DIR")
    root = Path(env) if env else _DEFAULT_SHARED
    return root if root.is_dir() else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The directory holding the real datasets, or skip with the reason."""
    root = _data_root()
    if root is None:
        pytest.skip(
            "real datasets not found: set CNNZOO_DATA_DIR to a directory holding "
            "cifar-10-batches-bin/ and mnist/ (CI uses ../shared/data)"
        )
    return root


@pytest.fixture(scope="session")
def cifar10_dir(data_root: Path) -> Path:
    """The official CIFAR-10 binary directory, or skip."""
    path = data_root / "cifar-10-batches-bin"
    if not (path / "data_batch_1.bin").is_file():
        pytest.skip(f"CIFAR-10 binary files not found under {path}")
    return path


@pytest.fixture(scope="session")
def mnist_dir(data_root: Path) -> Path:
    """The official MNIST IDX directory (files .gz or unpacked), or skip."""
    path = data_root / "mnist"
    names = ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz")
    if not any((path / name).is_file() for name in names):
        pytest.skip(f"MNIST IDX files not found under {path}")
    return path


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Tests must never reach for the network: any non-loopback connect fails at once."""
    real_connect = socket.socket.connect
    real_create_connection = socket.create_connection

    def _check(address):
        # Only IP addresses are tuples; AF_UNIX paths are local by nature.
        if isinstance(address, tuple) and address[0] not in _LOOPBACK:
            raise OSError(f"test tried to reach the network ({address!r})")

    def connect(self, address):
        _check(address)
        return real_connect(self, address)

    def create_connection(address, *args, **kwargs):
        _check(address)
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
