"""A per-(suite, task, domain) cache of decoded, resized tensors, shared by every real-data loader.

Decoding hundreds of 512x512 PNGs per building would dominate a benchmark run,
and every cell of a run loads the same domains. The cache stores one file per
(suite, task, domain) and keys it by the loader's parameters (image size,
options, format version) plus the size and modification time of every source
file, so editing, adding or deleting a single sample rebuilds that domain and
nothing else. Writes are atomic (temp file + rename) so parallel workers never
read half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from domains.cache_root import cache_root
from domains.suite import DataError, DataWarning, DomainData

CACHE_FORMAT = 1
_OFF = {"off", "none", "false", "no", ""}


def default_cache_dir() -> Path:
    """``realdata/`` below the cache root (``$MTML_CACHE``, see ``domains.cache_root``)."""
    return cache_root() / "realdata"


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | bool | None) -> Path | None:
    """None -> the default location; ``"off"``/False -> no caching; anything else is a folder."""
    if cache_dir is None or cache_dir is True:
        return default_cache_dir()
    if cache_dir is False or (isinstance(cache_dir, str) and cache_dir.strip().lower() in _OFF):
        return None
    return Path(cache_dir).expanduser()


def fingerprint(files: Iterable[Path], params: dict[str, Any], root: Path) -> str:
    """sha256 of the parameters and of (relative path, size, mtime_ns) of every source file."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for path in sorted(files):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise DataError(f"{path}: file vanished while indexing; check that nothing is extracting into "
                            f"the dataset folder and retry") from None
        try:
            rel = str(Path(path).relative_to(root))
        except ValueError:
            rel = str(path)
        digest.update(f"\x1f{rel}\x1e{st.st_size}\x1e{st.st_mtime_ns}".encode())
    return digest.hexdigest()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"


class DomainCache:
    """Load-or-build of one DomainData per (task, domain); ``folder=None`` disables caching."""

    def __init__(self, folder: Path | None, suite: str):
        self.folder = None if folder is None else Path(folder) / _safe(suite)
        self.hits = 0
        self.misses = 0

    def path(self, task: str, domain: str, variant: str = "") -> Path | None:
        """One file per (task, domain, variant); a variant (image size, options) never evicts another."""
        if self.folder is None:
            return None
        tag = hashlib.sha1(f"{domain}\x1f{variant}".encode()).hexdigest()[:12]
        return self.folder / _safe(task) / f"{_safe(domain)}-{tag}.pt"

    def load_or_build(self, task: str, domain: str, key: str, build: Callable[[], DomainData],
                      variant: str = "") -> DomainData:
        """Return the cached DomainData when ``key`` matches, else build, store and return it.

        ``key`` covers the source files' sizes and mtimes, so a changed file
        rebuilds the entry in place; ``variant`` names the loader options.
        """
        path = self.path(task, domain, variant)
        if path is not None and path.exists():
            cached = self._read(path, key)
            if cached is not None:
                self.hits += 1
                return DomainData(task, domain, cached["images"].float() / 255.0, cached["targets"],
                                  cached["mask"], list(cached["skipped"]))
        self.misses += 1
        data = build()
        if path is not None:
            self._write(path, key, data)
        return data

    @staticmethod
    def _read(path: Path, key: str) -> dict[str, Any] | None:
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a damaged cache file is rebuilt, never fatal
            warnings.warn(f"ignoring unreadable cache file {path} ({err}); rebuilding it", DataWarning, stacklevel=3)
            return None
        if payload.get("format") != CACHE_FORMAT or payload.get("key") != key:
            return None
        return payload

    @staticmethod
    def _write(path: Path, key: str, data: DomainData) -> None:
        images = (data.images * 255).round().clamp(0, 255).to(torch.uint8)
        payload = {"format": CACHE_FORMAT, "key": key, "images": images, "targets": data.targets,
                   "mask": data.mask, "skipped": list(data.skipped)}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(payload, handle)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
