"""Seeds derived from names: the one place a seed is made from (split hash, task, domain, index, ...).

Torch-free, so that spec validation (``bench/tuning_space.py``) can draw the same
tuning candidates as the search without importing torch.
"""

from __future__ import annotations

import hashlib


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any printable parts; stable across processes and Python versions."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1
