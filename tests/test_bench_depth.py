"""tools/bench_depth.py: the line it fits, the table it prints, the depths it accepts.

``tools/`` is not a package: the script finds ``tools/bench/`` because Python puts
the script's folder first on ``sys.path``; these tests do the same.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

_TOOLS = Path(__file__).resolve().parents[1] / "tools"
if str(_TOOLS) not in sys.path:
    sys.path.insert(0, str(_TOOLS))

import bench_depth  # noqa: E402


def test_a_line_is_fitted_exactly_with_r2_one():
    line = bench_depth.fit_line([1.0, 2.0, 4.0], [3.0, 5.0, 9.0])  # y = 1 + 2x
    assert line["a"] == pytest.approx(1.0)
    assert line["b"] == pytest.approx(2.0)
    assert line["r2"] == pytest.approx(1.0)
    assert bench_depth.deviations(line, [1.0, 2.0, 4.0], [3.0, 5.0, 9.0]) == pytest.approx(
        [0.0, 0.0, 0.0]
    )


def test_a_bent_series_has_r2_below_one_and_its_outlier_shows():
    xs, ys = [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 8.0]
    line = bench_depth.fit_line(xs, ys)
    # By hand: mean x 2.5, mean y 3.5, Sxy 11, Sxx 5 -> b 2.2, a -2; residuals
    # 0.8, -0.4, -1.6, 1.2 -> SSres 4.8, SStot 29.
    assert (line["a"], line["b"]) == pytest.approx((-2.0, 2.2))
    assert line["r2"] == pytest.approx(1 - 4.8 / 29)
    assert bench_depth.deviations(line, xs, ys)[-1] == pytest.approx(8 / 6.8 - 1)


@pytest.mark.parametrize("xs, ys", [([1.0], [2.0]), ([1.0, 1.0], [2.0, 3.0]), ([1.0, 2.0], [1.0])])
def test_a_line_needs_two_distinct_x(xs, ys):
    with pytest.raises(ValueError, match="line needs"):
        bench_depth.fit_line(xs, ys)


def test_median_ms_takes_the_middle_window_per_step():
    # Steps end at 0, 1, 2 | 2.5, 3 | 5, 7 (s): windows of 2 steps last 2, 1, 4 s.
    times = [0.0, 1.0, 2.0, 2.5, 3.0, 5.0, 7.0]
    assert bench_depth.median_ms(times, per_window=2, windows=3) == pytest.approx(1000.0)
    with pytest.raises(ValueError, match="3 windows of 3 steps need 10 times, got 7"):
        bench_depth.median_ms(times, per_window=3, windows=3)


def test_depths_are_the_registered_cifar_resnets():
    cards = bench_depth.cifar_resnet_cards()
    assert sorted(cards) == sorted(bench_depth.DEFAULT_DEPTHS)
    assert cards[20].multiply_adds == 40_551_040  # cnnzoo/multiply_adds.json
    assert bench_depth.parse_depths("20, resnet56,1202", cards) == [20, 56, 1202]


@pytest.mark.parametrize(
    "text, message",
    [("18", "expected depths among 20,32,44,56,110,1202, got '18'"), ("20,20", "given twice")],
)
def test_other_depths_are_refused_by_name(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        bench_depth.parse_depths(text, bench_depth.cifar_resnet_cards())


def test_the_parser_refuses_a_zero_window_count():
    parser = bench_depth.build_parser(bench_depth.cifar_resnet_cards())
    with pytest.raises(SystemExit):
        parser.parse_args(["--windows", "0"])
    assert parser.parse_args([]).depths == list(bench_depth.DEFAULT_DEPTHS)


def _row(depth, gmacs, train_ms, infer_ms):
    gib = bench_depth.GIB
    return {
        "depth": depth,
        "params": 1000 * depth,
        "macs": int(gmacs * 1e9),
        "train_ms": train_ms,
        "infer_ms": infer_ms,
        "first_step_s": 1.0,
        "peak_rss": 3 * gib,
        "baseline_rss": gib,
    }


def test_the_table_shows_time_per_gmac_deviation_and_fit():
    rows = [_row(20, 0.5, 100.0, 60.0), _row(56, 1.0, 200.0, 110.0), _row(110, 2.0, 400.0, 210.0)]
    rows.append({"depth": 1202, "params": 5, "macs": 3e9, "error": "worker exit -9: killed"})
    fit = bench_depth.fits(rows)
    assert fit["train_ms"]["r2"] == pytest.approx(1.0)
    assert set(fit["infer_ms"]["deviation"]) == {20, 56, 110}  # the failed row is not fitted
    table = bench_depth.format_table(rows, fit, batch=100, infer=200)
    lines = table.splitlines()
    assert lines[0].startswith("| depth | params | GMACs/img | train ms/iter (bs 100) |")
    assert lines[1].count("---") == lines[0].count(" | ") + 1
    # 100 ms / (0.5 GMACs x 100 images) = 2 ms per GMAC; 2 GiB added by training.
    assert lines[2] == (
        "| 20 | 20,000 | 0.500 | 100.0 | 2.00 | +0.0% | 60.0 | 0.60 | +0.0% | 1.0 | 3.00 | 2.00 |"
    )
    assert "| 1202 | 5 | 3.000 | worker exit -9: killed |" in lines
    assert lines[-2] == "train: ms = 0.0 + 200.0 x GMACs/img, R² = 1.0000"
    assert lines[-1].startswith("inference: ms = 10.0 + 100.0 x GMACs/img")


@pytest.mark.slow
def test_a_short_run_writes_rows_and_fits(tmp_path):
    out = tmp_path / "depth.json"
    args = ["--depths", "20,32", "--windows", "1", "--steps", "1", "--warmup", "1"]
    args += ["--batch", "8", "--infer-batch", "8", "--json", str(out)]
    done = subprocess.run(
        [sys.executable, str(_TOOLS / "bench_depth.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert [r["depth"] for r in report["rows"]] == [20, 32]
    assert report["rows"][0]["params"] == 269_722  # He et al. 2016 Table 6: 0.27M
    assert report["rows"][1]["peak_rss"] > report["rows"][1]["baseline_rss"] > 0
    assert set(report["fits"]) == {"train_ms", "infer_ms"}
    assert "| 32 | 464,154 | 0.069 |" in done.stdout


def test_accumulate_names_a_depth_and_its_micro_batches():
    assert bench_depth.parse_accumulate("1202:4, 110:2") == {1202: 4, 110: 2}
    assert bench_depth.parse_accumulate("") == {}
    with pytest.raises(argparse.ArgumentTypeError, match="expected DEPTH:N with N >= 1"):
        bench_depth.parse_accumulate("1202:0")
    with pytest.raises(SystemExit):  # 3 does not divide the batch of 128
        bench_depth.main(["--depths", "1202", "--accumulate", "1202:3"])


def test_a_row_in_micro_batches_says_so():
    rows = [_row(20, 0.5, 100.0, 60.0), {**_row(1202, 1.0, 200.0, 110.0), "micro_batches": 4}]
    table = bench_depth.format_table(rows, bench_depth.fits(rows), batch=128, infer=256)
    assert table.splitlines()[3].startswith("| 1202 (4 x 32) | 1,202,000 | 1.000 | 200.0 |")
