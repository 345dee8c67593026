"""Input checks the custom layers share, so their messages agree."""

from __future__ import annotations


def channels_last(layer_name, input_shape, rank=None):
    """The channel count of a channels-last input shape, checked.

    Args:
        layer_name: the layer's name, for the messages.
        input_shape: the shape `build` receives.
        rank: the rank the layer needs, or None for any rank >= 2.

    Returns:
        ``input_shape[-1]``.

    Raises:
        ValueError: for another rank, or an unknown channel dimension.
    """
    if len(input_shape) < 2 or (rank is not None and len(input_shape) != rank):
        wanted = f"a {rank}-D channels-last input" if rank else "a channels-last input of rank >= 2"
        raise ValueError(f"{layer_name}: expected {wanted}, got shape {input_shape}")
    if input_shape[-1] is None:
        raise ValueError(f"{layer_name}: the channel dimension must be known")
    return input_shape[-1]
