"""``mtml-bench install-learn2learn``: build learn2learn 0.2.0 from its sdist and install it here.

    mtml-bench install-learn2learn             # build once (cached), then pip install into this environment
    mtml-bench install-learn2learn --rebuild   # throw the cached wheel away first

The ``maml``, ``fomaml``, ``anil`` and ``metasgd`` baselines run through
learn2learn, which cannot be installed by pip alone on Python 3.11+ (see
``bench/learn2learn_wheel.py``). This command is what their missing-dependency
error names. It installs the cached wheel with ``--no-deps`` (learn2learn's
metadata asks for qpth, which would downgrade numpy to 1.x, and gsutil, which
it never imports here), then checks what ``import learn2learn`` needs (gym,
torchvision, requests, ...) and installs only what is missing, with the
installed numpy and torch held as pip constraints (so torchvision is the one
that matches the torch already installed). Last, it imports learn2learn in a
fresh interpreter and says in one line what is still missing, if anything.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from bench import learn2learn_wheel as l2w
from bench.errors import UserError

# What ``import learn2learn`` (0.2.0) imports beyond numpy and torch. Its metadata asks for more: gsutil
# (built from source, slow) and qpth, which requires numpy<2 and so would downgrade numpy, but learn2learn
# imports them only to download datasets and for MetaOptNet, which no baseline here uses. So
# this command installs the wheel with --no-deps and then only what of this is missing.
IMPORT_NEEDS = ("gym>=0.26,<0.27", "torchvision>=0.16", "requests", "tqdm", "scipy", "pillow")
# Installed versions of these are held (pip gets them as constraints) while the missing needs are installed.
HELD = ("numpy", "torch")


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


def _version_key(version: str) -> tuple[int, ...]:
    """The numeric release of a version ("2.14.1+cpu" -> (2, 14, 1)); enough for the simple ranges above."""
    parts = []
    for part in version.split("+")[0].split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        parts.append(int(digits))
        if digits != part:  # 0rc1, 1b2: a pre-release of this release
            break
    return tuple(parts)


def _split_requirement(requirement: str) -> tuple[str, list[tuple[str, str]]]:
    """``"gym>=0.26,<0.27"`` -> ``("gym", [(">=", "0.26"), ("<", "0.27")])``."""
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    name, rest = match.groups()
    clauses = []
    for clause in filter(None, (c.strip() for c in rest.split(","))):
        op = re.match(r"^(>=|<=|==|!=|<|>)\s*(\S+)$", clause)
        if op is None:
            raise ValueError(f"unsupported clause {clause!r} in {requirement!r}")
        clauses.append((op.group(1), op.group(2)))
    return name, clauses


def satisfied(requirement: str, version: str | None) -> bool:
    """Whether an installed ``version`` (None: not installed) meets ``requirement`` (>=, <, == ranges)."""
    if version is None:
        return False
    _, clauses = _split_requirement(requirement)
    have = _version_key(version)
    checks = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
              "<": lambda a, b: a < b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
    for op, wanted in clauses:
        want = _version_key(wanted)
        width = max(len(have), len(want))
        if not checks[op](have + (0,) * (width - len(have)), want + (0,) * (width - len(want))):
            return False
    return True


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def missing_needs(needs: tuple[str, ...] = IMPORT_NEEDS) -> list[str]:
    """The requirements of ``needs`` that this environment does not meet (absent, or outside the range)."""
    return [req for req in needs if not satisfied(req, installed_version(_split_requirement(req)[0]))]


def held_versions() -> dict[str, str]:
    """The installed versions of ``HELD`` (numpy, torch) that installing the missing needs must not move."""
    return {name: v for name in HELD if (v := installed_version(name)) is not None}


def install_wheel_command(wheel: Path, extra_pip_args: list[str] | None = None) -> list[str]:
    """``pip install --no-deps WHEEL`` into this interpreter: learn2learn alone, none of its declared dependencies."""
    return [sys.executable, "-m", "pip", "install", "--no-deps", *(extra_pip_args or []), str(wheel)]


def install_needs_command(needs: list[str], constraints: Path, extra_pip_args: list[str] | None = None) -> list[str]:
    """``pip install`` of the missing needs, with ``constraints`` holding numpy and torch where they are."""
    return [sys.executable, "-m", "pip", "install", "--constraint", str(constraints), *(extra_pip_args or []),
            *needs]


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
    quiet = ["--quiet"] if args.quiet else []
    held = held_versions()
    code = subprocess.call(install_wheel_command(wheel, quiet + (["--force-reinstall"] if args.rebuild else [])))
    if code != 0:
        print(f"error: pip could not install {wheel} (pip exit {code}); see pip's output above.", file=sys.stderr)
        return 1
    missing = missing_needs()
    if missing:
        code = install_needs(missing, held, quiet)
        if code != 0:
            return code
    return verify_import(held)


def _pins(held: dict[str, str]) -> str:
    return " and ".join(f"{name}=={version}" for name, version in held.items())


def install_needs(missing: list[str], held: dict[str, str], quiet: list[str]) -> int:
    """pip install the missing import needs, with numpy and torch held at their installed versions."""
    if not quiet:
        kept = f" ({_pins(held)} stay as they are)" if held else ""
        print(f"[learn2learn] installing what learn2learn imports and this environment lacks: {', '.join(missing)}"
              f"{kept}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="l2l-needs-") as tmp:
        constraints = Path(tmp) / "held.txt"
        constraints.write_text("".join(f"{name}=={version}\n" for name, version in held.items()))
        code = subprocess.call(install_needs_command(missing, constraints, quiet))
    if code != 0:
        quoted = " ".join(f"'{req}'" for req in missing)
        print(f"error: learn2learn is installed, but pip could not install what it imports: {', '.join(missing)} "
              f"(pip exit {code}; see pip's output above). Install them into this environment yourself"
              + (f", keeping {_pins(held)}" if held else "") + f": {sys.executable} -m pip install {quoted}",
              file=sys.stderr)
        return 1
    return 0


def verify_import(held: dict[str, str]) -> int:
    """Import learn2learn in a fresh interpreter; say what it still lacks, and whether numpy or torch moved."""
    moved = {name: (old, new) for name, old in held.items() if (new := installed_version(name)) != old}
    if moved:  # pip was told to hold them; this would be a pip failure worth knowing about
        print("warning: " + "; ".join(f"{name} changed from {old} to {new}" for name, (old, new) in moved.items()),
              file=sys.stderr)
    result = subprocess.run([sys.executable, "-c", "import learn2learn"], capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit {result.returncode}"
        hint = ""
        if last.startswith("ModuleNotFoundError") and "'" in last:
            module = last.split("'")[1].split(".")[0]
            hint = f" Install it into this environment ({sys.executable} -m pip install {module}) and run this again."
        print(f"error: learn2learn is installed but does not import: {last}.{hint}", file=sys.stderr)
        return 1
    return 0
