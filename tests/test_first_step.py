"""The first training step is traced once: the optimizer exists before it, new or resumed."""

from __future__ import annotations

import numpy as np
from _recipes import fake_recipe
from cnnzoo.pipelines.sources import fake_dataset

from cnnzoo.model_io import load_trained, save_trained
from cnnzoo.training.modeling import make_model


def _traces_of_one_step(model, data) -> int:
    """How many times `fit` traces the model's train_step for its first batch."""
    traced = []
    step = model.train_step

    def counted(batch):
        traced.append(1)
        return step(batch)

    model.train_step = counted  # before `fit` makes its train function
    x, y = data.train[0][:32].astype("float32"), data.train[1][:32]
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    del model.train_step
    return len(traced)


def _slots(model) -> list[tuple[str, tuple]]:
    """The optimizer's variables, by path under the optimizer's own name, and shapes."""
    return [(v.path.split("/", 1)[-1], tuple(v.shape)) for v in model.optimizer.variables]


def test_a_new_and_a_resumed_model_trace_their_first_step_once(tmp_path):
    data = fake_dataset(64, 16, shape=(32, 32, 3))
    recipe = fake_recipe(total_steps=4, momentum=0.9)
    model = make_model("resnet20", recipe, data, data.train[0])
    assert model.optimizer.built
    built_early = _slots(model)
    assert _traces_of_one_step(model, data) == 1
    # The same variables as an optimizer Keras builds in the first step.
    late = make_model("resnet20", recipe, data, data.train[0])
    late.optimizer = type(late.optimizer).from_config(late.optimizer.get_config())
    late.compile(optimizer=late.optimizer, loss=late.loss)
    assert not late.optimizer.built
    x, y = data.train[0][:32].astype("float32"), data.train[1][:32]
    late.train_on_batch(x, y)
    assert _slots(late) == built_early

    path = tmp_path / "checkpoint.keras"
    save_trained(model, path, {"arch": "resnet20"})
    resumed, _ = load_trained(path, compile=True)
    assert resumed.optimizer.built
    assert _traces_of_one_step(resumed, data) == 1
    assert int(np.asarray(resumed.optimizer.iterations)) == 2
