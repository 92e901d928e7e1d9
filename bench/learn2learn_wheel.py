"""Build and install learn2learn 0.2.0, the library behind the ``maml``/``fomaml``/``anil``/``metasgd`` baselines.

Why this exists: learn2learn 0.2.0 is on PyPI only as an sdist, and the C files
generated inside that sdist include ``longintrepr.h``, which Python 3.11 removed,
so ``pip install learn2learn==0.2.0`` fails on Python 3.11 and later.
Regenerating the C from the same sdist's ``.pyx`` files with Cython 3 fixes it.
This module does that, caches the wheel, and installs it with pip into the
running interpreter's environment. It ships inside the package, so an installed
``mtml-bench`` can repair itself (``mtml-bench install-learn2learn``), and
``tools/pip_install.py`` uses the same code when tox builds the benchmark venv.

Standard library only: ``tools/pip_install.py`` imports this file into a venv
that has nothing else installed yet.

The wheel cache is ``$MTML_CACHE/wheels`` (default ``~/.cache/mtml-bench/wheels``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

L2L_VERSION = "0.2.0"
PYX_MODULES = ("meta_dataset", "task_dataset", "transforms")
INSTALL_COMMAND = "mtml-bench install-learn2learn"
# What the extra ``mtml-bench[learn2learn]`` holds (pyproject.toml lists the same; a test compares them).
EXTRA_REQUIREMENTS = (f"learn2learn=={L2L_VERSION}", "gym>=0.26,<0.27", "torchvision>=0.16")


class BuildError(RuntimeError):
    """One step of the build failed; the message names the step, the command and pip's last lines."""


def cache_dir() -> Path:
    """``$MTML_CACHE/wheels`` if set, else ``~/.cache/mtml-bench/wheels``."""
    root = os.environ.get("MTML_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "mtml-bench") / "wheels"


def cached_wheel(cache: Path | None = None) -> Path | None:
    """The cached learn2learn wheel for this interpreter's CPython version, if one was built."""
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    found = sorted((cache or cache_dir()).glob(f"learn2learn-{L2L_VERSION}-{tag}-*.whl"))
    return found[0] if found else None


def _run(step: str, cmd: list[str], quiet: bool) -> None:
    if not quiet:
        print(f"[learn2learn] {step}", file=sys.stderr, flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
        raise BuildError(f"building the learn2learn {L2L_VERSION} wheel failed at step '{step}'.\n"
                         f"command: {' '.join(cmd)}\n{tail}")


def build_wheel(cache: Path | None = None, quiet: bool = False) -> Path:
    """Download the sdist, regenerate its C with Cython 3 (in a throw-away venv), build a wheel into the cache."""
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="l2l-build-") as tmp:
        work = Path(tmp)
        # --no-binary for learn2learn alone: its build requirements (Cython, numpy) may come as wheels,
        # instead of being compiled from source just to read the sdist's metadata
        _run("download the sdist", [py, "-m", "pip", "download", "--no-deps", "--no-binary", "learn2learn",
                                    f"learn2learn=={L2L_VERSION}", "-d", str(work)], quiet)
        sdist = next(work.glob("learn2learn-*.tar.gz"))
        with tarfile.open(sdist) as archive:
            archive.extractall(work, filter="data")
        src = work / f"learn2learn-{L2L_VERSION}"
        shutil.rmtree(src / ".eggs", ignore_errors=True)
        tools_env = work / "cython-env"
        _run("create a build environment", [py, "-m", "venv", str(tools_env)], quiet)
        tool_py = str(tools_env / "bin" / "python")
        _run("install Cython 3", [tool_py, "-m", "pip", "install", "-q", "cython>=3,<4"], quiet)
        for name in PYX_MODULES:
            pyx = src / "learn2learn" / "data" / f"{name}.pyx"
            _run(f"cythonize {pyx.name}", [tool_py, "-m", "cython", "-3", str(pyx), "-o", str(pyx.with_suffix(".c"))],
                 quiet)
        _run("compile the wheel", [py, "-m", "pip", "wheel", "--no-deps", "-w", str(cache), str(src)], quiet)
    wheel = cached_wheel(cache)
    if wheel is None:
        raise BuildError(f"pip reported success but no learn2learn wheel is in {cache}")
    return wheel


def ensure_wheel(quiet: bool = False) -> Path:
    """The cached wheel, built first when missing."""
    return cached_wheel() or build_wheel(quiet=quiet)


def pip_install_command(requirements: list[str], extra_pip_args: list[str] | None = None) -> list[str]:
    """``pip install`` into this interpreter, with the wheel cache as a find-links source."""
    return [sys.executable, "-m", "pip", "install", "--find-links", str(cache_dir()),
            *(extra_pip_args or []), *requirements]
