"""pip install, with learn2learn 0.2.0 served from a locally built wheel.

Why: learn2learn 0.2.0 is on PyPI only as an sdist whose pre-generated C does
not compile on Python 3.11 (it includes ``longintrepr.h``). Regenerating the C
from the same sdist's ``.pyx`` files with Cython 3 fixes that. tox calls this
script as its ``install_command``, so every environment gets the cached wheel
and a fresh clone needs no manual step.

The wheel is cached in ``$MTML_WHEEL_CACHE`` (default ``~/.cache/mtml-bench/wheels``)
and rebuilt only when missing.
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
CACHE = Path(os.environ.get("MTML_WHEEL_CACHE", Path.home() / ".cache" / "mtml-bench" / "wheels"))
RETRY_HINT = (
    "Retry with: python tools/pip_install.py --build-learn2learn-only "
    f"(cache: {CACHE}; delete it to force a rebuild)."
)


def cached_wheel() -> Path | None:
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    found = sorted(CACHE.glob(f"learn2learn-{L2L_VERSION}-{tag}-*.whl"))
    return found[0] if found else None


def _run(step: str, cmd: list[str], **kwargs) -> None:
    print(f"[learn2learn wheel] {step}", file=sys.stderr, flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
        sys.exit(f"error: building the learn2learn {L2L_VERSION} wheel failed at step '{step}'.\n"
                 f"command: {' '.join(cmd)}\n{tail}\n{RETRY_HINT}")


def build_wheel() -> Path:
    """Download the sdist, regenerate its C with Cython 3, build a wheel into the cache."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="l2l-build-") as tmp:
        work = Path(tmp)
        py = sys.executable
        _run("download the sdist from PyPI",
             [py, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
              f"learn2learn=={L2L_VERSION}", "-d", str(work)])
        sdist = next(work.glob("learn2learn-*.tar.gz"))
        with tarfile.open(sdist) as archive:
            archive.extractall(work, filter="data")
        src = work / f"learn2learn-{L2L_VERSION}"
        shutil.rmtree(src / ".eggs", ignore_errors=True)
        tools_env = work / "cython-env"
        _run("create a build environment", [py, "-m", "venv", str(tools_env)])
        tool_py = str(tools_env / "bin" / "python")
        _run("install Cython 3", [tool_py, "-m", "pip", "install", "-q", "cython>=3,<4"])
        for name in PYX_MODULES:
            pyx = src / "learn2learn" / "data" / f"{name}.pyx"
            _run(f"cythonize {pyx.name}",
                 [tool_py, "-m", "cython", "-3", str(pyx), "-o", str(pyx.with_suffix(".c"))])
        _run("compile the wheel",
             [py, "-m", "pip", "wheel", "--no-deps", "-w", str(CACHE), str(src)])
    wheel = cached_wheel()
    if wheel is None:
        sys.exit(f"error: pip reported success but no learn2learn wheel is in {CACHE}. {RETRY_HINT}")
    print(f"[learn2learn wheel] ready: {wheel}", file=sys.stderr)
    return wheel


def main(argv: list[str]) -> int:
    if cached_wheel() is None:
        build_wheel()
    if argv == ["--build-learn2learn-only"]:
        return 0
    cmd = [sys.executable, "-m", "pip", "install", "--find-links", str(CACHE), *argv]
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
