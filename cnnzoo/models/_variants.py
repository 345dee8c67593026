"""How a family declares its registered models: a `Catalog` of cards and public builders.

Each family module fills a module-level ``MODELS = Catalog()``. A model's public
builder takes keras.applications' arguments (`cnnzoo.models._common`), with the
card's input shape, classes and name as defaults, then its options; it is made
here, in one of two ways:

* ``@MODELS.add(card)`` on a function ``net(inputs, top, **options) -> outputs``
  that draws the network between the checked ``keras.Input`` and the `Top`;
* ``MODELS.variant(family_function, card, fixed_arguments)`` for a row of a family
  table (a depth, a configuration): the builders that differ only by data are one
  function fed by a table.

`cnnzoo.registry` collects the catalogs of `cnnzoo.models.FAMILIES`; the model
modules never import the registry, so the dependency runs one way.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import keras

from cnnzoo.cards import ModelCard
from cnnzoo.models._common import ImageInput

# keras.applications' builder arguments, first in every builder's signature, in order.
APPLICATION_ARGS = (
    "include_top",
    "input_shape",
    "pooling",
    "classes",
    "classifier_activation",
    "name",
)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered model of a family.

    Attributes:
        card: its model card.
        builder: its public builder.
        args: the family function's arguments the builder fixes, e.g.
            ``{"unit": "original", "blocks": 3}``; empty for an `add`-ed model.
    """

    card: ModelCard
    builder: Callable[..., keras.Model]
    args: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class Catalog:
    """A family's registered models, in the order the module declares them."""

    def __init__(self):
        self._entries: dict[str, Entry] = {}

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def __getitem__(self, name: str) -> Entry:
        return self._entries[name]

    def names(self) -> list[str]:
        """The registered names, in declaration order."""
        return list(self._entries)

    def _insert(self, entry: Entry) -> Callable[..., keras.Model]:
        if entry.card.name in self._entries:
            raise ValueError(f"model {entry.card.name!r} is declared twice")
        self._entries[entry.card.name] = entry
        return entry.builder

    def add(self, card: ModelCard, min_size: int | None = None):
        """Decorator: the public builder of `card.name` from ``net(inputs, top, **options)``.

        Args:
            card: the model's card.
            min_size: the smallest input height and width the net builds, if any.

        Returns:
            A decorator taking `net` and returning the builder, which checks the
            arguments, calls `net` on ``keras.Input`` and `Top`, and returns the
            ``keras.Model`` named `name`. Its docstring is `net`'s.
        """
        image_input = ImageInput(card.name, card.input_shape, min_size)

        def decorator(net: Callable[..., Any]) -> Callable[..., keras.Model]:
            options = list(inspect.signature(net).parameters.values())[2:]

            def build(app, given):
                unknown = sorted(set(given) - {p.name for p in options})
                if unknown:
                    raise TypeError(f"{card.name}() got unexpected keyword arguments {unknown}")
                name = app.pop("name")
                inputs, top = image_input.start(**app)
                return keras.Model(inputs, net(inputs, top, **given), name=name)

            builder = _public_builder(card, build, options, net.__module__, net.__doc__)
            return self._insert(Entry(card, builder))

        return decorator

    def variant(
        self,
        family: Callable[..., keras.Model],
        card: ModelCard,
        args: Mapping[str, Any],
        defaults: Mapping[str, Any] | None = None,
    ) -> Callable[..., keras.Model]:
        """Declare the model `card.name` as `family` with `args` fixed; return its builder.

        Args:
            family: the family function, e.g. `cifar_resnet`; it takes `args`,
                keras.applications' arguments and its options as keywords.
            card: the model's card.
            args: the family arguments the model fixes (a caller cannot change them).
            defaults: option defaults of this model that differ from the family
                function's (a caller may override them).

        Returns:
            The public builder, whose signature lists the family's options.
        """
        args, defaults = dict(args), dict(defaults or {})

        def build(app, given):
            fixed = sorted(set(given) & set(args))
            if fixed:
                raise TypeError(f"{card.name} fixes {fixed}; call `{family.__name__}` to choose")
            return family(**args, **app, **{**defaults, **given})

        options = [
            p.replace(default=defaults.get(p.name, p.default))
            for p in inspect.signature(family).parameters.values()
            if p.name not in args and p.name not in APPLICATION_ARGS
        ]
        fixed = ", ".join(f"{k}={v!r}" for k, v in args.items())
        doc = (
            f"{card.name}: {card.section}; {card.paper}.\n\n`{family.__name__}({fixed}, ...)`:"
            f" keras.applications' arguments and the options `{family.__name__}` documents."
        )
        builder = _public_builder(card, build, options, family.__module__, doc)
        return self._insert(Entry(card, builder, args))


def _public_builder(card, build, options, module, doc):
    """The builder named `card.name`: ``build(keras.applications' arguments, options)``.

    Its signature is keras.applications' arguments with the card's defaults, then
    `options` (`inspect.Parameter`s) keyword-only, as it forwards them.
    """

    def builder(
        include_top=True,
        input_shape=None,
        pooling=None,
        classes=card.num_classes,
        classifier_activation="softmax",
        name=card.name,
        **options_given,
    ):
        app = {
            "include_top": include_top,
            "input_shape": card.input_shape if input_shape is None else input_shape,
            "pooling": pooling,
            "classes": classes,
            "classifier_activation": classifier_activation,
            "name": name,
        }
        return build(app, options_given)

    builder.__name__ = builder.__qualname__ = card.name
    builder.__module__ = module
    builder.__doc__ = doc
    # help(), IDEs and `cnnzoo.registry.builder_options` read the options from here.
    head = list(inspect.signature(builder).parameters.values())[:-1]
    tail = [p.replace(kind=p.KEYWORD_ONLY) for p in options if p.kind != p.VAR_KEYWORD]
    builder.__signature__ = inspect.Signature(head + tail)
    return builder
