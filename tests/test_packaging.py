"""Packaging: ranges for users, exact pins for the benchmark venv, package data, the learn2learn install path.

The fresh-venv install of the built wheel itself is ``tools/check_wheel.py`` (a CI step, minutes);
these are the fast checks that catch the usual ways it breaks.
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bench import cli_learn2learn
from bench import learn2learn_wheel as l2w
from bench.cli import main
from bench.spec import tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGES = ("bench", "methods", "domains", "reports")


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "tools" / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"tools/constraints.txt: '{line}' is not an exact pin (name==version)"
            pins[canonicalize_name(name)] = version
    return pins


def _requirements(extras: tuple[str, ...]) -> list[Requirement]:
    project = PYPROJECT["project"]
    lines = list(project["dependencies"]) + [r for e in extras for r in project["optional-dependencies"][e]]
    env = default_environment()
    return [req for req in map(Requirement, lines) if req.marker is None or req.marker.evaluate(env)]


def test_constraints_pin_each_requirement_inside_its_range() -> None:
    pins = _pins()
    extras = tuple(_venv_extras())
    problems = []
    for req in _requirements(extras):
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req.name}: not pinned in tools/constraints.txt")
        elif not req.specifier.contains(pin, prereleases=True):
            problems.append(f"{req.name}=={pin} is outside pyproject.toml's range '{req.specifier}'")
    assert not problems, "\n".join(problems)


def _venv_extras() -> list[str]:
    text = (ROOT / "tools" / "venv.py").read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("EXTRAS = "))
    return line.split("=", 1)[1].strip().strip("\"'").split(",")


def test_the_install_command_installs_what_the_extra_declares() -> None:
    assert set(l2w.EXTRA_REQUIREMENTS) == set(PYPROJECT["project"]["optional-dependencies"]["learn2learn"])


def test_every_data_file_of_the_packages_is_package_data() -> None:
    """A data file missing from [tool.setuptools.package-data] works in a checkout and fails once installed."""
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]
    missing = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            top = path.relative_to(ROOT).parts[0]
            inner = path.relative_to(ROOT / top).as_posix()
            if not any(fnmatch.fnmatch(inner, g) for g in globs.get(top, [])):
                missing.append(path.relative_to(ROOT).as_posix())
    assert not missing, f"not in pyproject.toml's package-data, so absent from the wheel: {missing}"


def test_requires_python_covers_the_tested_versions() -> None:
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert all(v in spec for v in ("3.10.0", "3.11.7", "3.12.1")) and "3.9.18" not in spec


def test_a_missing_learn2learn_names_the_install_command(tmp_path: Path) -> None:
    """Without learn2learn the registry still imports (`list` works) and a MAML-family run stops before it
    starts, with one line naming `mtml-bench install-learn2learn`."""
    spec = (ROOT / "tests" / "specs" / "micro.toml").read_text()
    (tmp_path / "spec.toml").write_text(spec)
    code = ("import sys; sys.modules['learn2learn'] = None\n"  # an import of it now raises ImportError
            "from bench.cli import main\n"
            "assert main(['list']) == 0\n"
            f"sys.exit(main(['run', {str(tmp_path / 'spec.toml')!r}, '--out', {str(tmp_path / 'run')!r}]))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            timeout=300)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: method 'fomaml' needs learn2learn 0.2.0"), lines
    assert lines[0].endswith("Install it into this environment with: mtml-bench install-learn2learn")
    assert "fomaml" in result.stdout  # `list` still listed the MAML family
    assert not (tmp_path / "run").exists()


def test_install_learn2learn_is_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["install-learn2learn", "--help"])
    assert exit_info.value.code == 0
    assert "--rebuild" in capsys.readouterr().out


def test_install_learn2learn_without_a_compiler_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MTML_CACHE", str(tmp_path))  # an empty wheel cache: a build would be needed
    monkeypatch.setattr(cli_learn2learn.shutil, "which", lambda name: None)
    assert main(["install-learn2learn"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: building learn2learn needs a C compiler and none is on PATH (cc, gcc). Install one "
                   "(Debian/Ubuntu: apt-get install build-essential) and run this again."]


def test_install_learn2learn_without_python_headers_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MTML_CACHE", str(tmp_path))
    paths = dict(sysconfig.get_paths(), include=str(tmp_path / "no-headers"))
    monkeypatch.setattr(cli_learn2learn.sysconfig, "get_paths", lambda: paths)
    assert main(["install-learn2learn"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs Python's C headers" in err[0] and "python3-dev" in err[0]


def test_the_wheel_cache_follows_mtml_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MTML_CACHE", str(tmp_path))
    assert l2w.cache_dir() == tmp_path / "wheels" and l2w.cached_wheel() is None
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    wheel = tmp_path / "wheels" / f"learn2learn-{l2w.L2L_VERSION}-{tag}-{tag}-linux_x86_64.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"")
    assert l2w.cached_wheel() == wheel
    monkeypatch.delenv("MTML_CACHE")
    assert l2w.cache_dir() == Path.home() / ".cache" / "mtml-bench" / "wheels"


# ---- install-learn2learn: the wheel without its declared dependencies, then only what its import lacks ------
class FakePip:
    """``subprocess.call``/``run`` for install-learn2learn: records pip command lines (and the constraints file
    each one names), "installs" the requirements it is given, and answers ``import learn2learn``."""

    def __init__(self, installed: dict[str, str], fail_needs: bool = False, import_error: str = "") -> None:
        self.installed = installed
        self.fail_needs, self.import_error = fail_needs, import_error
        self.calls: list[list[str]] = []
        self.constraints: list[str] = []

    def version(self, name: str) -> str | None:
        return self.installed.get(name)

    def call(self, cmd: list[str]) -> int:
        self.calls.append(list(cmd))
        if "--constraint" in cmd:
            self.constraints.append(Path(cmd[cmd.index("--constraint") + 1]).read_text())
            if self.fail_needs:
                return 1
            for arg in cmd[cmd.index("install") + 1:]:
                if not arg.startswith("-") and not arg.endswith(".txt"):
                    name = cli_learn2learn._split_requirement(arg)[0]
                    self.installed[name] = {"gym": "0.26.2", "torchvision": "0.29.1"}.get(name, "1.0")
        return 0

    def run(self, cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        assert cmd == [sys.executable, "-c", "import learn2learn"], cmd
        return subprocess.CompletedProcess(cmd, 1 if self.import_error else 0, "", self.import_error)


@pytest.fixture
def cached_l2l_wheel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A (fake) learn2learn wheel in the cache, so install-learn2learn builds nothing."""
    monkeypatch.setenv("MTML_CACHE", str(tmp_path))
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    wheel = tmp_path / "wheels" / f"learn2learn-{l2w.L2L_VERSION}-{tag}-{tag}-linux_x86_64.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"")
    return wheel


