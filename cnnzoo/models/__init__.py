"""Model families, one module each; `catalog` lists what they declare for the registry.

Each family module declares its models in a ``MODELS`` catalog
(`cnnzoo.models._variants.Catalog`) and imports nothing of cnnzoo but the cards,
the layers and the shared model code: `cnnzoo.registry` reads the catalogs, never
the reverse.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

from cnnzoo.models._common import recursion_limit
from cnnzoo.models._variants import APPLICATION_ARGS, Entry

__all__ = ["APPLICATION_ARGS", "FAMILIES", "Entry", "catalog", "recursion_limit"]

# The family modules, in the order `catalog` lists their models; adding a family is
# adding its module here.
FAMILIES = tuple(
    importlib.import_module(f"{__name__}.{family}")
    for family in (
        "alexnet",
        "cifar_resnet",
        "googlenet",
        "imagenet_resnet",
        "inception",
        "inception_resnet",
        "lenet",
        "vgg",
        "wu2016",
        "xception",
    )
)


def catalog() -> Iterator[Entry]:
    """Every model the families declare: its card, builder and fixed family arguments."""
    for family in FAMILIES:
        yield from family.MODELS
