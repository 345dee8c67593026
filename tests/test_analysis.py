"""cnnzoo.analysis: block surgery, path counts, lesion and response mechanics on small random nets.

No test here checks the science (that needs trained weights); each checks that a
mechanism computes what it claims: all gates on is the model itself, all off is
its shortcut-only function, the identity order changes nothing, the path counts
are the binomial.
"""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest

import cnnzoo
from cnnzoo import cli
from cnnzoo.analysis import degradation
from cnnzoo.analysis.degradation import read_run
from cnnzoo.analysis.lesion import kendall_tau, swap_pairs
from cnnzoo.analysis.paths import (
    gradient_per_length,
    gradient_summary,
    path_counts,
    path_lengths,
    share,
)
from cnnzoo.analysis.responses import response_stds, response_tensors
from cnnzoo.analysis.surgery import BlockSurgery
from cnnzoo.model_io import save_trained

CIFAR_SMALL = (16, 16, 3)
IMAGENET_SMALL = (64, 64, 3)


def _images(shape, n=2, seed=0):
    # Unit-scale inputs: raw 0..255 pixels into a net without preprocessing saturate
    # the softmax and hide differences.
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype("float32")


def _trained_like(net):
    """A trained model's layout: preprocessing layers, then the net nested as a layer."""
    inputs = keras.Input(net.input_shape[1:], name="images")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")(inputs)
    return keras.Model(inputs, net(x), name=net.name)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,options,shape",
    [
        ("resnet20", {}, CIFAR_SMALL),
        ("resnet20", {"shortcut": "B"}, CIFAR_SMALL),
        ("preact_resnet32", {}, CIFAR_SMALL),
        ("wu_resnet32", {}, CIFAR_SMALL),
        ("plain20", {}, CIFAR_SMALL),
        ("resnet18", {}, IMAGENET_SMALL),
        ("resnet50", {}, IMAGENET_SMALL),
        ("preact_resnet50", {}, IMAGENET_SMALL),
    ],
)
def test_all_gates_on_is_the_model_itself(name, options, shape):
    net = cnnzoo.build(name, input_shape=shape, **options)
    x = _images(shape)
    for model in (net, _trained_like(net)):
        rebuilt = BlockSurgery(model).build()
        np.testing.assert_array_equal(np.asarray(rebuilt(x)), np.asarray(model(x)))


def _shortcut_only(net, x):
    """resnet20 (option A) by hand with every branch removed: stem, shortcuts, ReLUs, head."""
    layer = {la.name: la for la in net.layers}
    h = layer["conv1_relu"](layer["conv1_bn"](layer["conv1_conv"](x)))
    for stage, count in ((2, 3), (3, 3), (4, 3)):
        for b in range(1, count + 1):
            unit = f"conv{stage}_block{b}"
            if f"{unit}_0_pad" in layer:
                h = layer[f"{unit}_0_pad"](h)
            h = layer[f"{unit}_out"](h)
    return layer["predictions"](layer["avg_pool"](h))


def test_all_gates_off_is_the_shortcut_only_function():
    net = cnnzoo.build("resnet20", input_shape=CIFAR_SMALL)
    surgery = BlockSurgery(net)
    model = surgery.build()
    surgery.delete(surgery.gated)
    x = _images(CIFAR_SMALL)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(_shortcut_only(net, x)), atol=1e-6)
    surgery.set_on({})  # all on again, without rebuilding
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(net(x)))


def test_deleting_a_plain_unit_passes_its_input_on():
    net = cnnzoo.build("plain20", input_shape=CIFAR_SMALL)
    surgery = BlockSurgery(net)
    # conv3_block1 and conv4_block1 change the shape: no gate, they cannot be removed.
    assert "conv3_block1" not in surgery.gated and len(surgery.gated) == 7
    probe = keras.Model(net.input, net.get_layer("conv2_block1_out").output)
    gated = BlockSurgery(probe)
    gated.delete(["conv2_block1"])
    x = _images(CIFAR_SMALL)
    stem = keras.Model(net.input, net.get_layer("conv1_relu").output)
    np.testing.assert_array_equal(np.asarray(gated.build()(x)), np.asarray(stem(x)))
    with pytest.raises(ValueError, match="cannot be deleted"):
        surgery.delete(["conv3_block1"])


def test_identity_order_is_the_model_and_a_swap_is_not():
    net = cnnzoo.build("resnet20", input_shape=CIFAR_SMALL)
    surgery = BlockSurgery(net)
    x = _images(CIFAR_SMALL)
    n = len(surgery.blocks)
    np.testing.assert_array_equal(np.asarray(surgery.build(range(n))(x)), np.asarray(net(x)))
    swapped = list(range(n))
    swapped[1], swapped[2] = 2, 1  # conv2_block2 <-> conv2_block3
    assert not np.array_equal(np.asarray(surgery.build(swapped)(x)), np.asarray(net(x)))
    wrong = list(range(n))
    wrong[0], wrong[3] = 3, 0  # conv3_block1 changes the shape
    with pytest.raises(ValueError, match="same input and output shape"):
        surgery.build(wrong)


