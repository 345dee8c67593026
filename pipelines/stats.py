"""Dataset statistics for the normalization a recipe asks for.

The statistics are computed here, from the training images, and handed to the
model (which does the normalization); pipelines themselves never normalize.
Images are uint8 in [0, 255]; results are in [0, 1] units. Sums run over chunks
in float64, so memory stays at one chunk and 50,000-image sums stay exact enough.
"""

from __future__ import annotations

import numpy as np

# 4,096 CIFAR-sized images are 12 MB as uint8 and 100 MB as float64.
_CHUNK = 4096
_SCALE = 255.0


def _check(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"expected a non-empty (N, H, W, C) image array, got shape {images.shape}")
    return images


def per_pixel_mean(images: np.ndarray, chunk_size: int = _CHUNK) -> np.ndarray:
    """The mean image: the per-pixel mean that He et al. 2016 (§4.2) subtract.

    Args:
        images: (N, H, W, C) array with pixel values in [0, 255].
        chunk_size: images summed at a time.

    Returns:
        float32 array (H, W, C), pixels scaled to [0, 1].
    """
    images = _check(images)
    total = np.zeros(images.shape[1:], dtype=np.float64)
    for start in range(0, len(images), chunk_size):
        total += images[start : start + chunk_size].sum(axis=0, dtype=np.float64)
    return (total / (len(images) * _SCALE)).astype(np.float32)


def channel_mean_std(images: np.ndarray, chunk_size: int = _CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (population) standard deviation over all pixels.

    Args:
        images: (N, H, W, C) array with pixel values in [0, 255].
        chunk_size: images summed at a time.

    Returns:
        ``(mean, std)``: two float32 arrays (C,), in [0, 1] units. For the
        CIFAR-10 training set: mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616).
    """
    images = _check(images)
    channels = images.shape[-1]
    total = np.zeros(channels, dtype=np.float64)
    total_sq = np.zeros(channels, dtype=np.float64)
    for start in range(0, len(images), chunk_size):
        chunk = images[start : start + chunk_size].reshape(-1, channels).astype(np.float64)
        total += chunk.sum(axis=0)
        total_sq += np.square(chunk).sum(axis=0)
    count = images.size // channels
    mean = total / count
    # E[x^2] - E[x]^2 is safe in float64 for 8-bit values (no catastrophic cancellation).
    var = np.maximum(total_sq / count - np.square(mean), 0.0)
    return (mean / _SCALE).astype(np.float32), (np.sqrt(var) / _SCALE).astype(np.float32)
