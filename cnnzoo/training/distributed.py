"""Training on `tf.distribute` strategies with a loop built on `strategy.run`.

Keras 3's `Model.fit` fails under `MultiWorkerMirroredStrategy`
(keras-team/keras#20585: "unsupported type PerReplica"). `CustomLoop` trains the
same Keras model with the same optimizer under any strategy, the default one
included, and drives ordinary Keras callbacks (CSVLogger, TensorBoard, ours) with
the logs `fit` would give them.

The step is the one `fit` takes: each replica computes its shard's per-example
losses, averages them over the *global* batch (`tf.nn.compute_average_loss`),
adds the model's regularization losses divided by the number of replicas, and
hands its gradients to `optimizer.apply_gradients`, which sums them over the
replicas (Keras's TF optimizer all-reduces inside the replica context). The sum
of the replicas' gradients is then the gradient of the global batch's mean loss,
as on one device.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable

import keras
import tensorflow as tf

from cnnzoo.backend import require_tensorflow

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str, cpu_replicas: int | None = None) -> tf.distribute.Strategy:
    """A `tf.distribute` strategy by name.

    Args:
        name: "default" (one device, no distribution), "mirrored" (all local GPUs,
            or the CPU) or "multiworker" (`MultiWorkerMirroredStrategy`, the
            cluster read from the TF_CONFIG environment variable).
        cpu_replicas: "mirrored" only: split the CPU into this many logical
            devices and mirror over them (tests and debugging on CPU-only
            machines). This must happen before TensorFlow initializes its devices,
            i.e. before any other TensorFlow call in the process.

    Returns:
        The strategy. Create models and optimizers under its `scope()`.

    Raises:
        ValueError: for an unknown name, `cpu_replicas` with another strategy
            than "mirrored", or "multiworker" without a valid TF_CONFIG.
        RuntimeError: if the logical CPUs cannot be configured any more.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
    if cpu_replicas is not None and name != "mirrored":
        raise ValueError(f"cpu_replicas applies to the 'mirrored' strategy only, not {name!r}")
    if name == "default":
        return tf.distribute.get_strategy()
    require_tensorflow(f"the {name!r} tf.distribute strategy")
    if name == "multiworker":
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if cpu_replicas is None:
        return tf.distribute.MirroredStrategy()
    if cpu_replicas < 1:
        raise ValueError(f"cpu_replicas must be >= 1, got {cpu_replicas}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas
        )
    except RuntimeError as e:
        configured = tf.config.get_logical_device_configuration(cpu) or [None]
        if len(configured) != cpu_replicas:
            raise RuntimeError(
                f"cannot split the CPU into {cpu_replicas} logical devices: TensorFlow "
                f"has already initialized its devices ({e}). Create the strategy before "
                "any other TensorFlow call in the process."
            ) from e
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cpu_replicas)])


def _check_tf_config() -> None:
    """Raise a ValueError unless TF_CONFIG describes a cluster with this task in it."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError(
            "the 'multiworker' strategy reads the cluster from the TF_CONFIG environment "
            'variable, which is not set; e.g. TF_CONFIG=\'{"cluster": {"worker": '
            '["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}\''
        )
    try:
        config = json.loads(raw)
        workers = config["cluster"]["worker"]
        task = config["task"]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"TF_CONFIG must be JSON with cluster.worker and task.type/index; got {raw!r} ({e})"
        ) from e
    if task.get("type") == "worker" and not 0 <= index < len(workers):
        raise ValueError(
            f"TF_CONFIG task index {index} is outside the {len(workers)} workers of its cluster"
        )


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process should write checkpoints, logs and exports.

    True for single-process strategies and for the chief (worker 0) of a
    multi-worker cluster; the other workers must not write to shared paths.
    """
    return bool(strategy.extended.should_checkpoint)


def _per_example_loss(loss) -> Callable:
    """`loss` as a function of (y_true, y_pred) returning one value per example.

    A `keras.losses.Loss` is rebuilt from its config without reduction; any other
    callable must already return per-example values.
    """
    if isinstance(loss, keras.losses.Loss):
        config = {**loss.get_config(), "reduction": None}
        try:
            return type(loss).from_config(config)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"cannot rebuild {type(loss).__name__} without reduction ({e}); pass a "
                "function (y_true, y_pred) -> per-example losses instead"
            ) from e
    if callable(loss):
        return loss
    raise ValueError(f"loss must be a keras.losses.Loss or a callable, got {loss!r}")