def test_rebuilt_model_shares_the_weights():
    net = cnnzoo.build("resnet20", input_shape=CIFAR_SMALL)
    rebuilt = BlockSurgery(net).build()
    shared = {id(v) for v in rebuilt.weights}
    assert all(id(v) in shared for v in net.weights)
    kernel = net.get_layer("conv2_block1_1_conv").kernel
    kernel.assign(kernel * 2.0)
    x = _images(CIFAR_SMALL)
    np.testing.assert_array_equal(np.asarray(rebuilt(x)), np.asarray(net(x)))


def test_gradient_routing_leaves_the_forward_values():
    net = cnnzoo.build("resnet20", input_shape=CIFAR_SMALL)
    surgery = BlockSurgery(net)
    model = surgery.build(probe=True)
    x = _images(CIFAR_SMALL)
    probe = np.zeros((2, *surgery.blocks[0].input.shape[1:]), "float32")
    surgery.route_gradient(set(surgery.gated[:2]))
    np.testing.assert_array_equal(np.asarray(model([x, probe])), np.asarray(net(x)))


def test_a_model_without_units_is_refused():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(inputs))
    with pytest.raises(ValueError, match="no residual units"):
        BlockSurgery(model)


# ---- paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 9, 54])
def test_path_lengths_are_binomial_and_sum_to_two_to_the_n(n):
    counts = path_counts(n)
    assert sum(counts) == 2**n
    assert counts == [math.comb(n, k) for k in range(n + 1)]


def test_path_length_interval_of_54_units_is_veit_et_al_19_to_35():
    lengths = path_lengths(54)
    assert lengths["interval_95"] == [19, 35]
    assert lengths["tightest_95"] == [20, 34]
    # Veit et al.: paths of length 5-17 are 0.45% of all.
    assert share(path_counts(54), 5, 17) == pytest.approx(0.0045, abs=5e-5)


def test_gradient_summary_weights_each_length_by_its_number_of_paths():
    norms = {0: [1.0], 1: [0.5, 0.5], 2: [0.25]}
    summary = gradient_summary(norms, 2)
    assert summary["total_per_length"] == [1.0, 1.0, 0.25]
    assert summary["mean_per_path"] == [1.0, 0.5, 0.25]


@pytest.mark.slow
def test_gradient_per_length_measures_every_length():
    net = cnnzoo.build("resnet20", input_shape=CIFAR_SMALL)
    surgery = BlockSurgery(net)
    images = _images(CIFAR_SMALL, n=8)
    labels = np.arange(8) % 10
    norms = gradient_per_length(surgery, images, labels, samples=1, batch_size=4)
    assert sorted(norms) == list(range(10))
    assert all(v[0] > 0 and math.isfinite(v[0]) for v in norms.values())


# ---- lesion ----------------------------------------------------------------------------


def test_kendall_tau_of_the_identity_is_one_and_of_the_reverse_minus_one():
    assert kendall_tau(range(6)) == 1.0
    assert kendall_tau(range(5, -1, -1)) == -1.0
    assert kendall_tau([1, 0, 2, 3]) == pytest.approx(1 - 2 / 6)


def test_swaps_keep_units_where_their_shapes_fit():
    surgery = BlockSurgery(cnnzoo.build("resnet20", input_shape=CIFAR_SMALL))
    order = swap_pairs(surgery, 20, np.random.default_rng(0))
    assert surgery.check_order(order) == order
    # The shape-changing units (conv3_block1, conv4_block1) never move.
    assert order[3] == 3 and order[6] == 6


# ---- responses and reports --------------------------------------------------------------


def test_responses_are_the_bn_outputs_of_the_3x3_layers():
    net = cnnzoo.build("plain20", input_shape=CIFAR_SMALL)
    names = [name for name, _ in response_tensors(net)]
    # [1] §4.2: 6n+1 = 19 3x3 layers in plain20, each followed by its BN.
    assert len(names) == 19 and all(name.endswith("_bn") for name in names)
    stds = response_stds(net, _images(CIFAR_SMALL, n=4), batch_size=2)
    assert list(stds) == names and all(s > 0 for s in stds.values())


def test_degradation_reads_a_run_directory(tmp_path):
    (tmp_path / "history.csv").write_text(
        "epoch,accuracy,iterations,val_accuracy\n0,0.5,100,0.4\n1,0.8,200,0.7\n"
    )
    run = read_run(tmp_path)
    assert run["val_iterations"] == [100, 200]
    assert run["val_error"] == pytest.approx([60.0, 30.0])
    assert run["train_error"] == pytest.approx([50.0, 20.0])


def _run(label, train, val):
    return {
        "label": label,
        "val_is_test": False,
        "train_iterations": list(range(len(train))),
        "train_error": train,
        "val_iterations": list(range(len(val))),
        "val_error": val,
    }


