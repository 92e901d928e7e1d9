"""Statistics as records: a result type declares each of its outputs once, on its own field.

``Effect`` and ``SpeedRatio`` mark their fields with ``stat(key, label, show)``:
``key`` names the value in ``summary.json`` and in the table's CSV, ``label``
(when given) is the column header of the displayed table (Markdown, LaTeX and
the HTML report), ``show`` formats the cell from the whole record (a cell may
combine fields, e.g. an effect with its CI). Values derived from fields are
declared the same way on properties (``stat_property``). The writers below
turn any list of records into the summary's entries, the CSV rows and the
displayed rows, so adding a statistic is one declared field plus its
computation, and no two outputs can name it differently.

Naming rules, applied to every record alike: a ``(low, high)`` tuple is one
``key`` list in JSON and ``key_lo`` / ``key_hi`` columns in CSV; arrays are
JSON lists and left out of CSV; ``{adj}`` in a key or label is the record's
multiplicity adjustment (``Holm`` for the confirmatory family, ``BH`` for
exploratory ones), lower-cased in keys (``p_holm``, ``p_bh``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

STAT = "mtml-stat"


def fmt(x: float | None, digits: int = 4) -> str:
    """A number with ``digits`` significant digits, no exponent for ordinary magnitudes."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    x = float(x)
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    if mag >= 6 or mag <= -5:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{max(digits - 1 - mag, 0)}f}"


def fmt_p(p: float) -> str:
    if p is None or math.isnan(p):
        return "–"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


@dataclass(frozen=True)
class Stat:
    """How one value of a record appears in the outputs."""

    key: str | None  # summary.json key and CSV column; None: displayed only (a combined cell)
    label: str | None = None  # displayed column header; None: machine-readable outputs only
    show: Callable[[Any], str] | None = None  # displayed cell from the whole record (default: str of the value)
    value: Callable[[Any], Any] | None = None  # machine-readable value from the raw one (default: as is)


def stat(key: str | None, label: str | None = None, show: Callable[[Any], str] | None = None,
         value: Callable[[Any], Any] | None = None, **field_args: Any) -> Any:
    """A dataclass field that is also an output column (``field_args`` go to ``dataclasses.field``)."""
    return dataclasses.field(metadata={STAT: Stat(key, label, show, value)}, **field_args)


class StatProperty(property):
    """A property that is also an output column (made by ``stat_property``)."""

    def __init__(self, fget: Callable[[Any], Any], declared: Stat):
        super().__init__(fget, doc=fget.__doc__)
        self.stat = declared


def stat_property(key: str | None, label: str | None = None,
                  show: Callable[[Any], str] | None = None) -> Callable[[Callable[[Any], Any]], StatProperty]:
    """Decorator: a derived value that is an output column, e.g. ``@stat_property("p_crossed_t")``."""
    return lambda fget: StatProperty(fget, Stat(key, label, show))


def columns(record: Any) -> list[tuple[str, Stat]]:
    """(attribute, declaration) of every output of a record type: fields in order, then properties."""
    kind = record if isinstance(record, type) else type(record)
    out = [(f.name, f.metadata[STAT]) for f in dataclasses.fields(kind) if STAT in f.metadata]
    seen = {name for name, _ in out}
    for klass in reversed(kind.__mro__):
        for name, attr in vars(klass).items():
            if isinstance(attr, StatProperty) and name not in seen:
                out.append((name, attr.stat))
                seen.add(name)
    return out


def adjustment(record: Any) -> str:
    """The record's multiplicity adjustment: Holm for the confirmatory family, BH for exploratory ones."""
    return "BH" if getattr(record, "family", "confirmatory") == "exploratory" else "Holm"


def _name(template: str, record: Any, lower: bool) -> str:
    adj = adjustment(record)
    return template.replace("{adj}", adj.lower() if lower else adj)


def _value(record: Any, attr: str, s: Stat) -> Any:
    raw = getattr(record, attr)
    return s.value(raw) if s.value is not None else raw


def json_entry(record: Any) -> dict[str, Any]:
    """One ``summary.json`` entry: every declared key, tuples and arrays as lists."""
    out: dict[str, Any] = {}
    for attr, s in columns(record):
        if s.key is None:
            continue
        v = _value(record, attr, s)
        out[_name(s.key, record, lower=True)] = list(v) if isinstance(v, tuple | np.ndarray) else v
    return out


def csv_row(record: Any) -> dict[str, Any]:
    """One CSV row: every declared scalar key, a ``(low, high)`` pair as ``key_lo`` / ``key_hi``."""
    out: dict[str, Any] = {}
    for attr, s in columns(record):
        if s.key is None:
            continue
        key, v = _name(s.key, record, lower=True), _value(record, attr, s)
        if isinstance(v, tuple) and len(v) == 2:
            out[f"{key}_lo"], out[f"{key}_hi"] = v
        elif not isinstance(v, np.ndarray | list | dict):
            out[key] = v
    return out


def display_row(record: Any) -> dict[str, str]:
    """One displayed row: every labelled column, formatted from the whole record."""
    return {_name(s.label, record, lower=False): (s.show(record) if s.show is not None else str(getattr(record, attr)))
            for attr, s in columns(record) if s.label is not None}


def json_entries(records: Sequence[Any]) -> list[dict[str, Any]]:
    return [json_entry(r) for r in records]
