"""``mtml-bench run SPEC --set section.key=value`` and ``--root DIR``: any spec field from the command line.

An override is applied to the spec's TOML-shaped dict (``Spec.to_dict``) and the
result goes through ``parse_spec`` again, so a value given on the command line is
validated exactly like the same value in the file, and a bad one is the same
one-line error prefixed with the ``--set`` that caused it. The value is read as a
TOML value (``3``, ``0.1``, ``true``, ``[8, 16, 16, 32]``, ``"text"``); anything
that is not valid TOML is taken as a plain string, so ``--set suite.root=/data``
needs no quotes.

Suite options are free-form in the file (each suite takes its own keywords), so
for ``suite.*`` the key is checked here against the suite factory's keyword
parameters, which names the allowed keys before any data is touched.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any

from bench.errors import SpecError
from bench.spec import Spec, parse_spec, tomllib

# top-level sections of a spec and the fields a bare key (no dot) may name
SECTIONS = ("suite", "episodes", "network", "training", "methods", "speed", "comparisons", "tuning", "runtime")
TOP_FIELDS = ("name", "description", "seeds", "tasks")


def parse_value(text: str) -> Any:
    """A TOML value, or the text itself when it is not one (paths, bare names)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def split_assignment(item: str) -> tuple[list[str], Any]:
    """``'training.inner_lr=0.05'`` -> (['training', 'inner_lr'], 0.05); one-line error when malformed."""
    key, sep, value = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(p.strip() for p in parts):
        raise SpecError(f"--set {item!r}: expected section.key=value (e.g. --set training.budget_steps=50); "
                        f"sections: {', '.join(SECTIONS)}; top-level fields: {', '.join(TOP_FIELDS)}")
    parts = [p.strip() for p in parts]
    if len(parts) > 1 and parts[0] in TOP_FIELDS:
        raise SpecError(f"--set {item!r}: spec field '{parts[0]}' is a value, not a table; use --set {parts[0]}=VALUE")
    if len(parts) == 1 and parts[0] not in TOP_FIELDS:
        raise SpecError(f"--set {item!r}: '{parts[0]}' is not a top-level field; use one of "
                        f"{', '.join(TOP_FIELDS)}, or section.key with a section of {', '.join(SECTIONS)}")
    if len(parts) > 1 and parts[0] not in SECTIONS:
        raise SpecError(f"--set {item!r}: unknown section '{parts[0]}'; sections: {', '.join(SECTIONS)}")
    return parts, parse_value(value.strip())


def _assign(data: dict[str, Any], path: Sequence[str], value: Any, item: str) -> None:
    node = data
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(path[: i + 1])
            raise SpecError(f"--set {item!r}: spec field '{where}' is a value, not a table; "
                            f"use --set {where}=VALUE")
        node = child
    node[path[-1]] = value


def suite_option_names(suite: str) -> tuple[str, ...] | None:
    """Keyword options a registered suite's factory names (None: it takes ``**options``, which the suite
    itself then checks when it is built, or the suite is unknown)."""
    from domains.catalog import SUITES
    from domains.registry import UnknownNameError

    try:
        factory = SUITES.get(suite)
    except UnknownNameError:
        return None
    params = list(inspect.signature(factory).parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params if p.kind in (inspect.Parameter.KEYWORD_ONLY,
                                                      inspect.Parameter.POSITIONAL_OR_KEYWORD))


def _check_suite_key(data: dict[str, Any], path: Sequence[str], item: str) -> None:
    if path[0] != "suite" or len(path) != 2 or path[1] == "name":
        return
    suite = (data.get("suite") or {}).get("name")
    allowed = suite_option_names(str(suite)) if suite else None
    if allowed is None or path[1] in allowed:
        return
    raise SpecError(f"--set {item!r}: suite '{suite}' has no option '{path[1]}'; its options: "
                    f"{', '.join(allowed)}")


def apply_overrides(spec: Spec, assignments: Sequence[str] = (), root: str | None = None) -> Spec:
    """The spec with every ``--set`` (in order) and then ``--root`` applied, validated like the file."""
    if not assignments and root is None:
        return spec
    data = copy.deepcopy(spec.to_dict())
    applied: list[tuple[str, str]] = []  # (how the user wrote it, the dotted key)
    for item in assignments:
        path, value = split_assignment(item)
        _check_suite_key(data, path, item)
        _assign(data, path, value, item)
        applied.append((f"--set {item}", ".".join(path)))
    if root is not None:
        suite = data["suite"].get("name")
        allowed = suite_option_names(str(suite))
        if allowed is not None and "root" not in allowed:
            raise SpecError(f"--root {root}: suite '{suite}' reads no data folder (it has no 'root' option); "
                            "drop --root")
        data["suite"]["root"] = root
        applied.append((f"--root {root}", "suite.root"))
    try:
        return parse_spec(data, source=spec.source)
    except SpecError as err:
        raise SpecError(f"{_culprit(applied, str(err))}: {err}") from None


def _culprit(applied: Sequence[tuple[str, str]], message: str) -> str:
    """The override a validation error is about (the one whose field it names), else all of them."""
    for shown, key in applied:
        if f"'{key}'" in message or f"'{key}." in message:
            return shown
    return "; ".join(shown for shown, _ in applied)
