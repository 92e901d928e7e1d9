"""The on-disk cache of rendered environments: keyed, checksummed, rebuilt when stale or corrupt.

One ``.npz`` per (environment, kind) plus a JSON sidecar holding the exact
generation parameters and the file's sha256. The file name carries a hash of
the parameters (including ``GENERATOR_VERSION``), so changed parameters never
find an old file; the sidecar is checked field by field and the checksum is
recomputed at every load, so a truncated, edited or half-written file is
detected and regenerated instead of being used.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from domains.cache_root import cache_root
from domains.synthrooms import GENERATOR_VERSION


def default_cache_dir() -> Path:
    """``synthrooms/`` below the cache root (``$MTML_CACHE``, see ``domains.cache_root``)."""
    return cache_root() / "synthrooms"


def params_key(params: dict[str, Any]) -> str:
    canonical = json.dumps({"generator_version": GENERATOR_VERSION, **params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class CacheEntry:
    """One (environment, kind) file set under a cache directory."""

    def __init__(self, cache_dir: Path, name: str, params: dict[str, Any]):
        self.params = {"generator_version": GENERATOR_VERSION, **params}
        key = params_key(params)
        folder = Path(cache_dir) / f"v{GENERATOR_VERSION}"
        self.data_path = folder / f"{name}-{key[:16]}.npz"
        self.meta_path = folder / f"{name}-{key[:16]}.json"

    def problem(self) -> str | None:
        """Why the cached file cannot be used ('missing', or what is wrong), or None if it is valid."""
        if not self.data_path.exists() or not self.meta_path.exists():
            return "missing"
        try:
            meta = json.loads(self.meta_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            return f"unreadable sidecar ({err})"
        if meta.get("params") != json.loads(json.dumps(self.params)):
            return "stale (written with other parameters)"
        if meta.get("sha256") != _sha256(self.data_path):
            return "corrupt (checksum mismatch)"
        return None

    def load(self) -> dict[str, np.ndarray] | None:
        """The arrays if the entry is valid; None (after saying why on stderr) if it must be rebuilt."""
        why = self.problem()
        if why is not None:
            if why != "missing":
                print(f"synthrooms cache: {self.data_path.name} is {why}; rebuilding it", file=sys.stderr)
            return None
        try:
            with np.load(self.data_path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as err:  # checksum matched but numpy cannot parse: also rebuild
            print(f"synthrooms cache: {self.data_path.name} cannot be read ({err}); rebuilding it", file=sys.stderr)
            return None

    def save(self, arrays: dict[str, np.ndarray]) -> None:
        """Atomic write: data first, then the sidecar that makes it valid."""
        self.data_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.data_path.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, **arrays)
        digest = _sha256(tmp)
        os.replace(tmp, self.data_path)
        meta_tmp = self.meta_path.with_suffix(f".tmp{os.getpid()}")
        meta_tmp.write_text(json.dumps({"params": self.params, "sha256": digest}, indent=1, sort_keys=True))
        os.replace(meta_tmp, self.meta_path)
