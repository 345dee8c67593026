"""Training and inference throughput of ResNet-20 (CIFAR): cnnzoo / Keras vs PyTorch.

    python tools/bench_train.py [--data-dir ../shared/data] [--runs 3] [--steps 15]
                                [--batch-size 128] [--infer-batch-size 256]
                                [--infer-batches 10] [--contenders LIST]
                                [--intra-threads N] [--inter-threads N]
                                [--torch-threads N] [--onednn {default,0,1}] [--keras-bn]
                                [--pause-pid PID] [--json FILE]

    pip install torch==2.13.0   # optional, benchmark-only: the PyTorch rows

Contenders (``--contenders``, comma-separated; default: all rows below but ``call``):

=============  ===========================================================================
keras          bare Keras step: ``cnnzoo.build("resnet20")``, SGD momentum 0.9, sparse
               cross-entropy, ``model.fit`` on random float32 tensors in memory
               (``tf.data.Dataset.from_tensor_slices(...).repeat()``), batch 128
fit            ``cnnzoo fit``'s whole path: ``cnnzoo.training.trainer.fit(RunSpec(...))``
               with recipe he2016_cifar: reading, the pad-crop-flip augmentation, the
               preprocessing layers, SGDL2, metrics and every callback of the trainer.
               Real CIFAR-10 with ``--data-dir``, else the ``fake`` dataset enlarged to
               CIFAR-10's 50,000/10,000 images (so an epoch has 351 steps, like CIFAR's)
torch          PyTorch ResNet-20, option A shortcuts (identity, stride-2 subsampling and
               zero channel padding), SGD momentum 0.9 with weight decay 1e-4, batch 128,
               random tensors in memory
predict        ``model.predict`` of the zoo ResNet-20 over in-memory uint8->float32 images
call           ``model(x, training=False)`` inside a ``tf.function``
evaluate       what ``cnnzoo evaluate`` runs: the ``.keras`` file of a trained model
               (``save_trained`` of ``trainer.make_model``'s model) read by
               ``load_trained`` and scored by ``evaluate.score_dataset`` (a
               ``tf.function`` of the model's call) over ``cnnzoo.pipelines.datasets.eval_dataset``
savedmodel     the ``serving_default`` signature of ``cnnzoo.export.export_saved_model``'s
               export of that file, loaded with ``tf.saved_model.load``, uint8 batches
torch-infer    PyTorch ResNet-20 in eval mode under ``torch.inference_mode()``
=============  ===========================================================================

A contender name may carry modifiers after colons, each giving one more row to set
beside the plain one, e.g. ``keras:xla``, ``fit:spe4``, ``torch:cl``:

* ``xla``: XLA (``jit_compile=True`` in ``compile``; for ``call`` and ``savedmodel``
  a ``tf.function(jit_compile=True)``, for ``savedmodel`` in the exported signature);
* ``speN``: ``steps_per_execution=N`` in ``compile`` (keras, fit);
* ``onednn0`` / ``onednn1``: ``TF_ENABLE_ONEDNN_OPTS`` for that worker (``--onednn``
  sets it for every TensorFlow row);
* ``kerasbn``: the zoo's `FusedBatchNormalization` (TensorFlow's ``FusedBatchNormV3``,
  one op forward and one backward) replaced in that worker by Keras's own
  BatchNormalization code (a dozen element-wise ops): what the fused layer gains;
* ``intraN`` / ``interN``: TensorFlow's thread pools for that worker;
* ``cl`` / ``nchw``: PyTorch channels-last / contiguous NCHW tensors (default:
  ``--torch-memory-format``);
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

The ``fit`` row times the steady state of the trainer's own ``model.fit`` from inside:
the worker wraps ``keras.Model.fit`` so that one more callback (last in the list)
reads the clock at the end of each batch. A window's time thus includes all the
trainer's per-batch work (tf.data input and augmentation, the step, its callbacks),
and excludes its start-up, validation and test evaluation, which a long run
amortises. The worker ends with ``os._exit`` after its last window.

PyTorch's CPU kernels run on OpenMP threads, which by default spin while they wait
for each other; when another process holds one of the two cores, ResNet-20 training
fell from ~140 to ~37 img/s here (and inference from ~450 to ~240 img/s). The torch
rows therefore run with ``OMP_WAIT_POLICY=PASSIVE`` (``--torch-omp-wait``), which
keeps the comparison about the frameworks rather than about the machine's other
tenants (on an idle machine spinning may win a little back: compare with
``--torch-omp-wait active``). TensorFlow's thread pools (Eigen, also under oneDNN)
block instead of spinning.

``--pause-pid PID`` sends SIGSTOP to another process (a training job sharing
the machine) for each run's windows and SIGCONT after them, also on errors and
Ctrl-C.

Targets (the issue's):

* fit / keras >= 0.95 (the whole path costs at most 5% over the bare step);
* fit / torch >= 1.2 (training throughput);
* evaluate / torch-infer and savedmodel / torch-infer >= 1.2 (inference, batch 256).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]

ARCH = "resnet20"
TRAINABLE_PARAMS = 269_722  # the model card's figure; the PyTorch net must match it
DEFAULT_CONTENDERS = ("keras", "fit", "torch", "predict", "evaluate", "savedmodel", "torch-infer")
KINDS = {
    "keras": "train",
    "fit": "train",
    "torch": "train",
    "predict": "infer",
    "call": "infer",
    "evaluate": "infer",
    "savedmodel": "infer",
    "torch-infer": "infer",
}
DESCRIPTIONS = {
    "keras": "bare Keras model.fit, in-memory tensors",
    "fit": "cnnzoo fit whole path (trainer.fit)",
    "torch": "PyTorch ResNet-20 (option A) train",
    "predict": "Keras model.predict",
    "call": "Keras model(x) in tf.function",
    "evaluate": "cnnzoo evaluate path (score_dataset)",
    "savedmodel": "exported SavedModel serving_default",
    "torch-infer": "PyTorch eval, inference_mode",
}
# (numerator, denominator, target, what)
TARGETS = (
    ("fit", "keras", 0.95, "cnnzoo fit whole path vs bare Keras step"),
    ("fit", "torch", 1.2, "training: cnnzoo fit vs PyTorch"),
    ("evaluate", "torch-infer", 1.2, "inference: cnnzoo evaluate vs PyTorch"),
    ("savedmodel", "torch-infer", 1.2, "inference: SavedModel vs PyTorch"),
)
TRAIN_REWARM = 2  # untimed steps before each training window
PROTOCOL_PREFIX = "@@"


# ----------------------------------------------------------------------------- parent


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the module docstring (tools/bench_train.py) for the method.",
    )
    parser.add_argument(
        "--data-dir",
        help="directory holding cifar-10-batches-bin/ (the fit row trains on real CIFAR-10; "
        "evaluate/savedmodel/torch-infer infer on its test images); default: fake data",
    )
    parser.add_argument("--runs", type=int, default=3, help="timed windows per contender")
    parser.add_argument("--steps", type=int, default=15, help="training steps per window")
    parser.add_argument(
        "--warmup-steps", type=int, default=5, help="untimed training steps after set-up"
    )
    parser.add_argument("--batch-size", type=int, default=128, help="training batch")
    parser.add_argument("--infer-batch-size", type=int, default=256, help="inference batch")
    parser.add_argument(
        "--infer-batches", type=int, default=10, help="inference batches per window"
    )
    parser.add_argument(
        "--contenders",
        default=",".join(DEFAULT_CONTENDERS),
        help="comma-separated rows, with optional :modifiers (see the docstring); "
        f"default {','.join(DEFAULT_CONTENDERS)}",
    )
    parser.add_argument("--intra-threads", type=int, default=0, help="TF intra-op threads")
    parser.add_argument("--inter-threads", type=int, default=0, help="TF inter-op threads")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch.set_num_threads (default: the CPU count)",
    )
    parser.add_argument(
        "--torch-memory-format",
        choices=("channels_last", "contiguous"),
        default="channels_last",
        help="PyTorch tensor layout of the torch rows without a cl/nchw modifier "
        "(channels-last measured faster here, for training and inference)",
    )
    parser.add_argument(
        "--torch-omp-wait",
        choices=("passive", "active", "inherit"),
        default="passive",
        help="OMP_WAIT_POLICY of the torch rows (default passive: with OpenMP's spinning "
        "threads PyTorch ran 4x slower whenever another process used a core; see the "
        "docstring)",
    )
    parser.add_argument(
        "--onednn",
        choices=("default", "0", "1"),
        default="default",
        help="TF_ENABLE_ONEDNN_OPTS of the TensorFlow rows without a onednn modifier "
        "(default: as inherited, else cnnzoo's default, 1; TensorFlow's own turns oneDNN "
        "on only on CPUs with AVX-512 VNNI / BF16 or AMX)",
    )
    parser.add_argument(
        "--keras-bn",
        action="store_true",
        help="the kerasbn modifier (see the docstring) on every TensorFlow row",
    )
    parser.add_argument(
        "--pause-pid", type=int, help="SIGSTOP this process during the timed windows"
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.runs, args.steps, args.batch_size, args.infer_batches) < 1:
        parser.error("--runs, --steps, --batch-size and --infer-batches must be positive")
    return args


def _parse_contender(text: str) -> dict:
    name, *mods = [p.strip() for p in text.split(":")]
    if name not in KINDS:
        raise SystemExit(f"unknown contender {name!r}; known: {', '.join(KINDS)}")
    spec: dict = {"label": text, "name": name, "kind": KINDS[name], "env": {}}
    for mod in mods:
        if mod == "xla":
            spec["xla"] = True
        elif mod.startswith("spe") and mod[3:].isdigit():
            spec["steps_per_execution"] = int(mod[3:])
        elif mod in ("onednn0", "onednn1"):
            spec["env"]["TF_ENABLE_ONEDNN_OPTS"] = mod[-1]
        elif mod.startswith("intra") and mod[5:].isdigit():
            spec["intra_threads"] = int(mod[5:])
        elif mod.startswith("inter") and mod[5:].isdigit():
            spec["inter_threads"] = int(mod[5:])
        elif mod == "kerasbn":
            spec["keras_bn"] = True
        elif mod in ("cl", "nchw"):
            spec["memory_format"] = "channels_last" if mod == "cl" else "contiguous"
        elif mod.startswith("bs") and mod[2:].isdigit():
            key = "batch_size" if spec["kind"] == "train" else "infer_batch_size"
            spec[key] = int(mod[2:])
        else:
            raise SystemExit(f"{text}: unknown modifier {mod!r} (see --help)")
    return spec


class _Pauser:
    """SIGSTOP / SIGCONT another process around the timed windows; always resumes it."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self.stopped = False

    def _alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def stop(self) -> None:
        if self._alive():
            os.kill(self.pid, signal.SIGSTOP)
            self.stopped = True

    def resume(self) -> None:
        if self.stopped and self._alive():
            os.kill(self.pid, signal.SIGCONT)
        self.stopped = False


