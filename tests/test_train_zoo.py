"""`tools/train_zoo.py run`: the zoo's queue, one run or several at a time."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import pytest

_TOOLS = Path(__file__).resolve().parents[1] / "tools"
if str(_TOOLS) not in sys.path:
    sys.path.insert(0, str(_TOOLS))

import train_zoo  # noqa: E402

# A stand-in for `cnnzoo fit`: it records its thread setting, waits (up to 60 s)
# until every run named in argv[2] has started, then exits with argv[3] or, after
# argv[4] more seconds, finishes (results.json).
_CHILD = """
import json, os, pathlib, sys, time
run = pathlib.Path(sys.argv[1])
(run / "started").write_text(os.environ.get("TF_NUM_INTRAOP_THREADS", "unset"))
others = [run.parent / name / "started" for name in sys.argv[2].split(",") if name]
deadline = time.time() + 60
while not all(p.exists() for p in others) and time.time() < deadline:
    time.sleep(0.05)
if int(sys.argv[3]) or not all(p.exists() for p in others):
    sys.exit(int(sys.argv[3]) or 9)
time.sleep(float(sys.argv[4]))
(run / "results.json").write_text(json.dumps({"test_accuracy": 0.5}))
"""


@dataclasses.dataclass(frozen=True)
class _FakeRow(train_zoo.ZooRow):
    wait_for: str = ""
    exit_code: int = 0
    linger: float = 0.0

    def command(self, seed, model_dir, data_dir):
        codes = [self.wait_for, str(self.exit_code), str(self.linger)]
        return [sys.executable, "-c", _CHILD, str(model_dir), *codes]


def _run(monkeypatch, tmp_path, rows, jobs):
    monkeypatch.setattr(train_zoo, "ZOO", tuple(rows))
    monkeypatch.setattr(train_zoo, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(train_zoo.os, "cpu_count", lambda: 2)
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    args = argparse.Namespace(runs_dir=tmp_path, data_dir=None, only=None, jobs=jobs)
    return train_zoo.cmd_run(args)


def test_two_jobs_train_at_once_with_a_thread_each(monkeypatch, tmp_path):
    # Each run waits for the other: one at a time, the first would never finish.
    rows = [
        _FakeRow("a", "r", wait_for="b-r-s0"),
        _FakeRow("b", "r", wait_for="a-r-s0"),
        _FakeRow("c", "r"),
    ]
    assert _run(monkeypatch, tmp_path, rows, jobs=2) == 0
    for name in ("a-r-s0", "b-r-s0", "c-r-s0"):
        assert (tmp_path / name / "results.json").is_file()
        assert (tmp_path / name / "started").read_text() == "1"


def test_one_job_keeps_tensorflows_threads_and_finished_runs_are_skipped(monkeypatch, tmp_path):
    (tmp_path / "a-r-s0").mkdir()
    (tmp_path / "a-r-s0" / "results.json").write_text("{}")
    rows = [_FakeRow("a", "r", exit_code=5), _FakeRow("b", "r")]
    assert _run(monkeypatch, tmp_path, rows, jobs=1) == 0
    assert not (tmp_path / "a-r-s0" / "started").exists()
    assert (tmp_path / "b-r-s0" / "started").read_text() == "unset"


def test_a_failed_run_stops_the_queue_after_the_running_ones(monkeypatch, tmp_path, capsys):
    rows = [
        _FakeRow("a", "r", wait_for="b-r-s0", exit_code=3),
        # Still running when a fails: it finishes, and c never starts.
        _FakeRow("b", "r", wait_for="a-r-s0", linger=1.0),
        _FakeRow("c", "r"),
    ]
    assert _run(monkeypatch, tmp_path, rows, jobs=2) == 3
    assert "a-r-s0 failed with exit code 3" in capsys.readouterr().out
    assert (tmp_path / "b-r-s0" / "results.json").is_file()
    assert not (tmp_path / "c-r-s0").exists()


def test_jobs_below_one_is_refused(capsys):
    with pytest.raises(SystemExit):
        train_zoo.main(["run", "--jobs", "0"])
    assert "--jobs must be at least 1, got 0" in capsys.readouterr().err


def test_status_tells_a_started_run_from_one_not_started(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(train_zoo, "ZOO", (_FakeRow("a", "r"), _FakeRow("b", "r")))
    (tmp_path / "a-r-s0").mkdir()
    run = {"recipe": {"schedule": {"total_steps": 10}}}
    (tmp_path / "a-r-s0" / "run.json").write_text(json.dumps(run))
    args = argparse.Namespace(runs_dir=tmp_path, only=None)
    assert train_zoo.cmd_status(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["a-r-s0", "started,", "first", "epoch", "running"]
    assert out[1].split() == ["b-r-s0", "not", "started"]


def _fake_run(runs_dir, name, iterations, val, done, total=100):
    run = runs_dir / name
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"recipe": {"schedule": {"total_steps": total}}}))
    (run / "history.csv").write_text(f"iterations,val_accuracy\n{iterations},{val}\n")
    if done:
        (run / "results.json").write_text(json.dumps({"test_accuracy": val}))


def test_status_of_a_run_without_validation(monkeypatch, tmp_path, capsys):
    # Keras's CSVLogger writes "NA" where a run trained with --no-validation has no value.
    monkeypatch.setattr(train_zoo, "ZOO", (_FakeRow("a", "r"), _FakeRow("b", "r")))
    _fake_run(tmp_path, "a-r-s0", 40, "NA", done=False)
    _fake_run(tmp_path, "b-r-s0", 40, 0.75, done=False)
    assert train_zoo.cmd_status(argparse.Namespace(runs_dir=tmp_path, only=None)) == 0
    out = capsys.readouterr().out
    assert "40/100 iterations" in out and "no validation" in out and "val 0.7500" in out
    with pytest.raises(SystemExit, match="no validation accuracy recorded"):
        train_zoo._val_accuracy(tmp_path / "a-r-s0")


SHORT_AND_LONG = (
    train_zoo.ZooRow("net", "fast", tag="short"),
    train_zoo.ZooRow("net", "fast", seeds=(0, 1), target=0.9, tag="long"),
)


def _ship(monkeypatch, tmp_path, partial, rows=SHORT_AND_LONG, runs=None):
    """ship_arch over `rows` (default: a short row that finished, a long one training).

    `runs`: (name, iterations, validation accuracy, finished) of each run directory.
    """
    monkeypatch.setattr(train_zoo, "ZOO", rows)
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    runs = runs or [("net-fast-short-s0", 50, 0.8, True), ("net-fast-long-s0", 70, 0.85, False)]
    for name, iterations, val, done in runs:
        _fake_run(runs_dir, name, iterations, val, done, total=200)
    shipped = []

    def ship_row(row, runs_dir, data_dir, out_dir):
        shipped.append(row.tag)
        return {"arch": row.arch, "dataset": "d", "recipe": row.recipe, "seed": 0}

    monkeypatch.setattr(train_zoo, "ship_row", ship_row)
    args = argparse.Namespace(runs_dir=runs_dir, data_dir=None, out=tmp_path, partial=partial)
    return train_zoo.ship_arch("net", args), shipped


def test_ship_waits_for_every_row_unless_partial(monkeypatch, tmp_path, capsys):
    card, shipped = _ship(monkeypatch, tmp_path, partial=False)
    assert card is None and shipped == []
    assert "net: not every run has finished; not shipped (--partial" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.card.json"))


def test_partial_ship_names_the_rows_still_training_and_the_target(monkeypatch, tmp_path):
    card, shipped = _ship(monkeypatch, tmp_path, partial=True)
    assert shipped == ["short"]
    assert card["target_accuracy"] == 0.9
    assert card["pending"] == [
        {
            "recipe": "fast",
            "flags": "",
            "target_accuracy": 0.9,
            "progress": [
                {"seed": 0, "iterations": 70, "total": 200},
                {"seed": 1, "iterations": 0, "total": None},
            ],
        }
    ]
    assert json.loads((tmp_path / "net-d.card.json").read_text()) == card


def test_a_study_row_is_neither_shipped_nor_waited_for(monkeypatch, tmp_path):
    rows = (
        train_zoo.ZooRow("net", "fast", target=0.5),
        train_zoo.ZooRow("net", "fast", tag="study", ship=False),
    )
    # The study's run validates better and has not finished: neither matters.
    runs = [("net-fast-s0", 50, 0.8, True), ("net-fast-study-s0", 70, 0.9, False)]
    card, shipped = _ship(monkeypatch, tmp_path, False, rows, runs)
    assert shipped == [""] and card["pending"] == [] and card["target_accuracy"] == 0.5


def test_precision_segments_follow_the_sessions(tmp_path):
    """The card's precision: one segment per run of sessions in one policy, in iterations."""
    xeon = {"model": "Xeon", "cores": 2, "isa": ["avx512_bf16", "amx_bf16"], "native_bf16": True}
    epyc = {"model": "EPYC", "cores": 2, "isa": ["avx2"], "native_bf16": False}
    bf16 = {"policy": "mixed_bfloat16", "why": "auto: native"}
    fp32 = {"policy": "float32", "why": "auto: emulated"}
    sessions = [
        {"iteration": 0, "machine": xeon, "precision": bf16},
        {"iteration": 700, "machine": xeon, "precision": bf16},
        {"iteration": 1000, "machine": epyc, "precision": fp32},
        {"iteration": 1000, "machine": xeon, "precision": bf16},  # killed before a checkpoint
        {"iteration": 1000, "machine": epyc, "precision": fp32},
        {"iteration": 1500, "machine": epyc},  # recorded before precisions were
    ]
    (tmp_path / "sessions.jsonl").write_text("".join(json.dumps(s) + "\n" for s in sessions))
    segments = train_zoo.precision_segments(tmp_path, 2000)
    assert [(s["policy"], s["iterations"]) for s in segments] == [
        ("mixed_bfloat16", 1000),
        ("float32", 1000),
    ]
    assert segments[0]["machines"] == ["Xeon, 2 cores, avx512_bf16 amx_bf16"]
    assert segments[1]["why"] == "auto: emulated"
    assert sum(s["iterations"] for s in segments) == 2000


