"""maml-wide, the capacity-matched control: maml's code path on a network as large as afr.

Its parameter count matches the reference afr's at the ``standard`` size (and at the other
shipped sizes), only its widths differ from maml, every shipped spec gives it maml's learning
rates, it stays out of the confirmatory family and the speed section, and it runs through the
runner on a micro spec.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.cell import method_config
from bench.cli import main
from bench.spec import SHIPPED, load_spec
from bench.store import open_store
from methods.maml import MAML
from methods.maml_wide import MAMLWide, matched_network, network_parameters, scaled_network
from methods.registry import METHODS

MICRO = Path(__file__).parent / "specs" / "micro.toml"
TOLERANCE = 0.05  # the bound: within 5% of afr's trainable parameters


def _count(spec_name: str, method: str) -> tuple[int, MAML]:
    spec = load_spec(spec_name)
    config = method_config(spec, "maml" if method == "maml-wide" else method, 32)
    built = METHODS.get(method)(config, tuple(spec.tasks), torch.device("cpu"), 0)
    return built.parameter_count(), built


def test_parameter_count_matches_afr_at_standard() -> None:
    afr, _ = _count("standard", "afr")
    maml, _ = _count("standard", "maml")
    wide, method = _count("standard", "maml-wide")
    assert (afr, maml) == (138_370, 71_810)  # the counts the spec's comment and the docs quote
    assert abs(wide - afr) / afr <= TOLERANCE
    assert wide == 140_214 and method.net.config.widths == (23, 45, 68, 90)
    assert method.net.config.decoder_width == 23


@pytest.mark.parametrize("spec_name", ["smoke", "paper", "diode"])
def test_parameter_count_matches_afr_at_other_sizes(spec_name: str) -> None:
    afr, _ = _count(spec_name, "afr")
    wide, _ = _count(spec_name, "maml-wide")
    assert abs(wide - afr) / afr <= TOLERANCE, (spec_name, wide, afr)


def test_the_match_is_the_closest_common_factor() -> None:
    """No factor near the chosen one (in the search's 1/1000 steps) lands closer to the target."""
    _, method = _count("standard", "maml")
    base, tasks = method.net.config, method.tasks
    target = 138_370
    chosen = matched_network(base, tasks, target)
    best = abs(network_parameters(chosen, tasks) - target)
    for k in range(1000, 2500, 5):
        assert abs(network_parameters(scaled_network(base, k / 1000), tasks) - target) >= best


def test_only_the_widths_differ_from_maml() -> None:
    for name in ("query_loss", "adapt", "meta_train", "_wrap", "meta_parameters"):
        assert getattr(MAMLWide, name) is getattr(MAML, name), name
    assert MAMLWide.first_order is False and issubclass(MAMLWide, MAML)
    _, maml = _count("standard", "maml")
    _, wide = _count("standard", "maml-wide")
    # same modules, same kinds of layers, same heads' fixed sizes; only channel counts change
    assert [type(m) for m in maml.net.modules()] == [type(m) for m in wide.net.modules()]
    assert wide.net.heads["vanishing_point"].hidden.out_features == maml.net.heads["vanishing_point"].hidden.out_features
    assert wide.net.heads["classification"].linear.out_features == maml.net.heads["classification"].linear.out_features
    assert wide.config.inner_lr == maml.config.inner_lr and wide.config.outer_lr == maml.config.outer_lr
    assert MAMLWide.tunable  # the same search as every method: maml's values diverged on the wider network


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_specs_keep_it_exploratory(name: str) -> None:
    spec = load_spec(name)
    if "maml-wide" not in spec.method_names:
        return
    comparisons = spec.comparisons
    assert "maml-wide" in comparisons.baselines and "maml-wide" not in comparisons.confirmatory
    assert spec.speed is None or "maml-wide" not in spec.speed.methods


@pytest.mark.slow
def test_it_runs_through_a_micro_spec(tmp_path: Path) -> None:
    text = MICRO.read_text().replace("[methods.fomaml]", "[methods.maml-wide]\n[methods.fomaml]")
    text = text.replace('baselines = ["fomaml"]', 'baselines = ["fomaml", "maml-wide"]')
    text = text.replace('methods = ["afr", "fomaml"]\npairs = 3\nblocks = 2', 'methods = ["afr", "fomaml"]\npairs = 1\nblocks = 1')
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    out = tmp_path / "run"
    assert main(["run", str(spec), "--out", str(out), "--executor", "inline", "--seeds", "1", "--no-progress"]) == 0
    with open_store(out) as store:
        cells = store.cells_frame().set_index("method")
        values = store.metric_frame()
        counts = store.manifest()["parameter_counts"]
    assert cells.loc["maml-wide", "status"] == "done"
    assert set(values.loc[values["method"] == "maml-wide", "task"]) == set(load_spec(spec).tasks)
    assert abs(counts["maml-wide"] - counts["afr"]) / counts["afr"] <= 0.15  # micro widths move in coarse steps
    assert counts["maml-wide"] > counts["fomaml"]
