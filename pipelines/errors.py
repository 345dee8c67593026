"""Exceptions raised by the dataset sources.

Two kinds of failure need different remedies, so they are separate types:
a file that is there but wrong (`DataError`), and no data at all with no way
to fetch it (`DataUnavailableError`).
"""

from __future__ import annotations


class DataError(ValueError):
    """A dataset file or directory is missing, truncated or malformed.

    The message names the file or directory, what was expected and what was found.
    """


class DataUnavailableError(RuntimeError):
    """No local copy of the dataset exists and the network cannot be reached to fetch one."""
