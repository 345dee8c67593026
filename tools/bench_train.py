"""Training and inference throughput of ResNet-20 (CIFAR): cnnzoo / Keras vs PyTorch.

    python tools/bench_train.py [--data-dir ../shared/data] [--runs 3] [--steps 15]
                                [--batch-size 128] [--infer-batch-size 256]
                                [--infer-batches 10] [--contenders LIST]
                                [--intra-threads N] [--inter-threads N]
                                [--torch-threads N] [--onednn {default,0,1}] [--keras-bn]
                                [--peer SCRIPT] [--pause-pid PID] [--json FILE]

    pip install torch==2.13.0   # optional, benchmark-only: the PyTorch rows

Needs cnnzoo installed (``pip install -e .``). The harness and the contenders live
in ``tools/bench/`` (``harness``, ``report``; ``contenders``, ``tf_rows``, ``torch_rows``).

Contenders (``--contenders``, comma-separated; default: all rows below but ``call``):

=============  ===========================================================================
keras          bare Keras step: ``cnnzoo.build("resnet20")``, SGD momentum 0.9, sparse
               cross-entropy, ``model.fit`` on random float32 tensors in memory
               (``tf.data.Dataset.from_tensor_slices(...).repeat()``), batch 128
fit            ``cnnzoo fit``'s whole path: ``cnnzoo.training.trainer.fit(RunSpec(...))``
               with recipe he2016_cifar: reading, the pad-crop-flip augmentation, the
               preprocessing layers, SGDL2, metrics and every callback of the trainer.
               Real CIFAR-10 with ``--data-dir``, else a synthetic CIFAR-10 written in
               the official binary format (``fake_dataset``'s images at CIFAR-10's
               50,000/10,000, so an epoch has 351 steps) and read by the same reader
torch          PyTorch ResNet-20, option A shortcuts (identity, stride-2 subsampling and
               zero channel padding), SGD momentum 0.9 with weight decay 1e-4, batch 128,
               random tensors in memory
predict        ``model.predict`` of the zoo ResNet-20 over in-memory uint8->float32 images
call           ``model(x, training=False)`` inside a ``tf.function``
evaluate       what ``cnnzoo evaluate`` runs: the ``.keras`` file of a trained model
               (``save_trained`` of ``trainer.make_model``'s model) read by
               ``model_io.load_inference`` (BatchNorm folded) and scored by
               ``evaluate.score_dataset`` (a ``tf.function`` of the model's call)
               over ``cnnzoo.pipelines.datasets.eval_dataset``
savedmodel     the ``serving_default`` signature of ``cnnzoo.export.export_saved_model``'s
               export of that file, loaded with ``tf.saved_model.load``, uint8 batches
torch-infer    PyTorch ResNet-20 in eval mode under ``torch.inference_mode()``
torch-compile  the ``torch`` row with the model under ``torch.compile`` (TorchInductor's
               C++ kernels on CPU); its warm-up pays the compilation
torch-compile  the ``torch-infer`` row under ``torch.compile``
-infer
=============  ===========================================================================

A contender name may carry modifiers after colons, each giving one more row to set
beside the plain one, e.g. ``keras:xla``, ``fit:spe4``, ``torch:cl``. A row takes
only the modifiers that change something in it (an error names those it takes):

* ``xla`` (keras, fit, call): XLA, ``jit_compile=True`` in ``compile`` (for ``fit``
  the run's ``RunSpec.jit_compile``; for ``call`` a ``tf.function(jit_compile=True)``);
* ``speN`` (keras, fit): ``steps_per_execution=N`` in ``compile`` (for ``fit``,
  ``RunSpec.steps_per_execution``);
* ``onednn0`` / ``onednn1`` (TensorFlow rows): ``TF_ENABLE_ONEDNN_OPTS`` for that
  worker (``--onednn`` sets it for every TensorFlow row);
* ``kerasbn`` (keras, predict, call, evaluate, savedmodel): the model built with
  Keras's own BatchNormalization (a dozen element-wise ops) in place of the zoo's
  `FusedBatchNormalization` (TensorFlow's ``FusedBatchNormV3``, one op forward and
  one backward): ``keras.models.clone_model`` of the zoo's model, same names and
  weights; what the fused layer gains. Not ``fit``: the trainer builds its model
  itself and has no option for the layer;
* ``intraN`` / ``interN`` (TensorFlow rows): TensorFlow's thread pools for that worker;
* ``cl`` / ``nchw`` (torch rows): PyTorch channels-last / contiguous NCHW tensors
  (default: ``--torch-memory-format``);
* ``compile`` (torch rows): the model under ``torch.compile``;
* ``bsN``: batch size N for that row (its images/s still count images).

Method. Each contender runs in its own Python process (no shared thread pools or
global state). Every worker first sets itself up (imports, data, model, tracing)
and trains or infers for a warm-up that is not timed; then the runs are
interleaved: in run r, each contender in turn times one window while all the
others wait idle, so every ratio compares windows taken minutes apart at most,
under the machine's load of the moment. A training window is ``--steps`` steps,
preceded by two untimed steps (what a paused worker's tf.data prefetch holds
is not counted as free work); an inference window is ``--infer-batches`` batches
preceded by one untimed batch. The figures are the medians over the runs.

TensorFlow workers start with cnnzoo's command line's default,
``TF_ENABLE_ONEDNN_OPTS=1`` unless the environment or ``--onednn`` says otherwise
(``tools/bench/env.py``), so they time what ``cnnzoo fit`` and ``cnnzoo evaluate``
run.

The ``fit`` row times the steady state of the trainer's own ``model.fit`` from
inside, through the trainer's public hook: ``trainer.fit(spec, callbacks=[clock])``
runs the clock callback after the trainer's own, so it reads the clock at the end
of each batch once the batch's work is done. A window's time thus includes all the
trainer's per-batch work (tf.data input and augmentation, the step, its callbacks),
and excludes its start-up, validation and test evaluation, which a long run
amortises. Nothing of Keras, TensorFlow or cnnzoo is replaced at run time. The
worker ends with ``os._exit`` after its last window.

PyTorch's CPU kernels run on OpenMP threads, which by default spin while they wait
for each other; when another process holds one of the two cores, ResNet-20 training
fell from ~140 to ~37 img/s here (and inference from ~450 to ~240 img/s). The torch
rows therefore run with ``OMP_WAIT_POLICY=PASSIVE`` (``--torch-omp-wait``), which
keeps the comparison about the frameworks rather than about the machine's other
tenants (on an idle machine spinning may win a little back: compare with
``--torch-omp-wait active``). TensorFlow's thread pools (Eigen, also under oneDNN)
block instead of spinning.

``--peer SCRIPT`` runs an independent PyTorch script after the windows (e.g.
``../shared/peers/torch_resnet20.py``, written outside the project; ``tools/bench/peer.py``)
with the same batch sizes and runs, and prints cnnzoo's rows against its figures:
fit, evaluate and savedmodel against its float32 training and inference (>= 1.2),
the bfloat16 rows against its bfloat16 ones (>= 1.0). It reports medians only, so
these are ratios of medians.

``--pause-pid PID`` sends SIGSTOP to another process (a training job sharing
the machine) for each run's windows and SIGCONT after them, also on errors and
Ctrl-C. A `cnnzoo fit` so stopped leaves the stopped time out of its ``wall_seconds``
(`cnnzoo.training.callbacks.PauseWatch`).

Targets (the issue's):

* fit / keras >= 0.95 (the whole path costs at most 5% over the bare step);
* fit / the faster of torch and torch-compile >= 1.2 (training throughput);
* evaluate and savedmodel / the faster of torch-infer and torch-compile-infer >= 1.2
  (inference, batch 256);
* evaluate / savedmodel >= 0.95 (the evaluation path at the export's speed).

The report also gives each row's float32 GFLOP/s and its fraction of the CPU's peak
(``cnnzoo.hardware.fp32_peak_gflops``: cores x clock x FLOPs per cycle of the ISA;
multiply-adds from the resnet20 card, 2 FLOPs each, 3 passes for a training step),
and ``--json`` records the machine (CPU model, ISA flags, cores) and the versions.
"""

