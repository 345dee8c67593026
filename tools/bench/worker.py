"""A contender's process: ``python -m bench.worker CONFIG_JSON`` (started by the harness).

It looks its contender up in `contenders.CONTENDERS`, runs it (set-up, warm-up,
then one timed window per ``go`` from the parent) and ends with ``os._exit``
after its last window: a training contender is stopped in the middle of
``fit``, whose remaining work (validation, saving) is not the benchmark's.
"""

from __future__ import annotations

import json
import os
import sys

from bench.contenders import CONTENDERS
from bench.protocol import Channel


def main(config: dict) -> None:
    """Run the contender ``config["name"]`` until the parent says anything but ``go``."""
    channel = Channel()
    CONTENDERS[config["name"]].run(config, channel)
    channel.out.flush()
    os._exit(0)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
