"""The benchmark tools: they time the product through its public hooks, and report it.

``tools/`` is not a package: its scripts find ``tools/bench/`` because Python puts
the script's folder first on ``sys.path``; these tests do the same.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

_TOOLS = Path(__file__).resolve().parents[1] / "tools"
if str(_TOOLS) not in sys.path:
    sys.path.insert(0, str(_TOOLS))

from bench import data, env, report  # noqa: E402
from bench.contenders import CONTENDERS, DEFAULT_CONTENDERS, MODIFIERS, parse_contender  # noqa: E402
from bench.harness import worker_env  # noqa: E402


def _assignments_to_imported_names(path: Path) -> list[str]:
    """``x.attr = ...`` (or ``+=``) where ``x`` was bound by an import in that file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
    found = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        while any(isinstance(t, ast.Tuple | ast.List) for t in targets):
            targets = [e for t in targets for e in getattr(t, "elts", [t])]
        for target in targets:
            root = target
            while isinstance(root, ast.Attribute | ast.Subscript):
                root = root.value
            if target is not root and isinstance(root, ast.Name) and root.id in imported:
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(target)}")
    return found


def test_no_tool_replaces_anything_it_imports():
    # Issue 17: the benchmarks time the code users run, never a patched copy of it.
    scripts = sorted(_TOOLS.rglob("*.py"))
    assert len(scripts) > 10
    found = [hit for path in scripts for hit in _assignments_to_imported_names(path)]
    assert found == []


def test_the_assignment_finder_sees_a_patch(tmp_path):
    path = tmp_path / "patch.py"
    path.write_text(
        "import keras\nimport x.y as z\nfrom m import C\nself = 1\nself.a = 2\n"
        "keras.Model.fit, (C.call, y) = 1, (2, 3)\nz.a['k'] += 1\n"
    )
    assert _assignments_to_imported_names(path) == [
        "patch.py:6: keras.Model.fit",
        "patch.py:6: C.call",
        "patch.py:7: z.a['k']",
    ]


def test_modifiers_set_what_the_workers_read():
    spec = parse_contender("fit:xla:spe4:onednn0:intra2:bs64")
    assert spec["name"] == "fit" and spec["framework"] == "tensorflow"
    assert spec["xla"] is True and spec["steps_per_execution"] == 4
    assert spec["intra_threads"] == 2 and spec["batch_size"] == 64
    assert spec["env"] == {"TF_ENABLE_ONEDNN_OPTS": "0"}
    assert parse_contender("savedmodel:bs32")["infer_batch_size"] == 32
    assert parse_contender("torch-infer:nchw")["memory_format"] == "contiguous"
    assert parse_contender("keras:kerasbn")["keras_bn"] is True


@pytest.mark.parametrize(
    "row, message",
    [
        ("resnet", "unknown contender 'resnet'"),
        ("keras:fast", "unknown modifier 'fast'"),
        # The trainer builds its model itself; the export has no XLA option.
        ("fit:kerasbn", "fit takes no 'kerasbn' modifier"),
        ("savedmodel:xla", "savedmodel takes no 'xla' modifier"),
        ("torch:xla", "torch takes no 'xla' modifier; it takes bs, compile, layout"),
    ],
)
def test_rows_refuse_what_they_cannot_do(row, message):
    with pytest.raises(SystemExit, match=message):
        parse_contender(row)


def test_bfloat16_rows_and_where_they_are_timed(capsys):
    from bench.harness import without_emulated_bf16

    rows = [parse_contender(r) for r in ("fit", "fit-bf16", "torch-bf16-infer:nchw")]
    assert [r.get("precision") for r in rows] == [None, "bfloat16", "bfloat16"]
    assert rows[2]["framework"] == "torch" and rows[2]["memory_format"] == "contiguous"
    avx2 = {"model": "EPYC", "cores": 2, "isa": ["avx2"], "native_bf16": False}
    assert without_emulated_bf16(rows, avx2) == rows[:1]
    assert "fit-bf16, torch-bf16-infer:nchw skipped" in capsys.readouterr().out
    assert without_emulated_bf16(rows, {**avx2, "native_bf16": True}) == rows


def test_the_tables_agree():
    assert set(DEFAULT_CONTENDERS) <= set(CONTENDERS)
    for name, contender in CONTENDERS.items():
        assert contender.modifiers <= set(MODIFIERS), name
        assert contender.kind in ("train", "infer") and callable(contender.run)


