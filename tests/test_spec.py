"""Spec loading: valid specs become typed objects; every invalid field is one line naming field, value and rule."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from bench.errors import SpecError, UserError
from bench.spec import (
    REAL,
    SHIPPED,
    Spec,
    check_names,
    load_spec,
    parse_seeds,
    parse_spec,
    shipped_path,
    tomllib,
)

MICRO = Path(__file__).parent / "specs" / "micro.toml"


def micro() -> dict[str, Any]:
    return tomllib.loads(MICRO.read_text())


def mutate(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of the micro spec with ``path`` (dotted) set to ``value``; ``...`` deletes it."""
    data = copy.deepcopy(base or micro())
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if value is ...:
        node.pop(last, None)
    else:
        node[last] = value
    return data


def test_micro_spec_is_typed_and_validated() -> None:
    spec = load_spec(MICRO)
    assert spec.name == "micro" and spec.seeds == (0, 1)
    assert spec.method_names == ("fomaml", "afr")
    assert spec.method("afr").inner_lr == 0.05 and spec.method("fomaml").inner_lr is None
    assert spec.suite.name == "synthrooms" and spec.suite.options == {"profile": "tiny", "progress": False}
    assert spec.episodes.ways == 3 and spec.network.widths == (4, 4, 8, 8)
    assert spec.training.budget_steps == 3 and spec.speed is not None and spec.speed.methods == ("afr", "fomaml")
    assert spec.comparisons is not None and spec.comparisons.baselines == ("fomaml",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_specs_load_and_name_registered_entries(name: str) -> None:
    spec = load_spec(name)
    assert spec.name == name and shipped_path(name).is_file()
    check_names(spec)  # every method and the suite are registered
    from methods.registry import METHODS

    # test plugins (tests/bench_plugin.py) may have registered test-only methods in this worker
    shipped_methods = {name for name in METHODS.names() if METHODS.get(name).__module__.startswith("methods.")}
    controls = {name for name in shipped_methods if METHODS.get(name).control}
    assert controls == {"constant", "scratch", "protonet"}
    if name == "scaling":  # a speed study (docs/scaling.md): the reference and the baselines it is timed against
        assert spec.speed is not None and spec.speed.scaled and set(spec.method_names) == set(spec.speed.methods)
        assert set(spec.method_names) == {"afr", "maml", "fomaml", "anil"}
        return
    assert controls <= set(spec.method_names), "every shipped spec runs every control"
    if name in ("standard", "ablations"):  # the two split the methods between them
        other = load_spec("ablations" if name == "standard" else "standard")
        assert set(spec.method_names) | set(other.method_names) == shipped_methods
    elif name in REAL:  # the standard spec's methods on real data
        assert set(spec.method_names) == set(load_spec("standard").method_names)
    else:
        # the capacity control maml-wide is left out of smoke (CI time); tests/test_maml_wide.py runs it
        expected = shipped_methods - (NOT_IN_SMOKE if name == "smoke" else set())
        assert set(spec.method_names) == expected, "shipped specs list every registered method"
    if name in REAL:  # one spec per real suite, named after it, with the tasks that suite has labels for
        assert spec.suite.name == name and "root" not in spec.suite.options  # the data folder comes from --root
        assert set(spec.tasks) == REAL_TASKS[name]
    else:
        assert len(spec.tasks) == 4
    assert spec.training.curve_every is not None, "every shipped spec records learning curves"


NOT_IN_SMOKE = {"maml-wide"}
REAL_TASKS = {"taskonomy": {"classification", "depth", "normals", "vanishing_point"}, "diode": {"depth", "normals"},
              "nyuv2": {"depth", "normals"}, "scannet_vp": {"vanishing_point"}}


def test_round_trip_through_the_manifest_form() -> None:
    spec = load_spec(MICRO)
    again = parse_spec(spec.to_dict(), source=spec.source)
    assert again == spec and again.hash == spec.hash


def test_hash_ignores_runtime_but_not_the_design() -> None:
    spec = load_spec(MICRO)
    assert spec.with_overrides(executor="inline", device="auto", workers=3).hash == spec.hash
    assert spec.with_overrides(seeds=(0, 1, 2)).hash != spec.hash
    assert parse_spec(mutate("training.inner_lr", 0.2)).hash != spec.hash


def test_method_override_keeps_speed_and_comparisons_consistent() -> None:
    spec = load_spec(MICRO).with_overrides(methods=["fomaml"])
    assert spec.method_names == ("fomaml",) and spec.speed is None and spec.comparisons is None
    spec = load_spec(MICRO).with_overrides(methods=["afr", "fomaml", "anil"])
    assert spec.method_names == ("afr", "fomaml", "anil") and spec.method("anil").inner_lr is None
    assert spec.method("afr").inner_lr == 0.05  # overrides of kept methods survive


def test_methods_as_a_plain_list() -> None:
    spec = parse_spec(mutate("methods", ["maml", "afr", "fomaml"]))
    assert spec.method_names == ("maml", "afr", "fomaml") and all(m.inner_lr is None for m in spec.methods)


def test_seed_list_and_cli_seed_forms() -> None:
    assert parse_spec(mutate("seeds", [3, 7])).seeds == (3, 7)
    assert parse_seeds("3") == (0, 1, 2) and parse_seeds("4,0") == (4, 0)
    for bad in ("0", "x", "1,1", "-1,2"):
        with pytest.raises(SpecError, match="--seeds"):
            parse_seeds(bad)


# (mutation path, value, fragment of the message): one rule each
RULES = [
    ("name", ..., "'name' is missing"),
    ("name", "my spec!", "'name' = \"my spec!\": must be letters"),
    ("description", 3, "'description' = 3: must be a string"),
    ("seeds", 0, "'seeds' = 0: must be a seed count"),
    ("seeds", [1, 1], "'seeds' = [1, 1]: must be a seed count >= 1 or a list of distinct"),
    ("seeds", [-1], "'seeds' = [-1]"),
    ("tasks", ["depth", "edges"], "'tasks' = [\"depth\", \"edges\"]: 'edges' is not allowed; choose from"),
    ("tasks", [], "'tasks' = []: must name at least one"),
    ("tasks", ["depth", "depth"], "names 'depth' twice"),
    ("methods", [], "'methods' = []: must name at least one entry"),
    ("methods", 5, "'methods' = 5"),
    ("methods.afr.inner_lr", -1, "'methods.afr.inner_lr' = -1: must be a positive number"),
    ("methods.afr.outer_lr", "fast", "'methods.afr.outer_lr' = \"fast\": must be a positive number"),
    ("methods.afr.extra", 3, "'methods.afr.extra' = 3: must be a table"),
    ("methods.afr.tuned", 1, "'methods.afr.tuned' = 1: must be a string"),
    ("methods.afr.momentum", 0.9, "'methods.afr.momentum' is not a known field"),
    ("suite", ..., "'suite' is missing: it is required"),
    ("suite", "synthrooms", "'suite' = \"synthrooms\": must be a table"),
    ("suite.name", ..., "'suite.name' is missing"),
    ("episodes.shots", 0, "'episodes.shots' = 0: must be an integer >= 1"),
    ("episodes.queries", 2.5, "'episodes.queries' = 2.5: must be an integer >= 1"),
    ("episodes.ways", 1, "'episodes.ways' = 1: must be an integer >= 2"),
    ("episodes.test_episodes", 0, "'episodes.test_episodes' = 0"),
    ("episodes.max_test_domains", 0, "'episodes.max_test_domains' = 0"),
    ("episodes.support", 5, "'episodes.support' is not a known field"),
    ("network.widths", [4, 4, 8], "'network.widths' = [4, 4, 8]: must be a list of 4 positive integers"),
    ("network.widths", [4, 0, 8, 8], "'network.widths' = [4, 0, 8, 8]"),
    ("network.decoder_width", True, "'network.decoder_width' = true: must be an integer"),
    ("training.meta_batch_size", 0, "'training.meta_batch_size' = 0"),
    ("training.inner_steps", -2, "'training.inner_steps' = -2"),
    ("training.inner_lr", -1, "'training.inner_lr' = -1: must be a positive number"),
    ("training.outer_lr", 0, "'training.outer_lr' = 0: must be a positive number"),
    ("training.test_inner_steps", -1, "'training.test_inner_steps' = -1: must be an integer >= 0"),
    ("training.pretrain_steps", 3, "'training.pretrain_steps' = 3: must be below training.budget_steps (3)"),
    ("training.budget_steps", ..., "'training.budget_steps' = None: set budget_steps or budget_seconds"),
    ("training.budget_seconds", -5, "'training.budget_seconds' = -5: must be a positive number"),
    ("training.epochs", 5, "'training.epochs' is not a known field"),
    ("speed.methods", ["afr", "maml"], "'speed.methods' = [\"afr\", \"maml\"]: 'maml' is not allowed"),
    ("speed.methods", ["afr"], "'speed.methods' = [\"afr\"]: must name at least two"),
    ("speed.pairs", 0, "'speed.pairs' = 0"),
    ("speed.blocks", 0, "'speed.blocks' = 0"),
    ("speed.warmup", -1, "'speed.warmup' = -1: must be an integer >= 0"),
    ("speed.threads", 0, "'speed.threads' = 0"),
    ("comparisons.reference", "maml", "'comparisons.reference' = \"maml\": must be one of the spec's methods"),
    ("comparisons.baselines", ["afr"], "'comparisons.baselines' = [\"afr\"]: 'afr' is not allowed"),
    ("comparisons.alpha", 1.5, "'comparisons.alpha' = 1.5: must be a number strictly between 0 and 1"),
    ("comparisons.speed_claim", 0, "'comparisons.speed_claim' = 0: must be a positive number"),
    ("comparisons.speed_claim_phases", ["train"], "'train' is not allowed; choose from meta_train_step"),
    ("comparisons.margins", {"abs_rel": -0.1}, "'comparisons.margins'"),
    ("tuning", {"trials": 2}, "spec field 'tuning': [tuning] searches nothing"),
    ("runtime.device", "tpu", "'runtime.device' = \"tpu\": must be cpu, cuda, cuda:N or auto"),
    ("runtime.executor", "slurm", "'runtime.executor' = \"slurm\": must be one of inline, process, ray"),
    ("runtime.threads", 0, "'runtime.threads' = 0"),
    ("runtime.workers", -1, "'runtime.workers' = -1"),
    ("runtime.address", "auto", "'runtime.address' = \"auto\": is only used with executor = \"ray\""),
    ("runtime.plugins", "bench_plugin", "'runtime.plugins' = \"bench_plugin\": must be a list of names"),
    ("result_dir", "x", "'result_dir' is not a known field"),
]


@pytest.mark.parametrize(("path", "value", "message"), RULES, ids=[f"{p}={v!r}" for p, v, _ in RULES])
def test_each_invalid_field_is_one_line_naming_it(path: str, value: Any, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(mutate(path, value))
    text = str(info.value)
    assert message in text
    assert "\n" not in text and info.value.exit_code == 2


def test_file_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x\n")
    with pytest.raises(SpecError, match=r"bad.toml is not valid TOML"):
        load_spec(bad)
    with pytest.raises(SpecError, match=r"spec file .*missing.toml does not exist"):
        load_spec(tmp_path / "missing.toml")
    with pytest.raises(SpecError, match=r"unknown spec 'smok'. Give a shipped spec \(smoke, standard, ablations, paper, scaling, "
                                         r"taskonomy, diode, nyuv2, scannet_vp\)"):
        load_spec("smok")


@pytest.mark.parametrize(("path", "value", "message"), [
    ("methods", ["afr", "fomaml", "mamml"], "unknown method 'mamml'. Did you mean 'maml'?"),
    ("suite.name", "synthroom", "unknown suite 'synthroom'. Did you mean 'synthrooms'?"),
    ("runtime.plugins", ["no_such_plugin_module"], "module 'no_such_plugin_module' cannot be imported"),
    ("comparisons.margins", {"accuracyy": 0.01}, "'accuracyy' is not a registered metric"),
])
def test_names_are_checked_against_the_registries(path: str, value: Any, message: str) -> None:
    spec = parse_spec(mutate(path, value))
    with pytest.raises(UserError) as info:
        check_names(spec)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_spec_is_a_dataclass_all_the_way_down() -> None:
    spec = load_spec(MICRO)
    assert isinstance(spec, Spec)
    for part in (spec.suite, spec.episodes, spec.network, spec.training, spec.speed, spec.comparisons, spec.runtime,
                 *spec.methods):
        assert dataclasses.is_dataclass(part) and type(part).__dataclass_params__.frozen  # type: ignore[union-attr]