def test_degradation_verdicts_compare_the_deepest_and_shallowest_of_each_family():
    runs = [
        _run("plain56", [40.0, 30.0], [50.0, 12.0]),
        _run("resnet20", [20.0, 2.0], [20.0, 8.0]),
        _run("plain20", [40.0, 3.0], [50.0, 9.0]),
        _run("resnet56", [20.0, 0.5], [20.0, 7.0]),
        _run("resnet110", [20.0, 1.0], [20.0, 9.5]),
    ]
    assert degradation.family("resnet110") == ("resnet", 110)
    assert degradation.family("wu2016_cifar") == ("wu2016_cifar", 0)
    groups = degradation.families(runs)
    assert [r["label"] for r in groups["resnet"]] == ["resnet20", "resnet56", "resnet110"]
    verdicts = {v["family"]: v for v in degradation.verdicts(runs)}
    assert verdicts["plain"]["degrades"] is True
    assert (verdicts["plain"]["deep"], verdicts["plain"]["shallow"]) == ("plain56", "plain20")
    # resnet110 against resnet20: lower training error, higher validation error.
    assert verdicts["resnet"]["degrades"] is None
    assert degradation.verdicts(runs[:2]) == []  # one run per family: nothing to compare
    # The y range is He et al.'s 0-20% unless a run ends above it (12% * 1.2 -> 15 < 20;
    # 30% * 1.2 = 36 -> 40).
    assert degradation.error_range(runs[1:]) == (0, 20)
    assert degradation.error_range(runs) == (0, 40)


def test_degradation_reads_the_shipped_weights_history():
    run = read_run("plain20")
    assert run["label"] == "plain20" and not run["val_is_test"]
    assert run["val_error"] == read_run("plain20-cifar10")["val_error"]
    assert run["train_iterations"][-1] > 30_000 and len(run["val_error"]) == 100
    with pytest.raises(KeyError, match="nosuch: not a run directory.*shipped: .*plain20"):
        read_run("nosuch")


def test_cli_degradation_draws_a_panel_per_family(tmp_path, capsys):
    for name, acc in (("a", "0.5"), ("b", "0.4")):
        run = tmp_path / name
        run.mkdir()
        (run / "history.csv").write_text(
            f"epoch,accuracy,iterations,val_accuracy\n0,{acc},100,{acc}\n"
        )
        arch = {"a": "plain20", "b": "plain56"}[name]
        (run / "run.json").write_text(json.dumps({"arch": arch, "recipe": {}}))
    out = tmp_path / "out"
    argv = ["analyze", "degradation", "--runs", str(tmp_path / "a"), str(tmp_path / "b")]
    assert cli.main([*argv, "resnet20", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "plain: plain56 against plain20" in printed and "(higher: degradation)" in printed
    data = json.loads((out / "degradation.json").read_text())
    assert [v["family"] for v in data["verdicts"]] == ["plain"]
    assert [r["label"] for r in data["runs"]] == ["plain20", "plain56", "resnet20"]
    assert (out / "degradation.png").read_bytes()[:4] == b"\x89PNG"


def test_lesion_figure_lines_up_the_plain_twin_unit_for_unit():
    from cnnzoo.analysis import lesion

    results = {
        "single": {
            "resnet": {"none": 5.0, "u1": 6.0, "down": 9.0, "u3": 7.0},
            "plain": {"none": 9.0, "u1": 80.0, "u3": 85.0},  # "down" cannot be deleted
        },
        "random": {"1": [6.0, 7.0]},
        "reorder": [{"kendall_tau": 1.0, "error": 5.0}],
    }
    fig = lesion.figure(results)
    resnet, plain = fig.axes[0].get_lines()[0::2]  # each label: its curve, then its axhline
    assert list(resnet.get_xdata()) == [0, 1, 2]
    assert list(plain.get_xdata()) == [0, 2]


def test_cli_paths_prints_the_interval_and_writes_json_and_png(tmp_path, capsys):
    assert cli.main(["analyze", "paths", "--blocks", "54", "--out", str(tmp_path)]) == 0
    assert "length 19-35" in capsys.readouterr().out
    data = json.loads((tmp_path / "paths.json").read_text())
    assert sum(data["path_lengths"]["counts"]) == 2**54
    assert (tmp_path / "paths.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_cli_lesion_and_responses_run_on_a_tiny_random_model(tmp_path, capsys):
    net = cnnzoo.build("resnet20", input_shape=(32, 32, 3))
    path = tmp_path / "tiny.keras"
    save_trained(net, path, {"arch": "resnet20", "dataset": "fake"})
    common = ["--max-images", "20", "--batch-size", "20", "--out", str(tmp_path)]
    lesion_args = ["analyze", "lesion", "--model", str(path), "--max-swaps", "1", "--draws", "1"]
    assert cli.main(lesion_args + common) == 0
    assert cli.main(["analyze", "responses", "--model", str(path), *common]) == 0
    out = capsys.readouterr().out
    assert "one unit deleted" in out and "3x3 layers" in out
    for study in ("lesion", "responses"):
        assert json.loads((tmp_path / f"{study}.json").read_text())
        assert (tmp_path / f"{study}.png").read_bytes()[:4] == b"\x89PNG"
