"""The CLI's exit codes: 0 on success, 2 with one line on stderr for every user error, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bench.cli as cli
from bench.cli import main

MICRO = Path(__file__).parent / "specs" / "micro.toml"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def write_spec(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "spec.toml"
    text = MICRO.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return path


def test_run_without_a_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "run needs a SPEC" in one_error_line(capsys)


def test_run_with_an_invalid_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path, "inner_lr = 0.1", "inner_lr = -1")
    assert main(["run", str(spec), "--out", str(tmp_path / "out")]) == 2
    assert one_error_line(capsys) == "error: spec field 'training.inner_lr' = -1: must be a positive number"
    assert not (tmp_path / "out").exists()


def test_run_with_a_spec_that_is_not_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[training\n")
    assert main(["run", str(bad)]) == 2
    assert "is not valid TOML" in one_error_line(capsys)


def test_run_with_an_unknown_shipped_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "standrd"]) == 2
    assert "unknown spec 'standrd'" in one_error_line(capsys)


def test_run_with_an_unknown_method(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(MICRO), "--methods", "afr,mamll", "--out", str(tmp_path / "o")]) == 2
    assert "unknown method 'mamll'. Did you mean 'maml'?" in one_error_line(capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--seeds", "0"], "--seeds '0' is neither a count"),
    (["--workers", "0"], "--workers 0: must be at least 1"),
    (["--device", "tpu"], "'runtime.device' = \"tpu\""),
    (["--address", "auto"], "'runtime.address' = \"auto\": is only used with executor"),
])
def test_run_with_bad_options(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(MICRO), *args]) == 2
    assert message in one_error_line(capsys)


def test_resume_of_a_folder_without_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "does not exist" in one_error_line(capsys)


def test_resume_cannot_change_methods(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--resume", str(tmp_path), "--methods", "afr"]) == 2
    assert "cannot change a resumed run" in one_error_line(capsys)


def test_a_subcommand_whose_module_is_missing_says_so(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(cli.DELEGATED, "report", ("reports.cli_no_such_module", "write a report"))
    assert main(["report", "somewhere"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("error: `mtml-bench report` is not available yet")


def test_a_delegated_subcommand_runs_its_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["report", str(tmp_path / "no-run")])  # reports.cli_report: a missing run is a user error
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_unknown_subcommand_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in ("list", "run", "report", "regress", "preview", "split", "tune"):
        assert name in out


def test_console_script_exit_code_and_no_traceback(tmp_path: Path) -> None:
    """The installed entry point, as a user calls it: a bad spec costs one line and exit 2."""
    exe = shutil.which("mtml-bench", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-m", "bench.cli"]
    spec = write_spec(tmp_path, "ways = 3", "ways = 1")
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([*command, "run", str(spec)], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: spec field 'episodes.ways' = 1: must be an integer >= 2"
    assert not (tmp_path / "runs").exists()
