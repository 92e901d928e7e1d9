"""``run --set``, ``run --root``, ``mtml-bench specs``, ``--version`` and ``MTML_CACHE``.

Overrides are validated exactly like the file (the same messages, prefixed by
the override that caused them), bad ones are one line and exit 2 before
anything is written, and each shipped real-data spec runs on fixture data in
its suite's real layout, shrunk from the command line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.diode_writer import write_diode
from fixtures.nyuv2_writer import write_nyuv2
from fixtures.scannet_vp_writer import write_scannet_vp
from fixtures.taskonomy_writer import write_taskonomy

from bench.cli import main
from bench.errors import SpecError
from bench.overrides import apply_overrides, parse_value
from bench.spec import REAL, SHIPPED, load_spec, parse_spec, shipped_path, tomllib
from bench.store import open_store

MICRO = Path(__file__).parent / "specs" / "micro.toml"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err.strip()


def test_set_reaches_any_field_and_reads_toml_values() -> None:
    spec = apply_overrides(load_spec(MICRO), ["training.budget_steps=7", "network.widths=[4, 4, 4, 8]",
                                              "methods.afr.inner_lr=0.3", "episodes.max_test_domains=1",
                                              "speed.pairs=5", "comparisons.alpha=0.1", "seeds=[3, 5]",
                                              "description=from the command line", "suite.profile=tiny"])
    assert spec.training.budget_steps == 7 and spec.network.widths == (4, 4, 4, 8)
    assert spec.method("afr").inner_lr == 0.3 and spec.episodes.max_test_domains == 1
    assert spec.speed is not None and spec.speed.pairs == 5
    assert spec.comparisons is not None and spec.comparisons.alpha == 0.1
    assert spec.seeds == (3, 5) and spec.description == "from the command line"
    assert parse_value("/data/x y") == "/data/x y" and parse_value("true") is True and parse_value("1e-3") == 0.001


def test_set_gives_the_same_result_as_editing_the_file() -> None:
    data = tomllib.loads(MICRO.read_text())
    data["training"]["outer_lr"] = 0.01
    assert apply_overrides(load_spec(MICRO), ["training.outer_lr=0.01"]).hash == parse_spec(data).hash


@pytest.mark.parametrize(("assignment", "message"), [
    ("training.inner_lr=-1", "error: --set training.inner_lr=-1: spec field 'training.inner_lr' = -1: must be a "
                             "positive number"),
    ("training.inner_steps=many", "error: --set training.inner_steps=many: spec field 'training.inner_steps' = "
                                  "\"many\": must be an integer >= 1"),
    ("training.nope=1", "error: --set training.nope=1: spec field 'training.nope' is not a known field; known "
                        "fields here: budget_seconds, budget_steps, "),
    ("trainin.steps=1", "error: --set 'trainin.steps=1': unknown section 'trainin'; sections: suite, episodes, "
                        "network, training, methods, speed, comparisons, tuning, runtime"),
    ("budget_steps=3", "error: --set 'budget_steps=3': 'budget_steps' is not a top-level field; use one of name, "
                       "description, seeds, tasks"),
    ("training.budget_steps", "error: --set 'training.budget_steps': expected section.key=value"),
    ("seeds.first=1", "error: --set 'seeds.first=1': spec field 'seeds' is a value, not a table; use --set seeds=VALUE"),
    ("training.budget_steps.x=1", "error: --set 'training.budget_steps.x=1': spec field 'training.budget_steps' is a value, not a table; use --set training.budget_steps=VALUE"),
    ("runtime.executor=gpu", "error: --set runtime.executor=gpu: spec field 'runtime.executor' = \"gpu\": must be one "
                             "of inline, process, ray"),
    ("tasks=[\"depth\", \"smell\"]", "error: --set tasks=[\"depth\", \"smell\"]: spec field 'tasks' = [\"depth\", "
                                     "\"smell\"]: 'smell' is not allowed; choose from classification, depth, normals, "
                                     "vanishing_point"),
    ("speed.methods=[\"afr\"]", "error: --set speed.methods=[\"afr\"]: spec field 'speed.methods' = [\"afr\"]: must "
                                "name at least two of the spec's methods"),
])
def test_bad_set_is_one_line_naming_the_key_and_what_is_allowed(assignment: str, message: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(MICRO), "--set", assignment, "--out", str(tmp_path / "o")]) == 2
    assert one_error_line(capsys).startswith(message)
    assert not (tmp_path / "o").exists()


def test_a_suite_option_the_suite_does_not_take_is_named(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    write_nyuv2(tmp_path / "n")
    assert main(["run", "nyuv2", "--root", str(tmp_path / "n"), "--set", "suite.colour=red",
                 "--out", str(tmp_path / "o")]) == 2
    line = one_error_line(capsys)
    assert "'colour'" in line and "suite" in line and not (tmp_path / "o").exists()


def test_real_spec_without_root_says_to_pass_root_or_download(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "nyuv2", "--out", str(tmp_path / "o")]) == 2
    assert one_error_line(capsys) == (
        "error: suite 'nyuv2' needs a dataset folder: pass --root DIR (mtml-bench run, tune, preview, split) or "
        "set root = \"/path/to/nyuv2\" in the spec's [suite] table; 'mtml-bench download nyuv2 --to DIR' fetches "
        "it (or says how to obtain it)")
    assert not (tmp_path / "o").exists()
    assert main(["run", "nyuv2", "--root", str(tmp_path / "absent"), "--out", str(tmp_path / "o")]) == 2
    assert one_error_line(capsys) == (
        f"error: {tmp_path / 'absent'}: dataset root for suite 'nyuv2' does not exist or is not a folder; point "
        "--root (or the spec's suite.root) at the extracted dataset, e.g. the folder 'mtml-bench download nyuv2 "
        "--to DIR' filled")


def test_a_suite_error_names_the_suite_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A suite's own error gets the suite's name in front, unless it already starts with it."""
    from bench import cell
    from bench.errors import UserError
    from domains.catalog import SUITES
    from domains.suite import DataError

    spec = load_spec("nyuv2")
    for message, shown in (("image_size must be positive", "suite 'nyuv2': image_size must be positive"),
                           ("suite 'nyuv2' needs a dataset folder", "suite 'nyuv2' needs a dataset folder")):
        def factory(message: str = message, **options: object) -> None:
            raise DataError(message)

        monkeypatch.setattr(SUITES, "get", lambda name, factory=factory: factory)
        with pytest.raises(UserError) as err:
            cell.build_suite(spec)
        assert str(err.value) == shown


