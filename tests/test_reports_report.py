"""End to end: a synthetic store in the real schema -> the report folder and its contracts."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from reports import cli_report
from reports.analysis import analyse
from reports.load import load_run
from reports.report import build_report
from reports.summary import build_summary
from reports.synthetic import SyntheticConfig, make_run, write_run, write_store

CFG = SyntheticConfig(methods=("afr", "maml", "fomaml"), domains=5, seeds=3, episodes=3, secondary=True,
                      failed=[("fomaml", 2, "diverged: NaN outer loss at step 40")],
                      failed_blocks=[(1, "worker died")], seed=5)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = write_run(CFG, tmp_path_factory.mktemp("run"))
    return build_report(run_dir)


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli_report.add_arguments(parser)
    return cli_report.run(parser.parse_args(list(argv)))


def test_store_round_trip_keeps_every_raw_row(tmp_path: Path):
    run = make_run(CFG)
    write_store(run, tmp_path / "results.sqlite")
    back = load_run(tmp_path)
    assert len(back.values) == len(run.values) and len(back.timings) == len(run.timings)
    assert back.manifest["spec"]["comparisons"]["reference"] == "afr"
    assert back.timings["warmup"].dtype == bool


def test_report_folder_has_every_artifact(report: Path):
    out = report.parent
    assert report.name == "index.html" and out.name == "report"
    assert (out / "report.md").is_file() and (out / "summary.json").is_file()
    figures = {p.name for p in (out / "figures").glob("*.png")}
    tasks = CFG.tasks
    assert {f"forest_{t}.png" for t in tasks} | {f"pareto_{t}.png" for t in tasks} <= figures
    assert {"speed_ratios.png", "ranking.png", "training_curves.png"} <= figures
    tables = {p.name for p in (out / "tables").iterdir()}
    for name in ("main", "comparisons", "secondary", "speed", "flops", "ranking", *(f"domains_{t}" for t in tasks)):
        assert f"{name}.csv" in tables and f"{name}.tex" in tables


def test_summary_json_follows_the_contract(report: Path):
    s = json.loads((report.parent / "summary.json").read_text())
    means = {(m["method"], m["task"]): m for m in s["means"]}
    assert set(means) == {(m, t) for m in CFG.methods for t in CFG.tasks}
    m = means[("afr", "classification")]
    assert m["metric"] == "accuracy" and m["ci"][0] <= m["mean"] <= m["ci"][1]
    comp = s["comparisons"]
    assert {(c["baseline"], c["task"]) for c in comp} == {(b, t) for b in ("maml", "fomaml") for t in CFG.tasks}
    for c in comp:
        adj = "holm" if c["family"] == "confirmatory" else "bh"
        assert {"effect", "ci", "p_wilcoxon", f"p_{adj}", f"p_decision_{adj}", "mde80", "verdict"} <= set(c)
        assert c[f"p_{adj}"] >= c["p_wilcoxon"]
    assert {c["baseline"] for c in comp if c["family"] == "confirmatory"} == {"maml"}
    assert list(s)[:4] == ["schema", "not_learned", "claims", "confirmatory"]  # flags, then the verdict
    assert [c["verdict"] for c in s["claims"]][0] in ("supported", "not shown")
    assert s["confirmatory"]["of"] == len(CFG.tasks) and s["confirmatory"]["family_size"] == len(CFG.tasks) + 1
    entry = next(r for r in s["speed"] if r["baseline"] == "maml" and r["phase"] == "meta_train_step")
    assert {"method", "baseline", "phase", "ratio", "ci"} <= set(entry) and entry["method"] == "afr"
    assert entry["ci"][0] < entry["ratio"] < entry["ci"][1]
    assert entry["ratio"] == pytest.approx(1.8, rel=0.05)  # baseline time / method time: above 1 = faster
    assert {(c["task"], c["metric"]) for c in s["secondary"]} == {("depth", "rmse"), ("normals", "normals_within_30")}
    assert all("p_bh" in c for c in s["secondary"])
    assert {"kind": "cell", "method": "fomaml", "seed": 2, "reason": "diverged: NaN outer loss at step 40"} \
        in s["failures"]
    assert {"kind": "speed_block", "block": 1, "reason": "worker died"} in s["failures"]
    assert entry["n_blocks"] == CFG.blocks - 1
    assert s["design"]["excluded_seeds"] == [2]


def test_markdown_shows_the_main_table_and_the_failure(report: Path):
    md = (report.parent / "report.md").read_text()
    s = json.loads((report.parent / "summary.json").read_text())
    header = next(line for line in md.splitlines() if line.startswith("| method | parameters | classification accuracy"))
    assert all(t in header for t in CFG.tasks)
    afr_row = next(line for line in md.splitlines() if line.startswith("| afr (reference) |"))
    afr_cls = next(m for m in s["means"] if m["method"] == "afr" and m["task"] == "classification")
    assert f"{afr_cls['mean']:.4f}" in afr_row  # the table shows the numbers summary.json holds
    assert "| 100,000 |" in afr_row  # the parameter count beside the quality (capacity is visible)
    first = next(i for i, line in enumerate(md.splitlines()) if line.startswith("## "))
    assert md.splitlines()[first] == "## Verdict on the paper's claims"  # the verdict opens the report
    assert "fomaml seed 2: diverged" in md and "speed block 1: worker died" in md
    assert re.search(r"!\[.*\]\(figures/forest_depth\.png\)", md)


def test_latex_tables_use_booktabs_and_escape_names(report: Path):
    tex = (report.parent / "tables" / "main.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "abs\\_rel" in tex
    dom = (report.parent / "tables" / "domains_depth.tex").read_text()
    assert "$\\pm$" in dom


def test_cli_writes_the_report_and_prints_its_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    run_dir = write_run(SyntheticConfig(methods=("afr", "maml"), domains=3, seeds=2, episodes=2), tmp_path / "r")
    assert _cli(str(run_dir), "--out", str(tmp_path / "out")) == 0
    assert capsys.readouterr().out.strip() == f"report: {tmp_path / 'out' / 'index.html'}"


def test_cli_missing_cells_exit_3_and_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    run_dir = write_run(SyntheticConfig(methods=("afr", "maml"), domains=3, seeds=3, missing=[("maml", 2)]),
                        tmp_path / "r")
    assert _cli(str(run_dir)) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: the run is not a balanced design")
    assert "missing: method=maml seed=2 what=cell never ran" in err
    assert not (run_dir / "report").exists()


def test_cli_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert _cli(str(tmp_path / "nowhere")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    assert _cli(str(tmp_path / "empty")) == 2
    assert "holds no result store" in capsys.readouterr().err


def test_report_statistics_are_reproducible(tmp_path: Path):
    run = load_run(write_run(SyntheticConfig(methods=("afr", "maml"), domains=3, seeds=2, episodes=2), tmp_path / "r"))
    a, b = (build_summary(analyse(run)) for _ in range(2))
    assert a == b  # no statistic of the report resamples: the same store gives the same numbers


def test_a_run_without_timings_gets_a_report_without_empty_sections(tmp_path: Path):
    run = make_run(SyntheticConfig(methods=("afr", "maml"), domains=3, seeds=2, episodes=2))
    run.timings, run.costs, run.curves = run.timings.iloc[0:0], run.costs.iloc[0:0], run.curves.iloc[0:0]
    write_store(run, tmp_path / "results.sqlite")
    (tmp_path / "report" / "figures").mkdir(parents=True)
    (tmp_path / "report" / "figures" / "pareto_depth.png").write_bytes(b"stale")  # from an earlier report
    index = build_report(tmp_path)
    md = (index.parent / "report.md").read_text()
    assert "## Speed" not in md and "|  |" not in md
    assert "no timing samples" in md
    assert not (index.parent / "figures" / "pareto_depth.png").exists()
    assert json.loads((index.parent / "summary.json").read_text())["speed"] == []