def _fake_pip(monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> FakePip:
    installed = {"numpy": "2.2.6", "torch": "2.14.1", "requests": "2.32.3", "tqdm": "4.67.1", "scipy": "1.15.2",
                 "pillow": "11.1.0"}
    pip = FakePip(installed, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(cli_learn2learn, "installed_version", pip.version)
    monkeypatch.setattr(cli_learn2learn.subprocess, "call", pip.call)
    monkeypatch.setattr(cli_learn2learn.subprocess, "run", pip.run)
    return pip


def test_install_learn2learn_installs_the_wheel_without_its_dependencies_then_what_is_missing(
        monkeypatch: pytest.MonkeyPatch, cached_l2l_wheel: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pip = _fake_pip(monkeypatch)
    assert main(["install-learn2learn"]) == 0
    assert pip.calls[0] == [sys.executable, "-m", "pip", "install", "--no-deps", str(cached_l2l_wheel)]
    needs = pip.calls[1]
    assert needs[:5] == [sys.executable, "-m", "pip", "install", "--constraint"]
    assert needs[6:] == ["gym>=0.26,<0.27", "torchvision>=0.16"]  # only what is missing; not learn2learn's qpth
    assert pip.constraints == ["numpy==2.2.6\ntorch==2.14.1\n"]  # numpy and torch are held where they are
    assert len(pip.calls) == 2 and pip.installed["numpy"] == "2.2.6"
    err = capsys.readouterr().err
    assert ("[learn2learn] installing what learn2learn imports and this environment lacks: gym>=0.26,<0.27, "
            "torchvision>=0.16 (numpy==2.2.6 and torch==2.14.1 stay as they are)") in err
    assert "error" not in err and "warning" not in err


def test_install_learn2learn_with_everything_present_installs_only_the_wheel(
        monkeypatch: pytest.MonkeyPatch, cached_l2l_wheel: Path) -> None:
    pip = _fake_pip(monkeypatch)
    pip.installed.update(gym="0.26.2", torchvision="0.29.1")
    assert main(["install-learn2learn", "--quiet"]) == 0
    assert pip.calls == [[sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", str(cached_l2l_wheel)]]


def test_install_learn2learn_replaces_a_gym_outside_the_range(monkeypatch: pytest.MonkeyPatch,
                                                              cached_l2l_wheel: Path) -> None:
    pip = _fake_pip(monkeypatch)
    pip.installed.update(gym="0.21.0", torchvision="0.29.1")
    assert main(["install-learn2learn", "--quiet"]) == 0
    assert pip.calls[1][6:] == ["--quiet", "gym>=0.26,<0.27"]


def test_install_learn2learn_says_what_to_install_when_pip_cannot(monkeypatch: pytest.MonkeyPatch,
                                                                  cached_l2l_wheel: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _fake_pip(monkeypatch, fail_needs=True)
    assert main(["install-learn2learn", "--quiet"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: learn2learn is installed, but pip could not install what it imports: gym>=0.26,<0.27, "
        "torchvision>=0.16 (pip exit 1; see pip's output above). Install them into this environment yourself, "
        f"keeping numpy==2.2.6 and torch==2.14.1: {sys.executable} -m pip install 'gym>=0.26,<0.27' "
        "'torchvision>=0.16'"]


def test_install_learn2learn_names_a_module_the_import_still_lacks(monkeypatch: pytest.MonkeyPatch,
                                                                   cached_l2l_wheel: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _fake_pip(monkeypatch, import_error="Traceback (most recent call last):\n  ...\n"
                                        "ModuleNotFoundError: No module named 'cloudpickle'\n")
    assert main(["install-learn2learn", "--quiet"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: learn2learn is installed but does not import: ModuleNotFoundError: No module named 'cloudpickle'. "
        f"Install it into this environment ({sys.executable} -m pip install cloudpickle) and run this again."]


def test_requirement_ranges_are_read_like_pip() -> None:
    assert cli_learn2learn.satisfied("gym>=0.26,<0.27", "0.26.2") and not cli_learn2learn.satisfied("gym>=0.26,<0.27", "0.27.0")
    assert not cli_learn2learn.satisfied("gym>=0.26,<0.27", "0.21.0") and not cli_learn2learn.satisfied("gym>=0.26,<0.27", None)
    assert cli_learn2learn.satisfied("torchvision>=0.16", "0.29.1+cu128") and not cli_learn2learn.satisfied("torchvision>=0.16", "0.15.2")
    assert cli_learn2learn.satisfied("requests", "2.32.3") and cli_learn2learn.satisfied("torch==2.1", "2.1.0")
    for req in cli_learn2learn.IMPORT_NEEDS:  # the same verdicts as packaging's
        for version in ("0.15.2", "0.26.0", "0.26.2", "0.27", "0.29.1", "2.14.1", "11.1.0"):
            assert cli_learn2learn.satisfied(req, version) == Requirement(req).specifier.contains(version), (req, version)