def test_zoo_runs_choose_their_precision_per_session():
    """Every zoo run asks for `--precision auto`: bfloat16 where the session's CPU has it."""
    command = train_zoo.ZOO[0].command(0, Path("runs/x"), None)
    assert command[command.index("--precision") + 1] == "auto"


def test_runs_launch_cnnzoo_through_this_interpreter():
    # `cnnzoo` need not be on PATH (a venv used without activating it): the queue
    # runs `python -m cnnzoo` with the interpreter that imports train_zoo.
    row = train_zoo.ZooRow("resnet20", "fast_cifar", flags=("--epochs", "100"))
    cmd = row.command(0, Path("runs/x"), "data")
    argv = train_zoo._launch_argv(cmd)
    assert cmd[0] == "cnnzoo"
    assert argv[:3] == [sys.executable, "-m", "cnnzoo"] and argv[3:] == cmd[1:]
    assert train_zoo._launch_argv(["other", "--x"]) == ["other", "--x"]


def test_shipping_refuses_a_file_whose_weights_differ(tmp_path):
    # A bfloat16 run's test figure is not the shipped file's (float32), so the save is
    # checked on the weights themselves, bit for bit.
    from _tiny_models import save_tiny_model, tiny_model

    from cnnzoo.model_io import save_trained

    (tmp_path / "run").mkdir()
    (tmp_path / "ship").mkdir()
    trained = save_tiny_model(tmp_path / "run")
    shipped = save_tiny_model(tmp_path / "ship")
    train_zoo.check_same_weights(trained, shipped)  # the same: no error
    other = tiny_model()
    kernel = other.get_layer("conv").kernel
    kernel.assign(kernel.numpy() * (1 + 2**-20))
    meta = json.loads(shipped.with_suffix(".json").read_text())
    save_trained(other, shipped, meta)
    with pytest.raises(RuntimeError, match="weight conv/kernel differs"):
        train_zoo.check_same_weights(trained, shipped)
    # Another shape (here: more classes) is refused before any value is compared.
    save_trained(
        tiny_model(num_classes=7), shipped, {**meta, "class_names": [str(i) for i in range(7)]}
    )
    with pytest.raises(RuntimeError, match="expected shape .* got .*the save lost"):
        train_zoo.check_same_weights(trained, shipped)


