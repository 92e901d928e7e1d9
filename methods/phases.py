"""The names of the timed phases: written once, read by methods, the harness, the reports and tools.

Torch-free, so that ``bench.spec`` (which validates ``speed_claim_phases``) and the
reports can import it without importing a method.
"""

from __future__ import annotations

# The phases a method is timed in and compared on (speed section, FLOPs, regression gate).
SPEED_PHASES: tuple[str, ...] = ("meta_train_step", "adapt", "infer")
# Every phase a clock records: data preparation is timed but kept apart from the method's own work.
PHASES: tuple[str, ...] = (*SPEED_PHASES, "data")
