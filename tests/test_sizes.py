"""Absurd sizes are refused before a run starts (one line naming field, value and limit; exit 2), the
limits are the real ones (the limit passes, one more fails), long runs print their estimated duration,
and a run whose cells all failed does not exit 0."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import orchestrator, sizes
from bench.cli import main
from bench.spec import load_spec

MICRO = Path(__file__).parent / "specs" / "micro.toml"
HUGE = 10**12


def spec_with(tmp_path: Path, replace: dict[str, str]) -> Path:
    text = MICRO.read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], replace: dict[str, str],
            *extra: str) -> str:
    spec = spec_with(tmp_path, replace)
    out = tmp_path / "run"
    code = main(["run", str(spec), "--out", str(out), "--executor", "inline", "--no-progress", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert not (out / "results.sqlite").exists()  # refused before anything was written
    return lines[0]


# field -> (text in micro.toml, its replacement, what the message must say)
CASES = {
    "seeds": ("seeds = 2", f"seeds = {HUGE}", r"the limit is 100000"),
    "episodes.ways": ("ways = 3", f"ways = {HUGE}", r"has \d+ classes, so at most \d+ ways"),
    "episodes.shots": ("shots = 2", f"shots = {HUGE}", r"images per class .* so at most \d+"),
    "episodes.queries": ("queries = 3", f"queries = {HUGE}", r"images per class .* so at most \d+"),
    "episodes.test_episodes": ("test_episodes = 2", f"test_episodes = {HUGE}",
                               r"would store about .* GiB of results .* free; at most \d+ fits"),
    "network.decoder_width": ("decoder_width = 4", f"decoder_width = {HUGE}",
                              r"needs about .* this machine has .* GiB available RAM; at most \d+ fits"),
    "training.meta_batch_size": ("meta_batch_size = 4", f"meta_batch_size = {HUGE}",
                                 r"needs about .* GiB available RAM; at most \d+ fits"),
    "training.inner_steps": ("inner_steps = 1", f"inner_steps = {HUGE}",
                             r"needs about .* GiB available RAM; at most \d+ fits"),
    "speed.pairs": ("pairs = 3", f"pairs = {HUGE}", r"would store about .* free; at most \d+ fits"),
    "speed.blocks": ("blocks = 2", f"blocks = {HUGE}", r"would store about .* free; at most \d+ fits"),
    "speed.warmup": ("warmup = 1", f"warmup = {HUGE}", r"would store about .* free; at most \d+ fits"),
    "speed.threads": ("warmup = 1", f"warmup = 1\nthreads = {HUGE}", r"this machine has \d+ core\(s\)"),
}


@pytest.mark.parametrize("field", sorted(CASES))
def test_each_absurd_size_is_refused_up_front(field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new, says = CASES[field]
    line = refused(tmp_path, capsys, {old: new})
    assert line.startswith(f"error: spec field '{field}' = {HUGE}: "), line
    assert re.search(says, line), line


def test_seed_count_on_the_command_line_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(tmp_path, capsys, {}, "--seeds", str(HUGE))
    assert line == f"error: --seeds {HUGE}: more seeds than a run can list and store; the limit is 100000"


def test_runtime_threads_beyond_the_cores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(tmp_path, capsys, {}, "--threads", "100000")
    assert re.fullmatch(r"error: spec field 'runtime.threads' = 100000: this machine has \d+ core\(s\); .*", line)


@pytest.mark.parametrize("field", ["episodes.shots", "episodes.queries", "episodes.ways"])
def test_data_limits_are_exact(field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The limit a refusal names passes the data check, and one more is refused again."""
    old, new, _ = CASES[field]
    line = refused(tmp_path, capsys, {old: new})
    limit = int(re.findall(r"at most (\d+)", line)[-1])
    key = old.split(" = ")[0]
    fits = load_spec(spec_with(tmp_path, {old: f"{key} = {limit}"}))
    prepared = orchestrator.prepare(fits, tmp_path / "run")  # passes every check
    assert prepared.plan.spec["episodes"][key] == limit
    with pytest.raises(Exception, match=re.escape(f"spec field '{field}' = {limit + 1}: ")):
        orchestrator.prepare(load_spec(spec_with(tmp_path, {old: f"{key} = {limit + 1}"})), tmp_path / "run")


def test_memory_limit_fits_and_one_more_does_not(tmp_path: Path) -> None:
    spec = load_spec(spec_with(tmp_path, {}))
    image_size = 32
    facts = sizes.DataFacts(tensor_bytes=10 * sizes.GIB)
    need = sizes.training_bytes(spec, image_size) + facts.tensor_bytes
    machine = sizes.Machine(cores=2, memory_bytes=int(need * 1.5), memory_what="available RAM", disk_bytes=1 << 50)
    sizes.check_memory(spec, image_size, facts, machine, 1, data_on_device=True)  # fits
    big = sizes._with(spec, "training.meta_batch_size", 10**6)
    with pytest.raises(Exception, match=r"'training.meta_batch_size' = 1000000: .* at most (\d+) fits") as info:
        sizes.check_memory(big, image_size, facts, machine, 1, data_on_device=True)
    limit = int(re.findall(r"at most (\d+) fits", str(info.value))[0])
    sizes.check_memory(sizes._with(spec, "training.meta_batch_size", limit), image_size, facts, machine, 1, True)
    with pytest.raises(Exception, match="meta_batch_size"):
        sizes.check_memory(sizes._with(spec, "training.meta_batch_size", limit + 1), image_size, facts, machine, 1,
                           True)


@pytest.mark.parametrize("decoder_width", [4, 16, 37])
def test_network_footprint_extrapolation_equals_a_real_build(decoder_width: int) -> None:
    spec = sizes._with(load_spec(MICRO), "network.decoder_width", decoder_width)
    assert sizes.network_footprint(spec, 32) == sizes._measure(spec, 32, decoder_width)
    huge = sizes._with(spec, "network.decoder_width", HUGE)
    params, per_image = sizes.network_footprint(huge, 32)
    assert params > 1e24 and per_image > 1e15  # a number, not an allocation


def test_a_long_run_prints_its_estimated_duration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = load_spec(spec_with(tmp_path, {"budget_steps = 3": "budget_steps = 2000000"}))
    prepared = orchestrator.prepare(spec, tmp_path / "run")
    short = orchestrator.prepare(load_spec(spec_with(tmp_path, {})), tmp_path / "run")
    assert prepared.estimated_seconds > 1000 * short.estimated_seconds  # it scales with the steps
    orchestrator.announce_duration(prepared)
    orchestrator.announce_duration(short)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert re.fullmatch(r"estimated duration: about [\d.]+ (min|h|days) \(4 cells on \d+ worker\(s\), from one "
                        r"timed pass of this network; good to a factor of about two\)", err[0]), err


@pytest.mark.slow
def test_a_run_whose_cells_all_failed_exits_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = spec_with(tmp_path, {"threads = 1": "threads = 1\nplugins = [\"bench_plugin\"]",
                                "[methods.fomaml]": "[methods.test-diverge]\n[methods.fomaml]"})
    code = main(["run", str(spec), "--out", str(tmp_path / "run"), "--executor", "inline", "--no-progress",
                 "--methods", "test-diverge", "--seeds", "2", "--report"])
    assert code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(r"error: all 2 cells failed \(test-diverge .*: loss became nan; .*\); the run has no results "
                        r"to report\. Fix the cause and start again \(the failures are stored in .*run\)\.", last), last
    assert not (tmp_path / "run" / "report").exists()  # --report is not attempted on nothing
