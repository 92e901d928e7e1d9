"""Registries: names map to entries, unknown names are one-line errors with a suggestion, and the
populated registries hold what the benchmark needs (what `mtml-bench list` prints)."""

from __future__ import annotations

import pytest

from domains.registry import Registry, UnknownNameError


def test_register_get_and_describe() -> None:
    reg: Registry[int] = Registry("widget")

    @reg.register("alpha", "the first")
    def alpha() -> int:
        """Docstring is not used when a description is given."""
        return 1

    reg.add("beta", 2)
    assert reg.get("alpha") is alpha and reg["beta"] == 2
    assert reg.names() == ["alpha", "beta"] and len(reg) == 2 and "alpha" in reg and "gamma" not in reg
    assert reg.describe("alpha") == "the first"
    assert list(reg) == ["alpha", "beta"] and reg.items()[1] == ("beta", 2)


def test_description_falls_back_to_the_first_docstring_line() -> None:
    reg: Registry[type] = Registry("thing")

    class Documented:
        """First line.

        More text."""

    reg.add("doc", Documented)
    assert reg.describe("doc") == "First line."


def test_unknown_name_suggests_the_closest_and_lists_all() -> None:
    reg: Registry[int] = Registry("method")
    reg.add("maml", 1)
    reg.add("fomaml", 2)
    with pytest.raises(UnknownNameError) as info:
        reg.get("mamll")
    message = str(info.value)
    assert message == "unknown method 'mamll'. Did you mean 'maml'? Known methods: maml, fomaml."
    assert isinstance(info.value, KeyError)
    with pytest.raises(UnknownNameError, match="Known methods: maml, fomaml.$"):
        reg.get("zzzzzz")  # nothing close: no suggestion
    with pytest.raises(UnknownNameError):
        reg.describe("nope")


def test_a_name_cannot_be_registered_twice() -> None:
    reg: Registry[int] = Registry("suite")
    reg.add("x", 1)
    with pytest.raises(ValueError, match="suite 'x' is registered twice"):
        reg.add("x", 2)
    assert reg.get("x") == 1


def test_populated_registries_hold_the_benchmark() -> None:
    from domains.catalog import SUITES
    from domains.metrics import METRICS
    from domains.tasks import TASK_NAMES, TASKS
    from methods.base import Method
    from methods.registry import METHODS

    expected = {"afr", "afr-noattn", "afr-adapt-all", "afr-static", "maml", "fomaml", "anil", "metasgd",
                "maml-higher", "multitask"}
    assert expected <= set(METHODS.names())
    assert all(issubclass(METHODS.get(n), Method) for n in METHODS.names())
    assert "synthrooms" in SUITES and all(callable(SUITES.get(n)) for n in SUITES.names())
    assert TASK_NAMES == ("classification", "depth", "normals", "vanishing_point")
    for task in TASK_NAMES:  # every task's primary metric is registered, for that task, and flagged
        metric = METRICS.get(TASKS.get(task).primary_metric)
        assert metric.task == task and metric.primary and metric.direction in ("higher", "lower")


def test_list_prints_a_table_per_registry(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import main
    from domains.catalog import SUITES
    from domains.metrics import METRICS
    from methods.registry import METHODS

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    sections = out.split("\n\n")
    titles = [s.splitlines()[0] for s in sections]
    assert titles == [f"methods ({len(METHODS)})", f"suites ({len(SUITES)})", "tasks (4)", f"metrics ({len(METRICS)})"]
    for section, names in zip(sections, (METHODS.names(), SUITES.names(), ["depth", "normals"], METRICS.names())):
        rows = {line.split()[0] for line in section.splitlines()[3:]}
        assert set(names) <= rows
    assert "abs_rel" in sections[2] and "lower" in sections[3]
