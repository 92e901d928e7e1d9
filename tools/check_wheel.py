"""Install mtml-bench into a fresh virtual environment, outside tox, and use it as a new user would.

Why: tox's benchmark venv is editable and exactly pinned, so it cannot show that
the package installs and runs on its own (package data, entry point, declared
dependencies, the learn2learn install command). This script does what a user
does, in a throw-away venv without ``--system-site-packages``:

1. build the wheel (``pip wheel --no-deps .``) and ``pip install`` it, or with
   ``--from-source`` run a plain ``pip install .``; install time and venv size
   are printed;
2. ``mtml-bench list``;
3. a micro run (tests/specs/micro.toml, with ``maml-higher`` instead of the
   learn2learn ``fomaml``) and ``mtml-bench report`` on it, from a folder outside
   the source tree;
4. that a learn2learn baseline fails with the one-line error naming
   ``mtml-bench install-learn2learn``; with ``--learn2learn`` it then runs that
   command, checks that it left torch and numpy as they were, and runs the
   original micro spec (with ``fomaml``).

pip's own cache and index settings are used as they are, so a machine that has
installed the dependencies once reinstalls them from its cache. In CI (``.ci/run``
runs ``tox -e wheel`` after the tests) tox's benchmark venv was just built through
the same cache, so the large downloads (torch and its CUDA libraries, while the
pinned torch is also the newest in range) come from it, and the learn2learn
wheel that venv built is reused from ``$MTML_CACHE/wheels``. What is left is
unpacking about 5.8 GB and three short runs (measured in docs/installing.md).

    python tools/check_wheel.py                         # CI: the wheel, this Python
    python tools/check_wheel.py --python python3.12 --from-source --keep /tmp/v312
    python tools/check_wheel.py --pip-arg torch==2.1.2 --pip-arg 'numpy<2'

Exit 0 when every step passed; 1 with the failing step's output otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MICRO = ROOT / "tests" / "specs" / "micro.toml"
MISSING_L2L_HINT = "mtml-bench install-learn2learn"


class StepFailed(Exception):
    pass


def _step(name: str, cmd: list[str], cwd: Path, env: dict[str, str], expect_fail: bool = False,
          timeout: float = 1800) -> tuple[str, float]:
    print(f"[check_wheel] {name}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    print(f"[check_wheel] {name}: exit {result.returncode} after {seconds:.1f} s", file=sys.stderr, flush=True)
    output = result.stdout + result.stderr
    if (result.returncode != 0) != expect_fail:
        tail = "\n".join(output.splitlines()[-40:])
        raise StepFailed(f"step '{name}' exited {result.returncode} (expected {'non-zero' if expect_fail else 0}):"
                         f"\n{tail}")
    return output, seconds


def _size_mb(path: Path) -> float:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            p = Path(dirpath) / f
            if not p.is_symlink():
                total += p.stat().st_size
    return total / 2**20


def _copy_source(dest: Path) -> Path:
    """The files git would commit (tracked, and untracked but not ignored), copied to ``dest``."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _clean_env(venv: Path) -> dict[str, str]:
    """The environment a user's shell would have with the venv activated: no PYTHONPATH into this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def check(args: argparse.Namespace, report: dict[str, object]) -> None:
    """Every step in order; ``report`` collects the figures (kept when a step fails)."""
    work = Path(tempfile.mkdtemp(prefix="mtml-wheel-"))
    venv = args.keep or work / "venv"
    try:
        if venv.exists():
            shutil.rmtree(venv)
        _step("create venv", [args.python, "-m", "venv", str(venv)], work, dict(os.environ))
        py = str(venv / "bin" / "python")
        env = _clean_env(venv)
        out, _ = _step("python version", [py, "-c", "import sys; print(sys.version.split()[0])"], work, env)
        report["python_version"] = out.strip()
        out, _ = _step("pip version", [py, "-m", "pip", "--version"], work, env)
        report["pip"] = out.split()[1]
        source = _copy_source(work / "src")  # pip builds in the source tree: never in the checkout itself
        if args.from_source:
            target = str(source)
        else:
            dist = work / "dist"
            _, seconds = _step("build the wheel", [py, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist),
                                                   str(source)], work, env)
            report["wheel_build_s"] = round(seconds, 1)
            target = str(next(dist.glob("mtml_bench-*.whl")))
        _, seconds = _step("pip install", [py, "-m", "pip", "install", "-q", target, *args.pip_arg], work, env)
        report["install_s"] = round(seconds, 1)
        report["venv_mb"] = round(_size_mb(venv), 0)
        versions = [py, "-c", "import importlib.metadata as m; print(m.version('torch'), m.version('numpy'))"]
        out, _ = _step("versions", versions, work, env)
        report["torch"], report["numpy"] = out.split()[-2:]
        mtml = str(venv / "bin" / "mtml-bench")
        out, seconds = _step("mtml-bench list", [mtml, "list"], work, env)
        if "afr" not in out or "synthrooms" not in out:
            raise StepFailed(f"`mtml-bench list` does not list afr and synthrooms:\n{out}")
        micro = work / "micro.toml"
        micro.write_text(MICRO.read_text().replace('"fomaml"', '"maml-higher"')
                         .replace("[methods.fomaml]", '[methods."maml-higher"]'))
        _, seconds = _step("micro run", [mtml, "run", str(micro), "--out", str(work / "run"), "--no-progress"],
                           work, env)
        report["micro_run_s"] = round(seconds, 1)
        _step("report", [mtml, "report", str(work / "run")], work, env)
        if not (work / "run" / "report" / "index.html").is_file():
            raise StepFailed("`mtml-bench report` wrote no report/index.html")
        l2l_spec = work / "micro-l2l.toml"
        l2l_spec.write_text(MICRO.read_text())
        out, _ = _step("learn2learn missing", [mtml, "run", str(l2l_spec), "--out", str(work / "run-l2l"),
                                               "--no-progress"], work, env, expect_fail=True)
        already = "learn2learn" in _step("pip list", [py, "-m", "pip", "list"], work, env)[0]
        if not already and MISSING_L2L_HINT not in out:
            raise StepFailed(f"a learn2learn baseline without learn2learn did not name `{MISSING_L2L_HINT}`:\n{out}")
        if args.learn2learn:
            _, seconds = _step("install-learn2learn", [mtml, "install-learn2learn", "--quiet"], work, env)
            report["install_learn2learn_s"] = round(seconds, 1)
            out, _ = _step("versions after install-learn2learn", versions, work, env)
            if out.split()[-2:] != [report["torch"], report["numpy"]]:
                raise StepFailed(f"install-learn2learn changed torch/numpy from {report['torch']}/{report['numpy']} "
                                 f"to {'/'.join(out.split()[-2:])}")
            _step("micro run with fomaml", [mtml, "run", str(l2l_spec), "--out", str(work / "run-l2l"),
                                            "--overwrite", "--no-progress"], work, env)
        report["ok"] = True
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter for the fresh venv (default: this one)")
    parser.add_argument("--from-source", action="store_true", help="plain `pip install .` instead of the wheel")
    parser.add_argument("--pip-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for the install (e.g. torch==2.1.2), repeatable")
    parser.add_argument("--learn2learn", action="store_true",
                        help="also run `mtml-bench install-learn2learn` and a micro run with fomaml")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="build the venv in DIR and keep it")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    report: dict[str, object] = {"python": args.python, "ok": False}
    try:
        check(args, report)
    except StepFailed as err:
        print(f"error: {err}", file=sys.stderr)
    finally:
        report["total_s"] = round(time.perf_counter() - start, 1)
        print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
