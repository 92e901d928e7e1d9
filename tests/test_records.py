"""Statistics as records: a field declared once on ``Effect`` / ``SpeedRatio`` reaches every output.

The tables' CSV and displayed columns, ``summary.json`` and the HTML report are
all written from the declarations in ``reports/records.py``; these tests add a
statistic the way a contributor would (one declared field plus its value) and
look for it in each output, and check that the key names no longer drift.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports.analysis import analyse
from reports.effects import Effect
from reports.load import load_run
from reports.records import columns, csv_row, display_row, fmt, json_entry, stat
from reports.render import write_report
from reports.speed_analysis import SpeedRatio
from reports.synthetic import SyntheticConfig, write_run

CFG = SyntheticConfig(methods=("afr", "maml"), domains=3, seeds=2, episodes=2, secondary=True)


@dataclass
class EffectWithSignAgreement(Effect):
    """A contributor's new statistic: the share of seeds whose mean effect has the sign of the estimate."""

    sign_agreement: float = stat("sign_agreement", "sign agreement", show=lambda e: fmt(e.sign_agreement, 3),
                                 default=float("nan"))


def _with_sign_agreement(e: Effect) -> EffectWithSignAgreement:
    values = {f.name: getattr(e, f.name) for f in dataclasses.fields(Effect)}
    share = float(np.mean(np.sign(e.seed_effects) == np.sign(e.estimate)))
    return EffectWithSignAgreement(**values, sign_agreement=share)


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory):
    return analyse(load_run(write_run(CFG, tmp_path_factory.mktemp("run"))), n_resamples=200)


def test_a_new_field_reaches_the_table_the_summary_and_the_html(analysis, tmp_path: Path) -> None:
    extended = copy.copy(analysis)  # the module's analysis stays as analyse() made it
    extended.effects = [_with_sign_agreement(e) for e in analysis.effects]
    index = write_report(extended, tmp_path / "report")
    shares = [e.sign_agreement for e in extended.effects]
    assert all(0.0 <= s <= 1.0 for s in shares)

    csv = pd.read_csv(tmp_path / "report" / "tables" / "comparisons.csv")
    assert csv["sign_agreement"].tolist() == pytest.approx(shares)
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert [c["sign_agreement"] for c in summary["comparisons"]] == pytest.approx(shares)
    html = index.read_text()
    assert "<th>sign agreement</th>" in html
    assert all(f"<td>{fmt(s, 3)}</td>" in html for s in shares)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| sign agreement |" in md


def test_the_planted_field_is_not_in_plain_effects(analysis) -> None:
    assert "sign_agreement" not in json_entry(analysis.effects[0])
    assert "sign agreement" not in display_row(analysis.effects[0])


def test_adjusted_p_keys_name_their_adjustment_in_every_output(analysis) -> None:
    primary, secondary = analysis.effects[0], analysis.secondary[0]
    for output in (json_entry(primary), csv_row(primary)):
        assert {"p_holm", "p_crossed_t_holm"} <= set(output) and "p_adjusted" not in output
    for output in (json_entry(secondary), csv_row(secondary)):
        assert {"p_bh", "p_crossed_t_bh"} <= set(output) and "p_holm" not in output
    assert "p (Wilcoxon, Holm)" in display_row(primary) and "p (Wilcoxon, BH)" in display_row(secondary)
    ratio = analysis.speed[0]
    for output in (json_entry(ratio), csv_row(ratio)):
        assert "p_holm" in output and "p_adjusted" not in output


def test_summary_and_csv_share_every_key(analysis) -> None:
    for record in (analysis.effects[0], analysis.speed[0]):
        entry, row = json_entry(record), csv_row(record)
        scalar = {k for k, v in entry.items() if not isinstance(v, list)}
        assert scalar <= set(row)
        assert {"ci_lo", "ci_hi"} <= set(row) and entry["ci"] == [row["ci_lo"], row["ci_hi"]]


def test_every_record_field_is_declared_or_internal() -> None:
    """A field that is neither an output nor one of the known internals would be silently lost."""
    internal = {"crossed", "per_domain", "family", "boot_log"}
    for kind in (Effect, SpeedRatio):
        declared = {name for name, _ in columns(kind)}
        assert {f.name for f in dataclasses.fields(kind)} - declared <= internal
