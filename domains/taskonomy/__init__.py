"""Taskonomy as a benchmark suite (registered as ``taskonomy``); see ``domains.taskonomy.suite``."""

from __future__ import annotations

from domains.suite import SUITES
from domains.taskonomy.suite import TaskonomySuite, make_taskonomy

if "taskonomy" not in SUITES:
    SUITES.add("taskonomy", make_taskonomy, "Taskonomy buildings as domains (layouts A/B/C, official splits)")

__all__ = ["TaskonomySuite", "make_taskonomy"]