def _correct(y_true, y_pred):
    """How many of the batch's top-1 and top-5 predictions are right (integer or one-hot labels)."""
    y_pred = tf.cast(y_pred, tf.float32)
    if y_true.shape.rank == y_pred.shape.rank:
        labels = tf.argmax(y_true, axis=-1, output_type=tf.int32)
    else:
        labels = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
    top1 = tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, y_pred, 1), tf.float32))
    k = min(5, int(y_pred.shape[-1]))
    top5 = tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, y_pred, k), tf.float32))
    return top1, top5


def _main_and_aux(outputs):
    """(classifier output, auxiliary outputs) of a single- or multi-output model."""
    if isinstance(outputs, (list, tuple)):
        return outputs[0], list(outputs[1:])
    return outputs, []


# What a collective op raises when a peer of a multi-worker cluster is gone (its
# process killed, its host down) or does not answer within the timeout.
PEER_FAILURES = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.CancelledError,
    tf.errors.AbortedError,
)


class WorkerLostError(RuntimeError):
    """A multi-worker step failed because another worker stopped answering."""


def set_sync_batch_norm(model: keras.Model, synchronized: bool = True) -> int:
    """Make every BatchNormalization layer of `model` use the global batch's statistics.

    With `synchronized`, each replica all-reduces the per-channel sums before
    normalizing, so a batch split over N replicas is normalized (and the moving
    statistics updated) exactly as the whole batch would be on one device.

    Returns:
        How many layers were changed.
    """
    count = 0
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = synchronized
            count += 1
    return count


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        elif hasattr(layer, "net") and isinstance(layer.net, keras.Model):
            yield from _all_layers(layer.net)