def test_resume_refuses_set_and_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--resume", str(tmp_path), "--set", "training.budget_steps=3"]) == 2
    assert "--methods, --seeds, --set and --root cannot change a resumed run" in one_error_line(capsys)


def write_classifiable_taskonomy(root: Path) -> None:
    """Three buildings whose scene labels are two classes of their own split part each (2-way episodes)."""
    import numpy as np
    from fixtures.taskonomy_writer import SCENE_INDICES, path_for, soft_distribution

    from domains.taskonomy.suite import TaskonomySuite

    truth = write_taskonomy(root, buildings=("hanson", "ihlen", "wiconisco"), points=2, views=2, size=16)
    split = TaskonomySuite(root=root, cache_dir="off", progress=False).split()
    part_of = {b: part for part, names in split.domains["classification"].items() for b in names}
    rng = np.random.default_rng(0)
    for n, (building, point, view) in enumerate(sorted(truth)):
        label = split.classes[part_of[building]][n % 2]
        path = path_for(root, "A", building, "class_scene", point, view, "class_places", "npy")
        np.save(path, soft_distribution(rng, 365, SCENE_INDICES, label))


def write_real(suite: str, root: Path) -> list[str]:
    """Fixture data in the suite's layout, and the --set overrides that fit the fixture's few domains."""
    if suite == "taskonomy":
        write_classifiable_taskonomy(root)
        return ["suite.split=auto"]
    if suite == "diode":
        write_diode(root)
        return ["suite.split=official"]
    if suite == "nyuv2":
        write_nyuv2(root, counts={"train": 12, "val": 4})
        return ["suite.chunk_size=4"]
    write_scannet_vp(root)
    return []


@pytest.mark.slow
@pytest.mark.parametrize("suite", REAL)
def test_shipped_real_spec_runs_on_fixture_data_shrunk_from_the_command_line(
        suite: str, tmp_path: Path, one_thread: None, capsys: pytest.CaptureFixture[str]) -> None:
    sets = write_real(suite, tmp_path / "data")
    shrink = ["network.widths=[4, 4, 8, 8]", "network.decoder_width=4", "training.budget_steps=2",
              "training.pretrain_steps=0", "training.inner_steps=1", "training.meta_batch_size=2",
              "episodes.shots=1", "episodes.queries=1", "episodes.ways=2", "episodes.test_episodes=1",
              "suite.image_size=16", "suite.progress=false", f"suite.cache_dir={tmp_path / 'cache'}"]
    argv = ["run", suite, "--root", str(tmp_path / "data"), "--methods", "fomaml", "--seeds", "1",
            "--executor", "inline", "--no-progress", "--out", str(tmp_path / "run")]
    for item in shrink + sets:
        argv += ["--set", item]
    assert main(argv) == 0, capsys.readouterr().err
    with open_store(tmp_path / "run") as store:
        manifest = store.manifest()
        assert manifest["spec"]["suite"]["root"] == str(tmp_path / "data")
        assert manifest["spec"]["training"]["budget_steps"] == 2
        assert set(store.metric_frame()["task"]) == set(load_spec(suite).tasks)


def test_specs_lists_every_shipped_spec_and_prints_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["specs"]) == 0
    out = capsys.readouterr().out
    for name in SHIPPED:
        assert f"\n{name} " in out
    assert "--root DIR (mtml-bench download diode)" in out
    assert main(["specs", "diode"]) == 0
    text = capsys.readouterr().out
    assert text == shipped_path("diode").read_text() and parse_spec(tomllib.loads(text)).name == "diode"
    assert main(["specs", "smoke", "--path"]) == 0
    assert capsys.readouterr().out.strip() == str(shipped_path("smoke"))


def test_specs_with_an_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["specs", "smok"]) == 2
    assert one_error_line(capsys) == ("error: no shipped spec 'smok'; shipped: " + ", ".join(SHIPPED) +
                                      ". (A TOML file of your own is run by its path: mtml-bench run FILE.toml)")


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import metadata

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"mtml-bench {metadata.version('mtml-bench')}"


def test_mtml_cache_moves_every_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from domains.realdata_cache import default_cache_dir as realdata_cache
    from domains.synthrooms.cache import default_cache_dir as synthrooms_cache

    monkeypatch.setenv("MTML_CACHE", str(tmp_path / "c"))
    assert synthrooms_cache() == tmp_path / "c" / "synthrooms"
    assert realdata_cache() == tmp_path / "c" / "realdata"
    monkeypatch.delenv("MTML_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert synthrooms_cache() == tmp_path / "x" / "mtml-bench" / "synthrooms"


def test_set_errors_are_spec_errors() -> None:
    with pytest.raises(SpecError, match="--set training.meta_batch_size=0: spec field 'training.meta_batch_size'"):
        apply_overrides(load_spec(MICRO), ["training.meta_batch_size=0"])
