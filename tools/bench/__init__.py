"""The parts of ``tools/bench_train.py``: the harness and the contenders it times.

Parent side (the process you start):

* `harness`: one worker process per contender, the interleaved timed windows,
  the medians; `report`: the table, the targets' ratios and ``--json``;
* `env`: the environment TensorFlow workers start with (cnnzoo's CLI defaults).

Worker side (one process per contender, ``python -m bench.worker CONFIG``):

* `worker`: the entry point, which looks the contender up in `contenders.CONTENDERS`;
* `protocol`: the lines a worker exchanges with the parent, and the clocks that
  time its windows (`protocol.KerasClock`: a Keras callback; `protocol.loop_windows`);
* `tf_rows` and `torch_rows`: the contenders' set-up and steps;
* `data`: the inference images, and a CIFAR-10 in the official binary format for ``fit``.

Adding a contender: a function ``run(config, channel)`` in `tf_rows` or `torch_rows`
and one line in `contenders.CONTENDERS`.
"""
