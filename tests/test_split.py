"""Split manifests: disjoint, hashed files written and verified by 'mtml-bench split'."""

from __future__ import annotations

import json

import pytest

from bench.cli import main
from domains.suite import SPLIT_PARTS, DataError, Split
from domains.synthrooms.suite import PROFILES, default_split

TINY = ["--option", "profile=tiny"]


@pytest.mark.parametrize("profile", ["tiny", "smoke", "standard"])
def test_split_sets_are_disjoint(profile) -> None:
    split = default_split(PROFILES[profile])
    split.validate()
    for task in split.tasks():
        parts = [set(split.domains[task][p]) for p in SPLIT_PARTS]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    classes = [set(split.classes[p]) for p in SPLIT_PARTS]
    assert not (classes[0] & classes[1] or classes[0] & classes[2] or classes[1] & classes[2])
    # an environment held out for one task is held out for every task (no leak through another task)
    held_out = {d for t in split.tasks() for p in ("meta_val", "meta_test") for d in split.domains[t][p]}
    trained = {d for t in split.tasks() for d in split.domains[t]["meta_train"]}
    assert not held_out & trained


def test_split_depends_on_the_seed() -> None:
    from dataclasses import replace

    a, b = default_split(PROFILES["standard"]), default_split(replace(PROFILES["standard"], seed=1))
    assert a.sha256 != b.sha256 and a.domains["depth"]["meta_test"] != b.domains["depth"]["meta_test"]
    assert a.sha256 == default_split(PROFILES["standard"]).sha256


def test_cli_writes_and_verifies(tmp_path, capsys) -> None:
    out = tmp_path / "split.json"
    assert main(["split", "synthrooms", "--out", str(out), *TINY]) == 0
    written = json.loads(out.read_text())
    split = Split.read(out)
    assert written["sha256"] == split.sha256 == default_split(PROFILES["tiny"]).sha256
    assert main(["split", "--verify", str(out)]) == 0
    assert "ok:" in capsys.readouterr().out
    assert main(["split", "--verify", str(out), "synthrooms", *TINY]) == 0
    # a different suite configuration is a different split
    assert main(["split", "--verify", str(out), "synthrooms", "--option", "profile=smoke"]) == 2
    assert "not the one suite 'synthrooms' uses" in capsys.readouterr().err


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_cli_refuses_an_edited_manifest(tmp_path, capsys) -> None:
    out = tmp_path / "split.json"
    main(["split", "synthrooms", "--out", str(out), *TINY])
    capsys.readouterr()
    data = json.loads(out.read_text())
    data["domains"]["depth"]["meta_test"].append(data["domains"]["depth"]["meta_train"][0])
    out.write_text(json.dumps(data))
    assert main(["split", "--verify", str(out)]) == 2
    assert "does not match its content" in _one_line_error(capsys)


def test_overlap_is_refused_even_with_a_matching_hash(tmp_path) -> None:
    split = default_split(PROFILES["tiny"])
    domains = {t: {p: list(v) for p, v in parts.items()} for t, parts in split.domains.items()}
    domains["depth"]["meta_test"].append(domains["depth"]["meta_train"][0])
    bad = Split(split.suite, split.version, domains, split.classes, split.class_names, split.params)
    path = tmp_path / "bad.json"
    bad.write(path)
    with pytest.raises(DataError, match="in both meta_train and meta_test"):
        Split.read(path)


@pytest.mark.parametrize("argv,message", [
    (["split", "--verify", "missing.json"], "does not exist"),
    (["split", "synthrooms"], "split needs SUITE and --out FILE"),
    (["split", "synthroom", "--out", "x.json"], "Did you mean 'synthrooms'"),
    (["split", "synthrooms", "--out", "x.json", "--option", "profile"], "is not KEY=VALUE"),
    (["split", "synthrooms", "--out", "x.json", "--option", "profile=huge"], "no profile 'huge'"),
])
def test_cli_user_errors_are_one_line(tmp_path, monkeypatch, capsys, argv, message) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in _one_line_error(capsys)
