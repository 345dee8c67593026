"""`cnnzoo.training.trainer.train` in a process of its own, for the distributed-fit tests.

    python tests/_fit_worker.py SPEC.json OUT.npz

SPEC.json holds RunSpec fields ("recipe" a dict of `Recipe` fields). The trained
weights, the number of replicas and whether this process was the chief go to OUT.npz.
A fresh process because mirroring over logical CPUs and joining a cluster must
happen before TensorFlow initializes its devices.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(spec_file: str, out: str) -> int:
    import numpy as np
    from absl import logging

    logging.set_verbosity(logging.INFO)  # the trainer's run messages, as `cnnzoo fit` shows them

    from cnnzoo.training.recipes import Recipe
    from cnnzoo.training.trainer import RunSpec, train

    fields = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    fields["recipe"] = Recipe.from_dict(fields["recipe"])
    fields["model_dir"] = Path(fields["model_dir"])
    spec = RunSpec(**fields)
    model, results = train(spec, verbose=0)
    iterations = int(model.optimizer.iterations.numpy()) if model.optimizer else -1
    np.savez(
        out,
        *model.get_weights(),
        iterations=iterations,
        **{k: v for k, v in results.items() if isinstance(v, float)},
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main(*sys.argv[1:]))