class CustomLoop:
    """Trains a compiled Keras model on a `tf.distribute` strategy with `strategy.run`.

    Args:
        model: a Keras model whose variables and compiled optimizer were created
            under `strategy.scope()`.
        loss: a `keras.losses.Loss` (its reduction is replaced by the loop's) or
            a function (y_true, y_pred) -> per-example losses.
        strategy: the strategy the model was built under.
        global_batch_size: examples per step summed over all replicas; the
            dataset must yield batches of exactly this size.
    """

    def __init__(
        self,
        model: keras.Model,
        loss,
        strategy: tf.distribute.Strategy,
        global_batch_size: int,
    ):
        require_tensorflow("CustomLoop (training under a tf.distribute strategy)")
        if getattr(model, "optimizer", None) is None:
            raise ValueError("the model must be compiled with an optimizer before CustomLoop")
        if global_batch_size < 1:
            raise ValueError(f"global_batch_size must be >= 1, got {global_batch_size}")
        replicas = strategy.num_replicas_in_sync
        if global_batch_size % replicas:
            raise ValueError(
                f"global batch size {global_batch_size} does not split evenly over "
                f"{replicas} replicas"
            )
        self.model = model
        self.optimizer = model.optimizer
        self.strategy = strategy
        self.global_batch_size = int(global_batch_size)
        self._loss = _per_example_loss(loss)
        # Auxiliary heads (`AuxiliaryLossModel`) weigh in as they do under `fit`.
        self.aux_loss_weight = float(getattr(model, "aux_loss_weight", 0.0))
        with strategy.scope():
            # Slot variables must be created in the cross-replica context, not
            # inside the first `strategy.run`.
            if not self.optimizer.built:
                self.optimizer.build(model.trainable_variables)
        self._train_step = None
        self._eval_step = None

    def _per_example(self, y, outputs):
        main, aux = _main_and_aux(outputs)
        per_example = tf.cast(self._loss(y, main), tf.float32)
        for head in aux:
            per_example += self.aux_loss_weight * tf.cast(self._loss(y, head), tf.float32)
        return main, per_example

    def _replica_step(self, x, y):
        model, optimizer = self.model, self.optimizer
        with tf.GradientTape() as tape:
            y_pred, per_example = self._per_example(y, model(x, training=True))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(
                    tf.add_n([tf.cast(r, tf.float32) for r in model.losses])
                )
            scaled = optimizer.scale_loss(loss)
        variables = model.trainable_variables
        grads = tape.gradient(scaled, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        examples = tf.cast(tf.shape(per_example)[0], tf.float32)
        # Summed over the replicas these are: the step's loss (as fit reports it),
        # the batch's right answers (top-1, top-5) and its size.
        return (loss, *_correct(y, y_pred), examples)

    def _make_train_step(self):
        strategy = self.strategy

        @tf.function
        def train_step(iterator):
            x, y = next(iterator)
            per_replica = strategy.run(self._replica_step, args=(x, y))
            return tuple(
                strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in per_replica
            )

        return train_step

    def evaluate(self, dataset: tf.data.Dataset) -> dict[str, float]:
        """Loss, top-1 and top-5 accuracy of the model on `dataset`, as `Model.evaluate`.

        Every process evaluates the whole dataset with the mirrored weights, outside
        the replicas: validation sets are small, and so no collective op runs here
        and all workers get identical figures (which plateau schedules and early
        stops need in order to decide alike).
        """
        if self._eval_step is None:
            model = self.model

            @tf.function
            def eval_step(x, y):
                y_pred, per_example = self._per_example(y, model(x, training=False))
                return (tf.reduce_sum(per_example), *_correct(y, y_pred))

            self._eval_step = eval_step
        loss_sum = top1 = top5 = seen = 0.0
        for x, y in dataset:
            loss, right1, right5 = self._eval_step(x, y)
            loss_sum += float(loss)
            top1 += float(right1)
            top5 += float(right5)
            seen += int(tf.shape(x)[0])
        if not seen:
            raise ValueError("the evaluation dataset is empty")
        regularization = sum(float(r) for r in self.model.losses) if self.model.losses else 0.0
        return {
            "loss": loss_sum / seen + regularization,
            "accuracy": top1 / seen,
            "top5_accuracy": top5 / seen,
        }

    def fit(
        self,
        dataset: tf.data.Dataset,
        steps_per_epoch: int,
        epochs: int = 1,
        initial_epoch: int = 0,
        callbacks: Iterable[keras.callbacks.Callback] | None = None,
        verbose: int = 0,
        validation_data: tf.data.Dataset | None = None,
    ) -> keras.callbacks.History:
        """Train for epochs of `steps_per_epoch` steps, calling the callbacks as `fit` does.

        Args:
            dataset: (images, labels) batches of `global_batch_size` examples, enough
                for every step; each replica gets its consecutive shard of every
                global batch (every worker of a cluster reads the same dataset).
            steps_per_epoch: steps between `on_epoch_begin` and `on_epoch_end`.
            epochs: index of the last epoch + 1, as in `fit`.
            initial_epoch: epoch to start at (resuming).
            callbacks: Keras callbacks; `model.stop_training` ends training after
                the current step.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch.
            validation_data: evaluated at the end of every epoch, as ``val_loss``,
                ``val_accuracy`` and ``val_top5_accuracy`` in the epoch's logs.

        Returns:
            The `History` callback, also at `model.history`.
        Raises:
            ValueError: if the dataset runs out before the last step.
            WorkerLostError: if another worker of the cluster stopped answering.
        """
        iterator = iter(self._distribute(dataset))
        callback_list = keras.callbacks.CallbackList(
            list(callbacks or []),
            add_history=True,
            add_progbar=verbose != 0,
            verbose=verbose,
            epochs=epochs,
            steps=steps_per_epoch,
            model=self.model,
        )
        if self._train_step is None:
            self._train_step = self._make_train_step()
        self.model.stop_training = False
        self._steps_asked = steps_per_epoch * (epochs - initial_epoch)
        self._steps_done = 0
        logs: dict[str, float] = {}
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            logs = self._train_epoch(iterator, steps_per_epoch, callback_list)
            epoch_logs = dict(logs)
            if validation_data is not None:
                val = self.evaluate(validation_data)
                epoch_logs.update({f"val_{k}": v for k, v in val.items()})
            callback_list.on_epoch_end(epoch, epoch_logs)
            if self.model.stop_training:
                break
        callback_list.on_train_end(dict(logs))
        return self.model.history

    def _distribute(self, dataset: tf.data.Dataset):
        options = tf.data.Options()
        # Shard by element, so that worker k always gets the k-th shard of each
        # global batch whatever the source (AUTO would try file sharding).
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return self.strategy.experimental_distribute_dataset(dataset.with_options(options))

    def _train_epoch(self, iterator, steps: int, callback_list) -> dict[str, float]:
        """One epoch's steps; the logs are running means since the epoch began."""
        loss_sum = correct = correct5 = seen = 0.0
        logs: dict[str, float] = {}
        for batch in range(steps):
            callback_list.on_train_batch_begin(batch)
            try:
                loss, right, right5, examples = self._train_step(iterator)
            except (StopIteration, tf.errors.OutOfRangeError) as e:
                raise ValueError(
                    f"the dataset ran out after {self._steps_done} steps; "
                    f"{self._steps_asked} were asked for"
                ) from e
            except PEER_FAILURES as e:
                raise WorkerLostError(self._lost_message(e)) from e
            self._steps_done += 1
            examples = float(examples)
            # Weighted by batch size, as Keras's loss tracker and accuracy metrics are.
            loss_sum += float(loss) * examples
            correct += float(right)
            correct5 += float(right5)
            seen += examples
            logs = {
                "loss": loss_sum / seen,
                "accuracy": correct / seen,
                "top5_accuracy": correct5 / seen,
            }
            callback_list.on_train_batch_end(batch, dict(logs))
            if self.model.stop_training:
                break
        return logs

    def _lost_message(self, error: Exception) -> str:
        done = int(self.optimizer.iterations.numpy())
        return (
            f"training stopped at iteration {done}: a worker of the cluster stopped "
            f"answering ({_peer_failure(error)}). Restart the same command on every "
            "worker to resume from the last checkpoint."
        )


def _peer_failure(error: Exception) -> str:
    """Which peer failed and how, from a collective op's error (its first line says neither)."""
    text = getattr(error, "message", None) or str(error)
    target = re.search(r"remote target (\S+)", text)
    reason = re.search(r"aborted by: (.+)", text)
    parts = [type(error).__name__]
    if target:
        parts.append(target.group(1))
    parts.append(reason.group(1).strip() if reason else text.strip().splitlines()[-1][:200])
    return ": ".join(parts)


def train_with_strategy(
    model_builder: Callable[[], keras.Model],
    optimizer_builder: Callable[[], keras.optimizers.Optimizer],
    loss,
    dataset_fn: Callable[[], tf.data.Dataset],
    strategy: tf.distribute.Strategy,
    steps: int,
    callbacks: Iterable[keras.callbacks.Callback] | None = None,
    global_batch_size: int | None = None,
    verbose: int = 0,
) -> keras.Model:
    """Build a model and optimizer under `strategy.scope()` and train them `steps` steps.

    Args:
        model_builder: returns the (uncompiled, or compiled) Keras model.
        optimizer_builder: returns a fresh optimizer (e.g. `SGDL2`).
        loss: a `keras.losses.Loss` or a function (y_true, y_pred) -> per-example losses.
        dataset_fn: returns the dataset of global batches (see `CustomLoop.fit`).
        strategy: from `make_strategy`.
        steps: training steps (one Keras "epoch" of that many steps).
        callbacks: Keras callbacks.
        global_batch_size: examples per step over all replicas (required).
        verbose: Keras verbosity.

    Returns:
        The trained model (compiled with the optimizer; its `history` holds the logs).
    """
    if global_batch_size is None:
        raise ValueError("global_batch_size is required: the loss is averaged over it")
    with strategy.scope():
        model = model_builder()
        model.compile(optimizer=optimizer_builder(), loss=loss)
    loop = CustomLoop(model, loss, strategy, global_batch_size)
    loop.fit(dataset_fn(), steps_per_epoch=steps, callbacks=callbacks, verbose=verbose)
    return model