from __future__ import annotations

import argparse
import os
import sys

from bench.contenders import CONTENDERS, DEFAULT_CONTENDERS
from bench.harness import Pauser, run_benchmark
from bench.peer import peer_lines, peer_precisions, peer_ratios, run_peer
from bench.report import print_report, write_json

_DEFAULTS = ",".join(DEFAULT_CONTENDERS)
# The command line, in --help's order: (flags, argparse keyword arguments).
OPTIONS = (
    (
        "--data-dir",
        {
            "help": "directory holding cifar-10-batches-bin/ (the fit row trains on real "
            "CIFAR-10; evaluate/savedmodel/torch-infer infer on its test images); "
            "default: fake data",
        },
    ),
    ("--runs", {"type": int, "default": 3, "help": "timed windows per contender"}),
    ("--steps", {"type": int, "default": 15, "help": "training steps per window"}),
    ("--warmup-steps", {"type": int, "default": 5, "help": "untimed training steps after set-up"}),
    ("--batch-size", {"type": int, "default": 128, "help": "training batch"}),
    ("--infer-batch-size", {"type": int, "default": 256, "help": "inference batch"}),
    ("--infer-batches", {"type": int, "default": 10, "help": "inference batches per window"}),
    (
        "--contenders",
        {
            "default": _DEFAULTS,
            "help": "comma-separated rows, with optional :modifiers (see the docstring); "
            f"default {_DEFAULTS}",
        },
    ),
    ("--intra-threads", {"type": int, "default": 0, "help": "TF intra-op threads"}),
    ("--inter-threads", {"type": int, "default": 0, "help": "TF inter-op threads"}),
    (
        "--torch-threads",
        {
            "type": int,
            "default": os.cpu_count() or 1,
            "help": "torch.set_num_threads (default: the CPU count)",
        },
    ),
    (
        "--torch-memory-format",
        {
            "choices": ("channels_last", "contiguous"),
            "default": "channels_last",
            "help": "PyTorch tensor layout of the torch rows without a cl/nchw modifier "
            "(channels-last measured faster here, for training and inference)",
        },
    ),
    (
        "--torch-omp-wait",
        {
            "choices": ("passive", "active", "inherit"),
            "default": "passive",
            "help": "OMP_WAIT_POLICY of the torch rows (default passive: with OpenMP's "
            "spinning threads PyTorch ran 4x slower whenever another process used a core; "
            "see the docstring)",
        },
    ),
    (
        "--onednn",
        {
            "choices": ("default", "0", "1"),
            "default": "default",
            "help": "TF_ENABLE_ONEDNN_OPTS of the TensorFlow rows without a onednn modifier "
            "(default: as inherited, else cnnzoo's default, 1; TensorFlow's own turns "
            "oneDNN on only on CPUs with AVX-512 VNNI / BF16 or AMX)",
        },
    ),
    (
        "--keras-bn",
        {
            "action": "store_true",
            "help": "the kerasbn modifier (see the docstring) on every TensorFlow row; "
            "not with the fit row",
        },
    ),
    (
        "--emulated-bf16",
        {
            "action": "store_true",
            "help": "time the bfloat16 rows (fit-bf16, torch-bf16, ...) also on a CPU without "
            "native bfloat16, where they are skipped by default (they run emulated, slowly)",
        },
    ),
    (
        "--peer",
        {
            "metavar": "SCRIPT",
            "help": "after the windows, run this independent PyTorch script (e.g. "
            "../shared/peers/torch_resnet20.py) and compare cnnzoo's rows with its figures "
            "(tools/bench/peer.py)",
        },
    ),
    ("--pause-pid", {"type": int, "help": "SIGSTOP this process during the timed windows"}),
    ("--json", {"help": "also write the results to this JSON file"}),
)