class _Worker:
    """One contender's process, driven by lines on stdin; answers on its real stdout."""

    def __init__(self, spec: dict, args: argparse.Namespace, log_dir: Path):
        self.spec = spec
        self.log_path = log_dir / f"{spec['label'].replace(':', '_')}.log"
        env = dict(os.environ)
        if args.onednn != "default" and not spec["name"].startswith("torch"):
            env["TF_ENABLE_ONEDNN_OPTS"] = args.onednn
        if args.torch_omp_wait != "inherit" and spec["name"].startswith("torch"):
            env["OMP_WAIT_POLICY"] = args.torch_omp_wait.upper()
        env.update(spec["env"])
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        env["PYTHONPATH"] = os.pathsep.join(
            [str(_REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
        # Workers end with os._exit (see the docstring): their files go here, and the
        # parent deletes them.
        self.scratch = log_dir / "scratch" / spec["label"].replace(":", "_")
        self.scratch.mkdir(parents=True)
        config = {**vars(args), **{k: v for k, v in spec.items() if k != "env"}}
        config["scratch"] = str(self.scratch)
        self.log = open(self.log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            bufsize=1,
            env=env,
            cwd=str(_REPO),
        )

    def read(self) -> dict:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait()
                tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
                raise RuntimeError(
                    f"worker {self.spec['label']} exited ({self.proc.returncode}); "
                    f"its log ({self.log_path}) ends with:\n{tail}"
                )
            if line.startswith(PROTOCOL_PREFIX):
                return json.loads(line[len(PROTOCOL_PREFIX) :])

    def send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.send("quit")
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def run_benchmark(args: argparse.Namespace) -> dict:
    specs = [_parse_contender(c) for c in args.contenders.split(",") if c.strip()]
    if not _torch_available():
        torch_rows = [s["label"] for s in specs if s["name"].startswith("torch")]
        if torch_rows:
            print(
                f"notice: PyTorch is not installed; rows {', '.join(torch_rows)} skipped. "
                "Install the CPU build with: pip install torch==2.13.0"
            )
        specs = [s for s in specs if not s["name"].startswith("torch")]
    pauser = _Pauser(args.pause_pid)
    results: dict[str, dict] = {}
    log_dir = Path(tempfile.mkdtemp(prefix="bench_train_logs_"))
    workers: list[_Worker] = []
    started = time.perf_counter()
    try:
        # Set-up (imports, model building, tracing) is mostly single-threaded Python:
        # the workers do it at the same time, and wait for their first window.
        print(f"setting up {', '.join(s['label'] for s in specs)} ...", flush=True)
        workers = [_Worker(spec, args, log_dir) for spec in specs]
        for worker in workers:
            ready = worker.read()
            results[worker.spec["label"]] = {
                **worker.spec,
                "info": ready.get("info", {}),
                "images_per_second": [],
                "images_per_cpu_second": [],
            }
        print(f"set up in {time.perf_counter() - started:.0f} s", flush=True)
        for run in range(args.runs):
            pauser.stop()
            try:
                for worker in workers:
                    worker.send("go")
                    window = worker.read()
                    rate = window["images"] / window["seconds"]
                    cpu_rate = window["images"] / max(window["cpu_seconds"], 1e-9)
                    row = results[worker.spec["label"]]
                    row["images_per_second"].append(rate)
                    row["images_per_cpu_second"].append(cpu_rate)
                    print(
                        f"  run {run + 1}/{args.runs}  {worker.spec['label']:<22} "
                        f"{rate:8.1f} img/s  {cpu_rate:8.1f} img/CPU-s",
                        flush=True,
                    )
            finally:
                pauser.resume()
    finally:
        pauser.resume()
        for worker in workers:
            worker.close()
        shutil.rmtree(log_dir / "scratch", ignore_errors=True)
    for row in results.values():
        row["median"] = statistics.median(row["images_per_second"])
        row["median_per_cpu_second"] = statistics.median(row["images_per_cpu_second"])
    print(f"(logs of the workers in {log_dir}; {time.perf_counter() - started:.0f} s in all)")
    return results


def _ratios(results: dict) -> list[dict]:
    out = []
    for num, den, target, what in TARGETS:
        if num in results and den in results:
            a, b = results[num], results[den]
            out.append(
                {
                    "what": what,
                    "num": num,
                    "den": den,
                    "target": target,
                    # The ratio of the medians, the figure judged against the target.
                    "ratio": a["median"] / b["median"],
                    # The same run's two windows, taken a minute apart at most: the
                    # median of these is less sensitive to load that changes between runs.
                    "ratio_per_run": statistics.median(
                        x / y
                        for x, y in zip(a["images_per_second"], b["images_per_second"], strict=True)
                    ),
                    # Work per CPU-second: what the ratio would be were both alone on the
                    # same cores (not when one framework scales to the cores better).
                    "ratio_per_cpu_second": a["median_per_cpu_second"] / b["median_per_cpu_second"],
                }
            )
    return out


def print_report(results: dict, args: argparse.Namespace) -> list[dict]:
    data = f"CIFAR-10 from {args.data_dir}" if args.data_dir else "fake data"
    onednn = (
        args.onednn
        if args.onednn != "default"
        else os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1 (cnnzoo's default)")
    )
    print()
    print(
        f"ResNet-20, training batch {args.batch_size}, inference batch "
        f"{args.infer_batch_size}; {data}; median of {args.runs} runs "
        f"({args.steps} steps / {args.infer_batches} batches per window); "
        f"{os.cpu_count()} CPUs; TF_ENABLE_ONEDNN_OPTS={onednn}"
        + ("; Keras's BatchNormalization" if args.keras_bn else "")
    )
    header = ("contender", "what", "img/s", "min", "max", "vs plain", "img/CPU-s")
    rows = [header]
    for label, row in results.items():
        base = results.get(row["name"])
        rel = f"{row['median'] / base['median']:.2f}x" if base and label != row["name"] else ""
        rows.append(
            (
                label,
                DESCRIPTIONS[row["name"]],
                f"{row['median']:.1f}",
                f"{min(row['images_per_second']):.1f}",
                f"{max(row['images_per_second']):.1f}",
                rel,
                f"{row['median_per_cpu_second']:.1f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for i, r in enumerate(rows):
        cells = [r[j].ljust(widths[j]) if j < 2 else r[j].rjust(widths[j]) for j in range(len(r))]
        print("  ".join(cells).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    ratios = _ratios(results)
    if ratios:
        print()
    for r in ratios:
        verdict = (
            "PASS"
            if r["ratio"] >= r["target"]
            else f"short by {(1 - r['ratio'] / r['target']) * 100:.0f}%"
        )
        print(
            f"{r['what']:<42} {r['num']}/{r['den']} = {r['ratio']:.2f}  "
            f"(target >= {r['target']:.2f})  {verdict}  "
            f"[median per-run ratio {r['ratio_per_run']:.2f}; "
            f"per CPU-second {r['ratio_per_cpu_second']:.2f}]"
        )
    return ratios


def main(argv=None) -> int:
    args = _parse_args(argv)
    if args.worker:
        return _worker_main(json.loads(args.worker))
    results = run_benchmark(args)
    ratios = print_report(results, args)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"args": vars(args), "results": results, "ratios": ratios}, indent=2) + "\n",
            encoding="utf-8",
        )
    return 0


# ----------------------------------------------------------------------------- workers


class _Channel:
    """The worker's end: protocol lines on the real stdout, everything else on stderr."""

    def __init__(self):
        self.out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        os.dup2(2, 1)  # Keras progress bars, prints and logs go to the log file

    def send(self, **message) -> None:
        self.out.write(PROTOCOL_PREFIX + json.dumps(message) + "\n")
        self.out.flush()

    def wait(self) -> str:
        line = sys.stdin.readline().strip()
        if line != "go":
            self.out.flush()
            os._exit(0)
        return line


class _KerasGate:
    """A `keras.callbacks.Callback` that times windows of batches and waits between them.

    State: warm-up (``warmup`` steps), then for each "go": ``rewarm`` untimed steps,
    ``steps`` timed steps, report, wait. With steps_per_execution > 1 Keras calls it
    every few steps; the step count comes from the batch index it passes.
    """

    def __init__(self, channel: _Channel, warmup: int, rewarm: int, steps: int, batch: int):
        import keras

        gate = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                gate.seen_in_epoch = 0

            def on_train_batch_end(self, batch, logs=None):
                done = batch + 1
                gate.tick(done - gate.seen_in_epoch)
                gate.seen_in_epoch = done

        self.callback = Callback()
        self.channel, self.rewarm, self.steps, self.batch = channel, rewarm, steps, batch
        self.seen_in_epoch = 0
        self.done = 0
        self.target = warmup
        self.state = "warmup"
        self.t0 = self.cpu0 = 0.0
        self.start = 0
        self.info: dict = {}

    def _go(self) -> None:
        self.channel.wait()
        if self.rewarm:
            self.state, self.target = "rewarm", self.done + self.rewarm
        else:
            self._start_window(time.perf_counter())

    def _start_window(self, now: float) -> None:
        self.state, self.t0, self.start = "timed", now, self.done
        self.cpu0 = time.process_time()
        self.target = self.done + self.steps

    def tick(self, n: int) -> None:
        self.done += n
        if self.done < self.target:
            return
        now = time.perf_counter()
        if self.state == "warmup":
            self.channel.send(event="ready", info=self.info)
            self._go()
        elif self.state == "rewarm":
            self._start_window(now)
        else:
            steps = self.done - self.start
            self.channel.send(
                event="window",
                seconds=now - self.t0,
                cpu_seconds=time.process_time() - self.cpu0,
                images=steps * self.batch,
                steps=steps,
            )
            self._go()


def _use_keras_batch_norm() -> None:
    """Make the zoo's `FusedBatchNormalization` run Keras's own BatchNormalization code."""
    import keras

    from cnnzoo.layers.batch_norm import FusedBatchNormalization

    FusedBatchNormalization.call = keras.layers.BatchNormalization.call


def _configure_tf(config: dict):
    import cnnzoo  # noqa: F401, I001  (first: it sets TensorFlow's oneDNN default)
    import tensorflow as tf

    if config.get("keras_bn"):
        _use_keras_batch_norm()
    if config.get("intra_threads"):
        tf.config.threading.set_intra_op_parallelism_threads(config["intra_threads"])
    if config.get("inter_threads"):
        tf.config.threading.set_inter_op_parallelism_threads(config["inter_threads"])
    return tf


def _max_steps(config: dict) -> int:
    per_window = TRAIN_REWARM + config["steps"]
    return config["warmup_steps"] + config["runs"] * per_window + 1000


def _worker_keras(config: dict, channel: _Channel) -> None:
    tf = _configure_tf(config)
    import keras
    import numpy as np

    import cnnzoo

    batch = config["batch_size"]
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (batch * 8, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, batch * 8).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch, drop_remainder=True)
    ds = ds.repeat().prefetch(tf.data.AUTOTUNE)
    model = cnnzoo.build(ARCH)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        jit_compile=bool(config.get("xla")),
        steps_per_execution=config.get("steps_per_execution", 1),
    )
    gate = _KerasGate(channel, config["warmup_steps"], TRAIN_REWARM, config["steps"], batch)
    model.fit(
        ds, epochs=1, steps_per_epoch=_max_steps(config), callbacks=[gate.callback], verbose=0
    )


def _worker_fit(config: dict, channel: _Channel) -> None:
    _configure_tf(config)
    import functools

    import cnnzoo.pipelines.sources as sources
    import keras

    from cnnzoo.training import trainer
    from cnnzoo.training.recipes import get_recipe

    batch = config["batch_size"]
    gate = _KerasGate(channel, config["warmup_steps"], TRAIN_REWARM, config["steps"], batch)
    recipe = get_recipe("he2016_cifar").for_arch(ARCH).override(batch_size=batch)
    if not config.get("data_dir"):
        # CIFAR-10's sizes, so the 45k/5k split and the 351-step epoch are CIFAR's.
        sources.fake_dataset = functools.partial(
            sources.fake_dataset, train_size=50_000, test_size=10_000
        )
        recipe = recipe.override(dataset="fake")
    gate.info["dataset"] = recipe.dataset

    original_fit, original_compile = keras.Model.fit, keras.Model.compile

    def fit(self, *args, callbacks=None, **kwargs):
        return original_fit(self, *args, callbacks=[*(callbacks or []), gate.callback], **kwargs)

    def compile(self, *args, **kwargs):
        if config.get("xla"):
            kwargs["jit_compile"] = True
        if config.get("steps_per_execution"):
            kwargs["steps_per_execution"] = config["steps_per_execution"]
        return original_compile(self, *args, **kwargs)

    keras.Model.fit, keras.Model.compile = fit, compile
    spec = trainer.RunSpec(
        arch=ARCH,
        recipe=recipe,
        model_dir=Path(config["scratch"]) / "run",
        data_dir=config.get("data_dir"),
        max_eval_images=config["infer_batch_size"],
        steps=_max_steps(config),
    )
    trainer.fit(spec, verbose=0)


def _infer_images(config: dict):
    """uint8 (N, 32, 32, 3) images and int labels: CIFAR-10's test split, or random."""
    import numpy as np

    n = config["infer_batch_size"] * config["infer_batches"]
    if config.get("data_dir"):
        from cnnzoo.pipelines.sources import load_dataset

        images, labels = load_dataset("cifar10", config["data_dir"]).test
        reps = -(-n // len(images))
        return np.concatenate([images] * reps)[:n], np.concatenate([labels] * reps)[:n]
    rng = np.random.default_rng(0)
    return (
        rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, n).astype(np.int64),
    )


def _trained_model_file(tmp: Path, images):
    """A `.keras` file as `cnnzoo fit` leaves it: the zoo net with its preprocessing layers."""
    import numpy as np
    from cnnzoo.pipelines.sources import ArrayDataset

    from cnnzoo.model_io import save_trained
    from cnnzoo.training import trainer
    from cnnzoo.training.recipes import get_recipe

    recipe = get_recipe("he2016_cifar").for_arch(ARCH)
    labels = np.zeros(len(images), np.int64)
    names = tuple(f"class_{i}" for i in range(10))
    data = ArrayDataset("cifar10", (images, labels), (images, labels), names)
    model = trainer.make_model(ARCH, recipe, data, images)
    path = tmp / "model.keras"
    meta = {"arch": ARCH, "dataset": "cifar10", "class_names": list(names)}
    meta.update(input_shape=[32, 32, 3], recipe=recipe.as_dict())
    save_trained(model, path, meta)
    return path


def _loop_windows(channel: _Channel, one_batch, window, info: dict, warmup: int = 3) -> None:
    """Warm up, then per "go": one untimed batch, a timed `window()` -> images."""
    for _ in range(warmup):
        window()
    channel.send(event="ready", info=info)
    while True:
        channel.wait()
        one_batch()
        t0, cpu0 = time.perf_counter(), time.process_time()
        images = window()
        channel.send(
            event="window",
            seconds=time.perf_counter() - t0,
            cpu_seconds=time.process_time() - cpu0,
            images=images,
        )


def _worker_infer(config: dict, channel: _Channel) -> None:
    tf = _configure_tf(config)
    import keras

    import cnnzoo

    name, bs = config["name"], config["infer_batch_size"]
    images, labels = _infer_images(config)
    n = len(images)
    xla = bool(config.get("xla"))
    info: dict = {"images": n}
    tmp = Path(config["scratch"])

    if name == "predict":
        model = cnnzoo.build(ARCH)
        x = images.astype("float32")

        def window():
            model.predict(x, batch_size=bs, verbose=0)
            return n

        def one_batch():
            model.predict(x[:bs], batch_size=bs, verbose=0)

    elif name == "call":
        model = cnnzoo.build(ARCH)
        fn = tf.function(lambda x: model(x, training=False), jit_compile=xla)
        batches = [tf.constant(images[i : i + bs], tf.float32) for i in range(0, n, bs)]

        def window():
            for b in batches:
                fn(b).numpy()
            return n

        def one_batch():
            fn(batches[0]).numpy()

    elif name == "evaluate":
        from cnnzoo.pipelines import datasets as pipe

        from cnnzoo.evaluation.evaluate import score_dataset
        from cnnzoo.model_io import load_trained

        model, _ = load_trained(_trained_model_file(tmp, images), compile=False)
        ds = pipe.eval_dataset(images, labels, bs)
        first = pipe.eval_dataset(images[:bs], labels[:bs], bs)

        def window():
            score_dataset(model, ds)
            return n

        def one_batch():
            score_dataset(model, first)

    elif name == "savedmodel":
        from cnnzoo.export import INPUT_NAME, SIGNATURE_KEY, export_saved_model

        path = _trained_model_file(tmp, images)
        if xla:
            original = keras.export.ExportArchive.add_endpoint

            def add_endpoint(self, name, fn=None, input_signature=None, **kwargs):
                fn = tf.function(fn, input_signature=input_signature, jit_compile=True)
                return original(self, name, fn, input_signature, **kwargs)

            keras.export.ExportArchive.add_endpoint = add_endpoint
        export_saved_model(path, tmp / "saved_model")
        serve = tf.saved_model.load(str(tmp / "saved_model")).signatures[SIGNATURE_KEY]
        batches = [tf.constant(images[i : i + bs]) for i in range(0, n, bs)]

        def window():
            for b in batches:
                serve(**{INPUT_NAME: b})["probabilities"].numpy()
            return n

        def one_batch():
            serve(**{INPUT_NAME: batches[0]})["probabilities"].numpy()

    else:
        raise ValueError(name)
    _loop_windows(channel, one_batch, window, info)


def _torch_resnet20():
    """ResNet-20 of He et al. 2016 §4.2 with option A shortcuts, in PyTorch."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.stride, self.extra = stride, cout - cin

        def forward(self, x):
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            shortcut = x
            if self.stride > 1:
                shortcut = shortcut[:, :, :: self.stride, :: self.stride]
            if self.extra:
                # Zero channels appended last, as cnnzoo's ZeroPadShortcut does.
                shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra))
            return F.relu(y + shortcut)

    class ResNet20(nn.Module):
        def __init__(self, classes=10):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            blocks, cin = [], 16
            for cout, stride in ((16, 1), (32, 2), (64, 2)):
                for b in range(3):
                    blocks.append(Block(cin, cout, stride if b == 0 else 1))
                    cin = cout
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(64, classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = self.blocks(x)
            x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
            return self.fc(x)

    model = ResNet20()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if params != TRAINABLE_PARAMS:
        raise AssertionError(f"PyTorch ResNet-20 has {params} parameters, not {TRAINABLE_PARAMS}")
    return model


def _worker_torch(config: dict, channel: _Channel) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(config["torch_threads"])
    torch.manual_seed(0)
    fmt = config.get("memory_format", config["torch_memory_format"])
    memory_format = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
    model = _torch_resnet20().to(memory_format=memory_format)
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "layout": fmt}
    rng = np.random.default_rng(0)

    if config["name"] == "torch":
        bs = config["batch_size"]
        xs = [
            torch.from_numpy(rng.uniform(0, 1, (bs, 3, 32, 32)).astype("float32")).to(
                memory_format=memory_format
            )
            for _ in range(8)
        ]
        ys = [torch.from_numpy(rng.integers(0, 10, bs)) for _ in range(8)]
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        loss_fn = torch.nn.CrossEntropyLoss()
        model.train()
        state = {"i": 0}

        def step():
            i = state["i"] = (state["i"] + 1) % len(xs)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xs[i]), ys[i])
            loss.backward()
            opt.step()
            loss.item()  # as Keras's per-batch logs do, wait for the result

        def window():
            for _ in range(config["steps"]):
                step()
            return config["steps"] * bs

        for _ in range(config["warmup_steps"]):
            step()

        def rewarm():
            for _ in range(TRAIN_REWARM):
                step()

        _loop_windows(channel, rewarm, window, info, warmup=0)
    else:
        images, _ = _infer_images(config)
        bs = config["infer_batch_size"]
        # uint8 NHWC in, as the SavedModel takes it; the cast and transpose are timed.
        batches = [torch.from_numpy(images[i : i + bs]) for i in range(0, len(images), bs)]
        model.eval()

        def infer(b):
            with torch.inference_mode():
                x = b.permute(0, 3, 1, 2).float().contiguous(memory_format=memory_format)
                return torch.softmax(model(x), dim=1)

        def window():
            for b in batches:
                infer(b)
            return len(images)

        _loop_windows(channel, lambda: infer(batches[0]), window, info)


def _worker_main(config: dict) -> int:
    channel = _Channel()
    name = config["name"]
    if name == "keras":
        _worker_keras(config, channel)
    elif name == "fit":
        _worker_fit(config, channel)
    elif name.startswith("torch"):
        _worker_torch(config, channel)
    else:
        _worker_infer(config, channel)
    channel.out.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