def test_rewrite_between_replaces_only_the_marked_lines(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(f"head\n{train_zoo.README_START}\nold\n{train_zoo.README_END}\ntail\n")
    train_zoo._rewrite_between(path, train_zoo.README_START, train_zoo.README_END, "new\n")
    assert path.read_text() == (
        f"head\n{train_zoo.README_START}\nnew\n{train_zoo.README_END}\ntail\n"
    )
    path.write_text("no markers\n")
    with pytest.raises(SystemExit, match="README.md: no .* markers"):
        train_zoo._rewrite_between(path, train_zoo.README_START, train_zoo.README_END, "x\n")
    assert path.read_text() == "no markers\n"  # nothing written


def _between_markers(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    block = text.partition(train_zoo.README_START)[2].partition(train_zoo.README_END)[0]
    return [line for line in block.splitlines() if line.startswith("|")]


def test_the_repositorys_tables_of_shipped_models_are_the_cards(tmp_path, capsys):
    # `ship` then `readme`: a model shipped without rewriting the tables fails here.
    train_zoo._export_lines()
    exports = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert exports == _between_markers(train_zoo.SAVED_MODELS_DIR / "README.md")
    train_zoo._zoo_lines(argparse.Namespace(runs_dir=tmp_path))
    shipped = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert shipped and shipped == [
        line
        for line in _between_markers(train_zoo.REPO / "README.md")
        if not line.startswith("| model") and not line.startswith("| ---")
    ]
