"""Fixtures shared by several test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread for the test: xdist already runs one test per core, and restores the count after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    """One table of what the regression gates decided in this session (smoke gates and planted mutants)."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller prints
        return
    import gate_verdicts

    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return
    rows = gate_verdicts.read_all(factory.getbasetemp())
    if not rows:
        return
    terminalreporter.write_sep("=", "regression gate verdicts")
    for line in gate_verdicts.table(rows):
        terminalreporter.write_line(line)
