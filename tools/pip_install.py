"""pip install, with learn2learn 0.2.0 served from a locally built wheel (tox's benchmark venv).

Why: learn2learn 0.2.0 is on PyPI only as an sdist whose pre-generated C does
not compile on Python 3.11+. The package ships the fix (``bench/learn2learn_wheel.py``:
regenerate the C with Cython 3, cache the wheel); this script runs it before pip,
so that ``tools/venv.py`` can install ``.[learn2learn,...]`` on a fresh clone with no
manual step. It imports that one standard-library module from the source tree,
because nothing is installed in the venv yet.

Usage: ``python tools/pip_install.py PIP_INSTALL_ARGS...`` or ``--build-learn2learn-only``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import learn2learn_wheel as l2w  # noqa: E402

RETRY_HINT = (f"Retry with: python tools/pip_install.py --build-learn2learn-only "
              f"(cache: {l2w.cache_dir()}; delete it to force a rebuild).")


def main(argv: list[str]) -> int:
    try:
        wheel = l2w.ensure_wheel()
    except l2w.BuildError as err:
        sys.exit(f"error: {err}\n{RETRY_HINT}")
    print(f"[learn2learn] wheel: {wheel}", file=sys.stderr)
    if argv == ["--build-learn2learn-only"]:
        return 0
    return subprocess.call(l2w.pip_install_command(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
