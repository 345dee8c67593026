"""Variables of one model matched to another's, one to one, before any is assigned.

Copying weights between two models (a checkpoint into a model rebuilt under another
dtype policy, a trained model's layers into a new one) must either copy all of them
or none: every pair is checked first, so a mismatch leaves the target untouched.
"""

from __future__ import annotations

from typing import Any


def matched_pairs(targets, sources, where: str) -> list[tuple[Any, Any]]:
    """(target, source) pairs of two equally long lists of variables of equal shapes.

    Args:
        targets: the variables to be assigned.
        sources: the variables to assign from, in the same order.
        where: what the lists are, for the messages (e.g. "layer 'conv1'").

    Raises:
        ValueError: naming `where` and the count or the first variable whose shape
            differs, expected (the target's) against got (the source's).
    """
    targets, sources = list(targets), list(sources)
    if len(targets) != len(sources):
        raise ValueError(f"{where}: expected {len(targets)} weights, got {len(sources)}")
    for target, source in zip(targets, sources, strict=True):
        if tuple(target.shape) != tuple(source.shape):
            raise ValueError(
                f"{where}, weight {source.name!r}: expected shape {tuple(target.shape)}, "
                f"got {tuple(source.shape)}"
            )
    return list(zip(targets, sources, strict=True))
