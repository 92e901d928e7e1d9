"""One shared virtual environment for every tox environment.

Why: torch alone is ~5.5 GB. tox 4 recreates an environment whenever another
environment's name is found in its folder, so sharing ``env_dir`` between
``tests``, ``bench`` and ``smoke`` reinstalls everything on every switch. Instead
each tox environment is a tiny runner, and this script keeps ONE venv
(``.tox/mtml-venv`` or ``$MTML_VENV``) up to date: it is rebuilt only when
``pyproject.toml``, the constraints file, the installer or the Python version change (a stamp file
records their hash), under a file lock so parallel tox runs do not race.

Usage: ``python tools/venv.py run -- COMMAND [ARGS...]`` or ``python tools/venv.py sync``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("MTML_VENV", ROOT / ".tox" / "mtml-venv"))
STAMP = VENV / ".mtml-stamp"
EXTRAS = "test,ray,learn2learn,tensorboard"
# Exact versions of every package in the benchmark venv, so benchmark runs are reproducible; pyproject.toml
# keeps ranges for users' own environments. Regenerate after a deliberate upgrade (see its header).
CONSTRAINTS = ROOT / "tools" / "constraints.txt"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "tools/pip_install.py", "tools/venv.py", "tools/constraints.txt",
                 "bench/learn2learn_wheel.py"):
        digest.update((ROOT / name).read_bytes())
    digest.update(sys.version.encode())
    digest.update(EXTRAS.encode())
    return digest.hexdigest()


def _python() -> Path:
    return VENV / "bin" / "python"


def sync() -> None:
    """Create or update the venv when its stamp is stale."""
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / f".{VENV.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wanted = _fingerprint()
        if STAMP.exists() and STAMP.read_text() == wanted and _python().exists():
            return
        start = time.perf_counter()
        print(f"[venv] building {VENV} (pyproject.toml or installer changed, or first run)", file=sys.stderr)
        if VENV.is_dir() and not VENV.is_symlink():
            shutil.rmtree(VENV)
        elif VENV.exists() or VENV.is_symlink():
            VENV.unlink()
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        code = subprocess.call([str(_python()), str(ROOT / "tools" / "pip_install.py"), "--quiet",
                                "-c", str(CONSTRAINTS), "-e", f"{ROOT}[{EXTRAS}]"])
        if code != 0:
            sys.exit(f"error: installing mtml-bench into {VENV} failed (pip exit {code}); see the pip output above. "
                     f"Retry with: python tools/venv.py sync")
        STAMP.write_text(wanted)
        print(f"[venv] ready in {time.perf_counter() - start:.0f} s", file=sys.stderr)


def run(command: list[str]) -> int:
    sync()
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    env.pop("PYTHONHOME", None)
    try:
        return subprocess.call(command, env=env)
    except FileNotFoundError:
        sys.exit(f"error: command '{command[0]}' was not found in {VENV / 'bin'}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["sync"]:
        sync()
        return 0
    if argv[:1] == ["run"]:
        command = argv[2:] if argv[1:2] == ["--"] else argv[1:]
        if command:
            return run(command)
    sys.exit("usage: python tools/venv.py sync | run -- COMMAND [ARGS...]")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
