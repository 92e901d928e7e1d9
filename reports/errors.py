"""Errors that end a report or a regression check with a defined exit code.

The exit codes (documented in docs/running.md#read-the-report) are shared by ``report`` and
``regress`` so that a CI script can tell a broken design (3) from a crash (4).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REGRESSED = 1
EXIT_INCONCLUSIVE = 2
EXIT_USER = 2  # CLI contract: a user error (bad path, bad flag) exits 2 with one line
EXIT_INCOMPATIBLE = 3
EXIT_HARNESS = 4


class ReportError(Exception):
    """A problem the user can fix; ``str()`` is one line: what is wrong, then how to fix it."""

    exit_code = EXIT_USER


class DesignError(ReportError):
    """The run is not a balanced design (missing cells): statistics would silently drop pairs."""

    exit_code = EXIT_INCOMPATIBLE

    def __init__(self, message: str, missing: list[dict[str, object]] | None = None):
        super().__init__(message)
        self.missing = missing or []


class IncompatibleBaselineError(ReportError):
    """The stored baseline measures something else (schema, config hash or cells differ)."""

    exit_code = EXIT_INCOMPATIBLE


class HarnessError(ReportError):
    """The run itself is broken (NaN metrics, failed cells, unreadable store)."""

    exit_code = EXIT_HARNESS
