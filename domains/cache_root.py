"""The one cache variable: ``MTML_CACHE``.

Everything mtml-bench caches lives below one folder: rendered SynthRooms
environments in ``synthrooms/``, decoded real-data tensors in ``realdata/``,
partial downloads nowhere (they stay beside their target, to be resumed).
``$MTML_CACHE`` moves the whole tree (e.g. to a fast scratch disk on a
cluster node); unset, it is ``$XDG_CACHE_HOME/mtml-bench`` or
``~/.cache/mtml-bench``. A suite's ``cache_dir`` option overrides it for that suite.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV_VAR = "MTML_CACHE"


def cache_root() -> Path:
    """``$MTML_CACHE``, else ``$XDG_CACHE_HOME/mtml-bench``, else ``~/.cache/mtml-bench``."""
    root = os.environ.get(CACHE_ENV_VAR)
    if root:
        return Path(root).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mtml-bench"