def test_tensorflow_workers_get_cnnzoo_cli_onednn_default():
    assert env.tensorflow_env(base={})["TF_ENABLE_ONEDNN_OPTS"] == "1"
    inherited = {"TF_ENABLE_ONEDNN_OPTS": "0"}
    assert env.tensorflow_env(base=inherited)["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert env.tensorflow_env("1", base=inherited)["TF_ENABLE_ONEDNN_OPTS"] == "1"
    args = argparse.Namespace(onednn="default", torch_omp_wait="passive")
    row = parse_contender("keras:onednn0")
    assert worker_env(row, args)["TF_ENABLE_ONEDNN_OPTS"] == "0"
    torch_env = worker_env(parse_contender("torch"), args)
    assert torch_env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert torch_env["PYTHONPATH"].split(":")[0] == str(_TOOLS)


def test_synthetic_files_are_read_by_the_product_reader(tmp_path):
    from cnnzoo.pipelines import cifar10

    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (10, 32, 32, 3), np.uint8), rng.integers(0, 10, 10))
    test = (rng.integers(0, 256, (3, 32, 32, 3), np.uint8), rng.integers(0, 10, 3))
    root = data.write_cifar10_binary(tmp_path, train, test)
    batches = cifar10.find_local_dir(root)
    assert sorted(p.name for p in batches.iterdir()) == sorted(
        cifar10.TRAIN_FILES + cifar10.TEST_FILES
    )
    first = cifar10.read_binary_file(batches / "data_batch_1.bin", num_records=None)
    np.testing.assert_array_equal(first[0], train[0][:2])
    np.testing.assert_array_equal(first[1], train[1][:2])
    images, labels = cifar10.read_binary_file(batches / "test_batch.bin", num_records=None)
    np.testing.assert_array_equal(images, test[0])
    np.testing.assert_array_equal(labels, test[1])


@pytest.mark.slow
def test_synthetic_cifar10_has_the_official_sizes(tmp_path):
    from cnnzoo.pipelines.sources import fake_dataset, load_dataset

    loaded = load_dataset("cifar10", str(data.write_synthetic_cifar10(tmp_path)))
    expected = fake_dataset(train_size=data.TRAIN_IMAGES, test_size=data.TEST_IMAGES)
    assert len(loaded.train[0]) == 50_000 and len(loaded.test[0]) == 10_000
    np.testing.assert_array_equal(loaded.train[1], expected.train[1])
    np.testing.assert_array_equal(loaded.test[0], expected.test[0])


def test_keras_batch_norm_copy_keeps_names_weights_and_outputs():
    import keras
    from bench.tf_rows import with_keras_batch_norm

    import cnnzoo
    from cnnzoo.layers.batch_norm import FusedBatchNormalization

    model = cnnzoo.build("resnet20")
    copy = with_keras_batch_norm(model)
    fused = [layer.name for layer in model.layers if isinstance(layer, FusedBatchNormalization)]
    plain = [layer.name for layer in copy.layers if type(layer) is keras.layers.BatchNormalization]
    assert len(fused) == 19 and plain == fused  # ResNet-20: 1 + 2 x 9 BatchNorms
    assert [w.path for w in copy.weights] == [w.path for w in model.weights]
    x = np.random.default_rng(0).uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(copy(x, training=False), model(x, training=False), atol=1e-5)


def _results() -> dict:
    rows = {"fit": (400.0, 420.0, 380.0), "keras": (400.0, 400.0, 400.0)}
    rows["keras:xla"] = (600.0, 600.0, 600.0)
    out = {}
    for label, rates in rows.items():
        name = label.split(":")[0]
        out[label] = {"name": name, "images_per_second": list(rates)}
        out[label]["images_per_cpu_second"] = [r / 2 for r in rates]
        out[label]["median"] = float(np.median(rates))
        out[label]["median_per_cpu_second"] = float(np.median(rates)) / 2
    return out


