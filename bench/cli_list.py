"""``mtml-bench list``: what is registered, one table each (methods, suites, tasks, metrics)."""

from __future__ import annotations

from collections.abc import Sequence


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain fixed-width table (the last column is left unpadded)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    body = [line.format(*header).rstrip(), line.format(*("-" * w for w in widths)).rstrip()]
    body += [line.format(*r).rstrip() for r in rows] or ["(none registered)"]
    return f"{title} ({len(rows)})\n" + "\n".join(body)


def print_lists() -> int:
    from domains.catalog import SUITES
    from domains.metrics import METRICS
    from domains.tasks import TASKS
    from methods.registry import METHODS

    sections = [
        table("methods", ("name", "description"), [(n, METHODS.describe(n)) for n in METHODS.names()]),
        table("suites", ("name", "description"), [(n, SUITES.describe(n)) for n in SUITES.names()]),
        table("tasks", ("name", "adaptation", "primary metric", "description"),
              [(n, str(t.adaptation), t.primary_metric, t.description) for n, t in TASKS.items()]),
        table("metrics", ("name", "task", "better", "unit", "primary", "description"),
              [(n, m.task, m.direction, m.unit or "-", "yes" if m.primary else "", m.description)
               for n, m in METRICS.items()]),
    ]
    print("\n\n".join(sections))
    return 0
