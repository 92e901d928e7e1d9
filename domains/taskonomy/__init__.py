"""Taskonomy as a benchmark suite (registered as ``taskonomy`` by ``domains.taskonomy.suite``)."""

from __future__ import annotations

from domains.taskonomy.suite import TaskonomySuite

__all__ = ["TaskonomySuite"]