def parse_args(argv=None) -> argparse.Namespace:
    """The command line (`OPTIONS`), checked."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the module docstring (tools/bench_train.py) for the method.",
    )
    for flag, options in OPTIONS:
        parser.add_argument(flag, **options)
    args = parser.parse_args(argv)
    if min(args.runs, args.steps, args.batch_size, args.infer_batches) < 1:
        parser.error("--runs, --steps, --batch-size and --infer-batches must be positive")
    if args.keras_bn:
        names = {c.split(":")[0].strip() for c in args.contenders.split(",")}
        refused = [
            n
            for n in sorted(names)
            if n in CONTENDERS
            and CONTENDERS[n].framework == "tensorflow"
            and "kerasbn" not in CONTENDERS[n].modifiers
        ]
        if refused:
            parser.error(
                f"--keras-bn: {', '.join(refused)} cannot build its model with Keras's "
                "BatchNormalization; leave it out of --contenders"
            )
    return args


def main(argv=None) -> int:
    """Run the benchmark and print (and with ``--json`` write) its figures."""
    args = parse_args(argv)
    results = run_benchmark(args)
    peer = None
    if args.peer:
        pauser = Pauser(args.pause_pid)
        pauser.stop()
        try:
            peer = run_peer(args.peer, peer_precisions(results) or ["fp32"], args)
        finally:
            pauser.resume()
    found = print_report(results, args)
    peer_found = []
    if peer is not None:
        peer_found = peer_ratios(results, peer)
        print()
        print("\n".join(peer_lines(peer, peer_found)))
    if args.json:
        write_json(args.json, args, results, found, peer=peer, peer_ratios=peer_found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