def test_report_prints_the_table_and_the_verdicts(capsys):
    args = argparse.Namespace(
        data_dir=None, batch_size=128, infer_batch_size=256, runs=3, steps=15,
        infer_batches=10, onednn="0", keras_bn=False,
    )  # fmt: skip
    found = report.print_report(_results(), args)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("ResNet-20, training batch 128, inference batch 256; fake data")
    assert lines[1].endswith("TF_ENABLE_ONEDNN_OPTS=0")
    assert lines[2].startswith("machine: ") and "keras " in lines[2]
    assert lines[3].split() == "contender what img/s min max vs plain img/CPU-s".split()
    assert set(lines[4]) == {"-", " "}
    fit_row = "fit cnnzoo fit whole path (trainer.fit) 400.0 380.0 420.0 200.0"
    assert lines[5].split() == fit_row.split()
    assert lines[7].split()[0] == "keras:xla" and "1.50x" in lines[7].split()
    # 400 images/s x resnet20's 40,551,040 multiply-adds x 2 FLOPs x 3 passes.
    assert ["fit", "97.3", "GFLOP/s"] in [line.split()[:3] for line in lines]
    assert [r["ratio"] for r in found] == [1.0]
    assert lines[-1].startswith("cnnzoo fit whole path vs bare Keras step   fit/keras = 1.00")
    assert "PASS  [median per-run ratio 1.00; per CPU-second 1.00]" in lines[-1]


