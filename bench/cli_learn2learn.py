"""``mtml-bench install-learn2learn``: build learn2learn 0.2.0 from its sdist and install it here.

    mtml-bench install-learn2learn             # build once (cached), then pip install into this environment
    mtml-bench install-learn2learn --rebuild   # throw the cached wheel away first

The ``maml``, ``fomaml``, ``anil`` and ``metasgd`` baselines run through
learn2learn, which cannot be installed by pip alone on Python 3.11+ (see
``bench/learn2learn_wheel.py``). This command is what their missing-dependency
error names. It installs the extra's requirements (learn2learn, gym, and the
torchvision that matches the torch already installed, so torch is never
replaced) from the cached wheel.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from bench import learn2learn_wheel as l2w
from bench.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rebuild", action="store_true", help="delete the cached wheel and build it again")
    parser.add_argument("--quiet", action="store_true", help="print only errors")


def preflight() -> None:
    """What the build needs that pip cannot bring: a C compiler and Python's headers."""
    if not (shutil.which("cc") or shutil.which("gcc")):
        raise UserError("building learn2learn needs a C compiler and none is on PATH (cc, gcc). "
                        "Install one (Debian/Ubuntu: apt-get install build-essential) and run this again.")
    header = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not header.is_file():
        raise UserError(f"building learn2learn needs Python's C headers and {header} is missing. Install them "
                        f"(Debian/Ubuntu: apt-get install python3-dev) and run this again.")


def requirements() -> list[str]:
    """The extra's requirements, with torch held at the installed version so torchvision matches it."""
    reqs = list(l2w.EXTRA_REQUIREMENTS)
    try:
        reqs.append(f"torch=={importlib.metadata.version('torch')}")
    except importlib.metadata.PackageNotFoundError:
        pass
    return reqs


def run(args: argparse.Namespace) -> int:
    try:
        if args.rebuild and (old := l2w.cached_wheel()) is not None:
            old.unlink()
        if l2w.cached_wheel() is None:
            preflight()
        wheel = l2w.ensure_wheel(quiet=args.quiet)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except l2w.BuildError as err:
        print(f"error: {err}\nRetry with: {l2w.INSTALL_COMMAND} --rebuild", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"[learn2learn] wheel: {wheel}", file=sys.stderr)
    code = subprocess.call(l2w.pip_install_command(requirements(), ["--quiet"] if args.quiet else []))
    if code != 0:
        print(f"error: pip could not install {', '.join(requirements())} (pip exit {code}); see pip's output "
              f"above.", file=sys.stderr)
        return 1
    return 0