@pytest.mark.slow
def test_bench_train_times_keras_and_the_fit_path(tmp_path):
    out = tmp_path / "bench.json"
    argv = [sys.executable, str(_TOOLS / "bench_train.py"), "--contenders", "keras,fit"]
    argv += ["--runs", "1", "--steps", "1", "--warmup-steps", "1", "--batch-size", "16"]
    argv += ["--infer-batch-size", "16", "--json", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fit/keras = " in done.stdout
    results = json.loads(out.read_text())["results"]
    assert results["fit"]["info"] == {"dataset": "cifar10 (synthetic files)"}
    assert all(r["images_per_second"][0] > 0 for r in results.values())


def test_bench_train_times_the_bfloat16_rows(tmp_path):
    """The issue-22 rows run (emulated where the CPU has no bfloat16) and give their ratio."""
    out = tmp_path / "bench.json"
    argv = [sys.executable, str(_TOOLS / "bench_train.py"), "--emulated-bf16"]
    argv += ["--contenders", "evaluate,evaluate-bf16,savedmodel-bf16", "--runs", "1"]
    argv += ["--infer-batch-size", "16", "--infer-batches", "1", "--json", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"evaluate", "evaluate-bf16", "savedmodel-bf16"}
    assert all(r["images_per_second"][0] > 0 for r in results.values())


def _row(rates):
    return {"images_per_second": rates, "median": sorted(rates)[1], "median_per_cpu_second": 1.0}


def test_training_ratio_is_held_against_the_faster_pytorch():
    from bench.report import ratios

    results = {
        "fit": _row([360.0, 400.0, 380.0]),
        "torch": _row([300.0, 310.0, 320.0]),
        "torch-compile": _row([330.0, 340.0, 350.0]),
    }
    (row,) = [r for r in ratios(results) if r["num"] == "fit" and r["den"] != "keras"]
    assert row["den"] == "torch-compile"
    assert row["ratio"] == pytest.approx(380.0 / 340.0)
    del results["torch-compile"]  # only eager ran: the ratio is against it
    (row,) = [r for r in ratios(results) if r["num"] == "fit" and r["den"] != "keras"]
    assert row["den"] == "torch"


def test_json_names_the_machine_and_versions(tmp_path):
    args = argparse.Namespace(runs=1)
    path = tmp_path / "bench.json"
    report.write_json(str(path), args, {}, [])
    document = json.loads(path.read_text())
    machine, versions = document["machine"], document["versions"]
    assert machine["cores"] >= 1 and isinstance(machine["isa"], list) and machine["model"]
    assert versions["tensorflow"] and versions["keras"] and versions["python"]


def test_compute_rates_count_three_passes_for_training():
    peak = {"gflops": 100.0}
    rows = {"fit": {**_row([1.0, 2.0, 3.0]), "name": "fit"}}
    rows["call"] = {**_row([1.0, 2.0, 3.0]), "name": "call"}
    fit, call = report.compute_rates(rows, peak)
    assert fit["gflops"] == pytest.approx(3 * call["gflops"])
    assert fit["peak_fraction"] == pytest.approx(fit["gflops"] / 100.0)


def test_bench_export_takes_a_run_model_file(tmp_path):
    """`--models` takes a `cnnzoo fit` file, named by its run directory; refuses a missing file."""
    import bench_export

    run = tmp_path / "resnet20-fast_cifar-s0"
    run.mkdir()
    (run / "model.keras").write_bytes(b"")
    assert bench_export._source(str(run / "model.keras")) == (
        str(run / "model.keras"),
        None,
        "resnet20-fast_cifar-s0",
    )
    with pytest.raises(SystemExit, match="missing.keras is not a file"):
        bench_export._source(str(tmp_path / "missing.keras"))


def test_bench_workers_times_the_third_interval_of_whole_fit_commands(tmp_path):
    import bench_workers

    history = tmp_path / "history.csv"
    history.write_text("iterations,wall_seconds\n40,30.0\n80,42.0\n120,50.0\n")
    # 40 iterations of 128 images in the 8 s between the 2nd and 3rd validation.
    assert bench_workers.steady_rate(history, 128) == pytest.approx(40 * 128 / 8.0)
    history.write_text("iterations,wall_seconds\n40,30.0\n")
    with pytest.raises(RuntimeError, match="1 validation rows, expected 3"):
        bench_workers.steady_rate(history, 128)
    options = bench_workers.parse_args(["--workers", "1,2", "--interval", "10"])
    cmd = bench_workers.fit_command(options, 2, tmp_path / "run", tmp_path / "o.json")
    assert cmd[:2] == ["cnnzoo", "fit"] and cmd[cmd.index("--steps") + 1] == "30"
    assert cmd[cmd.index("--workers") + 1] == "2" and options.workers == [1, 2]


# A stand-in for ../shared/peers/torch_resnet20.py: its command line and JSON, fixed figures.
_PEER = """
import argparse, json
ap = argparse.ArgumentParser()
ap.add_argument("--precision", nargs="+"); ap.add_argument("--batch-size", type=int)
ap.add_argument("--infer-batch-size", type=int); ap.add_argument("--runs", type=int)
ap.add_argument("--json")
a = ap.parse_args()
figures = {"fp32": (300.0, 1000.0), "bf16": (600.0, 2000.0)}
results = {p: dict(zip(("train_images_per_second", "infer_images_per_second"), figures[p]))
           for p in a.precision}
json.dump({"torch": "fake", "threads": 2, "args": vars(a), "results": results}, open(a.json, "w"))
"""


def test_the_peer_runs_with_the_benchmarks_settings_and_is_compared(tmp_path):
    from bench.peer import peer_lines, peer_precisions, peer_ratios, run_peer

    script = tmp_path / "peer.py"
    script.write_text(_PEER)
    results = {"fit": _row([380.0, 390.0, 400.0]), "evaluate-bf16": _row([1900.0, 2100.0, 2200.0])}
    assert peer_precisions(results) == ["fp32", "bf16"]
    args = argparse.Namespace(batch_size=64, infer_batch_size=128, runs=2)
    peer = run_peer(script, peer_precisions(results), args)
    assert peer["args"]["batch_size"] == 64 and peer["args"]["infer_batch_size"] == 128
    assert peer["args"]["runs"] == 2 and peer["args"]["precision"] == ["fp32", "bf16"]
    found = {r["num"]: r for r in peer_ratios(results, peer)}
    assert found["fit"]["ratio"] == pytest.approx(390.0 / 300.0)
    assert found["fit"]["target"] == 1.2
    assert found["evaluate-bf16"]["ratio"] == pytest.approx(2100.0 / 2000.0)
    lines = peer_lines(peer, list(found.values()))
    assert "fit/peer fp32 train = 1.30  (target >= 1.20)  PASS" in lines[1]
    assert "evaluate-bf16/peer bf16 infer = 1.05  (target >= 1.00)  PASS" in lines[2]


def test_a_failing_peer_is_an_error_with_its_output(tmp_path):
    from bench.peer import run_peer

    script = tmp_path / "peer.py"
    script.write_text("import sys; print('no torch here'); sys.exit(3)")
    args = argparse.Namespace(batch_size=64, infer_batch_size=128, runs=2)
    with pytest.raises(SystemExit, match=r"failed \(exit 3\):\nno torch here"):
        run_peer(script, ["fp32"], args)
    with pytest.raises(SystemExit, match="no such file"):
        run_peer(tmp_path / "missing.py", ["fp32"], args)
