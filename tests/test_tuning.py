"""Tuning gives every method the same candidates and episodes, looks only at meta-val, and says how it chose."""

from __future__ import annotations

import math
import re

import pytest
import torch
from _baseline_toys import toy_config, toy_sampler

from bench.spec import tomllib
from bench.tuning import Scorer, SearchSpace, Trial, TuningError, mean_ranks, tune
from domains.episodes import Episode, EpisodeSampler
from domains.tasks import TASK_NAMES
from methods.losses import task_loss
from methods.registry import METHODS

pytestmark = pytest.mark.usefixtures("one_thread")


def _loss_scorer() -> Scorer:
    """A stand-in for the benchmark metrics: accuracy for classification, the training loss elsewhere."""

    def evaluate(task: str, pred: torch.Tensor, batch, ways: int | None = None) -> dict[str, float]:
        if task == "classification":
            return {"accuracy": float((pred.argmax(1) == batch.targets).float().mean())}
        return {"loss": float(task_loss(task, pred, batch))}

    primary = {t: ("accuracy" if t == "classification" else "loss") for t in TASK_NAMES}
    return Scorer(evaluate, primary, {t: t == "classification" for t in TASK_NAMES})


class StreamRecorder(EpisodeSampler):
    def __init__(self) -> None:
        base = toy_sampler()
        super().__init__(base.suite, base.split, base.shape)
        self.keys: list[tuple] = []

    def episode(self, stream: str, task: str, domain: str, seed_index: int, episode_index: int) -> Episode:
        self.keys.append((stream, task, domain, seed_index, episode_index))
        return super().episode(stream, task, domain, seed_index, episode_index)


def _factory(name: str):
    return lambda config, seed_index: METHODS.get(name)(config, TASK_NAMES, torch.device("cpu"), seed=seed_index)


@pytest.mark.parametrize(("table", "message"), [
    ({"trials": 2, "inner_lr": [0.1], "momentum": [0.9]}, "unknown key.*momentum"),
    ({"trials": 2}, "searches nothing"),
    ({"trials": 2, "inner_lr": []}, "inner_lr must be a non-empty list"),
    ({"trials": 2, "outer_lr": [0.001, -1.0]}, "outer_lr must be a non-empty list of positive"),
    ({"inner_lr": [0.1]}, "needs 'trials'"),
    ({"trials": 0, "inner_lr": [0.1]}, "trials must be an integer >= 1"),
    ({"trials": 2, "inner_lr": [0.1], "steps": 2.5}, "steps must be an integer"),
])
def test_bad_tuning_tables_are_named(table: dict, message: str) -> None:
    with pytest.raises(TuningError, match=message):
        SearchSpace.from_table(table)


def test_candidates_depend_on_the_tuning_seed_only() -> None:
    table = {"trials": 3, "seed": 4, "inner_lr": [0.01, 0.03, 0.1, 0.3], "outer_lr": [1e-4, 1e-3, 1e-2]}
    space = SearchSpace.from_table(table)
    first = space.candidates()
    assert len(first) == 3 and len({tuple(sorted(c.items())) for c in first}) == 3
    assert SearchSpace.from_table(table).candidates() == first
    assert all(c["inner_lr"] in table["inner_lr"] and c["outer_lr"] in table["outer_lr"] for c in first)
    others = [SearchSpace.from_table(table | {"seed": s}).candidates() for s in range(5, 10)]
    assert any(o != first for o in others)
    whole = SearchSpace.from_table(table | {"trials": 50}).candidates()
    assert len(whole) == 12 and space.grid_size() == 12
    assert "seeded random search (seed 4), 3 of 12 grid points" in space.describe()


def test_ranks_follow_each_metric_direction_and_put_failures_last() -> None:
    trials = [Trial({"inner_lr": 0.1}, {"classification": 0.8, "depth": 0.30}),
              Trial({"inner_lr": 0.2}, {"classification": 0.6, "depth": 0.10}),
              Trial({"inner_lr": 0.3}, failure="diverged"),
              Trial({"inner_lr": 0.4}, {"classification": 0.8, "depth": 0.20})]
    ranks = mean_ranks(trials, ["classification", "depth"], {"classification": True, "depth": False})
    # classification (higher better): 0.8, 0.8 tie at 1.5; 0.6 -> 3; failed -> 4.
    # depth (lower better): 0.10 -> 1, 0.20 -> 2, 0.30 -> 3, failed -> 4.
    assert ranks == [pytest.approx((1.5 + 3) / 2), pytest.approx((3 + 1) / 2), 4.0, pytest.approx((1.5 + 2) / 2)]


def test_tune_scores_meta_val_only_survives_divergence_and_writes_a_spec_snippet() -> None:
    space = SearchSpace.from_table({"trials": 3, "inner_lr": [0.02, 1e30], "outer_lr": [1e-3], "steps": 1,
                                    "val_episodes": 1})
    sampler = StreamRecorder()
    result = tune("fomaml", _factory("fomaml"), toy_config(), sampler, space, _loss_scorer(), progress=False)
    assert [t.values["inner_lr"] for t in result.trials] == [0.02, 1e30]
    diverged = result.trials[1]
    assert diverged.failure is not None and "diverged" in diverged.failure and not diverged.scores
    assert result.best.values == {"inner_lr": 0.02, "outer_lr": 1e-3}
    assert set(result.best.scores) == set(TASK_NAMES) and all(math.isfinite(v) for v in result.best.scores.values())
    assert {k[0] for k in sampler.keys} == {"train", "val"}  # meta-test domains are never drawn
    scored = {(k[1], k[2]) for k in sampler.keys if k[0] == "val"}
    assert scored == {(t, d) for t in TASK_NAMES for d in ("v0", "v1")}
    snippet = tomllib.loads(result.toml("bench/specs/smoke.toml"))
    section = snippet["methods"]["fomaml"]
    assert section["inner_lr"] == 0.02 and section["outer_lr"] == 1e-3
    assert "meta-val" in section["tuned"] and "1 of 2 trials diverged" in section["tuned"]
    assert "<- chosen" in result.table()


def test_every_method_is_tuned_on_the_same_candidates_and_episodes() -> None:
    space = SearchSpace.from_table({"trials": 2, "inner_lr": [0.01, 0.05], "steps": 1, "val_episodes": 1})
    seen = {}
    for name in ("maml", "multitask"):
        sampler = StreamRecorder()
        result = tune(name, _factory(name), toy_config(), sampler, space, _loss_scorer(), progress=False)
        seen[name] = ([t.values for t in result.trials], sampler.keys)
    assert seen["maml"] == seen["multitask"]
    snippet = tune("maml-higher", _factory("maml-higher"), toy_config(), toy_sampler(),
                   SearchSpace.from_table({"trials": 1, "inner_lr": [0.05], "steps": 1, "val_episodes": 1}),
                   _loss_scorer(), progress=False).toml()
    assert snippet.startswith("[methods.maml-higher]\n")  # a bare key, as the shipped specs write it
    assert tomllib.loads(snippet)["methods"]["maml-higher"]["inner_lr"] == 0.05


def test_all_candidates_diverging_is_an_error() -> None:
    space = SearchSpace.from_table({"trials": 1, "inner_lr": [1e30], "steps": 1, "val_episodes": 1})
    with pytest.raises(TuningError, match="every candidate for 'maml' diverged"):
        tune("maml", _factory("maml"), toy_config(), toy_sampler(), space, _loss_scorer(),
             progress=False)


SPEC_HEAD = """
name = "tune-toy"
seeds = 1
tasks = ["classification", "depth", "normals", "vanishing_point"]
[suite]
name = "toy"
[episodes]
shots = 2
queries = 3
ways = 3
[network]
widths = [3, 4, 4, 5]
decoder_width = 3
[training]
inner_steps = 1
budget_steps = 2
[runtime]
plugins = ["_baseline_toys"]
"""
TUNING = """
[tuning]
trials = 2
seed = 1
inner_lr = [0.01, 0.1]
outer_lr = [0.001]
steps = 1
val_episodes = 1
"""
METHOD_TABLES = "\n[methods.maml]\n[methods.anil]\n"


def _run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    import argparse

    from bench import cli_tune

    parser = argparse.ArgumentParser()
    cli_tune.add_arguments(parser)
    code = cli_tune.run(parser.parse_args(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_tunes_every_spec_method_and_its_snippet_pastes_into_the_spec(tmp_path, capsys) -> None:
    from bench.spec import parse_spec

    spec_path = tmp_path / "toy.toml"
    spec_path.write_text(SPEC_HEAD + METHOD_TABLES + TUNING)
    out_path = tmp_path / "tuned.toml"
    code, out, err = _run_cli([str(spec_path), "--no-progress", "--device", "cpu", "--out", str(out_path)], capsys)
    assert code == 0, err
    assert out_path.read_text() == out
    tuned = tomllib.loads(out)["methods"]
    assert set(tuned) == {"maml", "anil"}
    for section in tuned.values():
        assert section["inner_lr"] in (0.01, 0.1) and section["outer_lr"] == 0.001
        assert "spec 'tune-toy'" in section["tuned"] and "full grid search, 2 points" in section["tuned"]
    assert "<- chosen" in err and "abs_rel" in err  # the trial table, scored with the benchmark's metrics
    pasted = parse_spec(tomllib.loads(SPEC_HEAD + TUNING + out))
    assert pasted.method("maml").inner_lr == tuned["maml"]["inner_lr"] and pasted.method("maml").tuned


@pytest.mark.parametrize(("text", "argv", "message"), [
    (SPEC_HEAD + METHOD_TABLES, [], "has no \\[tuning\\] table"),
    (SPEC_HEAD + METHOD_TABLES + TUNING, ["--method", "metasgd"], "method 'metasgd' is not in spec"),
    (SPEC_HEAD + METHOD_TABLES + TUNING, ["--trials", "0"], "trials must be an integer >= 1"),
])
def test_cli_user_errors_are_one_line(tmp_path, capsys, text: str, argv: list[str], message: str) -> None:
    spec_path = tmp_path / "toy.toml"
    spec_path.write_text(text)
    code, out, err = _run_cli([str(spec_path), "--no-progress", *argv], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert re.search(message, err)


# ---- the schedule's shape: every trial reaches stage 2 ------------------------------------------
def test_trials_scale_stage_one_with_their_length() -> None:
    space = SearchSpace.from_table({"trials": 1, "inner_lr": [0.1], "steps": 500})
    assert space.trial_stage_one(1000, 5000) == 100  # paper: a fifth of the budget, a fifth of each trial
    assert space.trial_stage_one(0, 5000) == 0
    assert SearchSpace.from_table({"trials": 1, "inner_lr": [0.1], "steps": 2}).trial_stage_one(8, 30) == 1


@pytest.mark.parametrize(("training", "steps"), [
    ("pretrain_steps = 8\nbudget_steps = 30", 1),  # stage 1 scaled to at least one step: a 1-step trial has no stage 2
    ("pretrain_steps = 50\nbudget_seconds = 60.0", 40),  # a time budget keeps stage 1 whole: longer than the trial
])
def test_the_guard_rejects_a_trial_shorter_than_stage_one(training: str, steps: int) -> None:
    from bench.spec import SpecError, parse_spec

    text = SPEC_HEAD.replace("budget_steps = 2", training) + METHOD_TABLES + TUNING.replace("steps = 1", f"steps = {steps}")
    with pytest.raises(SpecError) as err:
        parse_spec(tomllib.loads(text))
    message = str(err.value)
    assert "[tuning] steps" in message and "training.pretrain_steps" in message and "no second stage" in message
    assert "\n" not in message


def test_tune_gives_every_trial_the_scaled_stage_one() -> None:
    space = SearchSpace.from_table({"trials": 1, "inner_lr": [0.05], "steps": 4, "val_episodes": 1})
    seen: list[int] = []

    def factory(config, seed_index: int):
        seen.append(config.pretrain_steps)
        return _factory("afr")(config, seed_index)

    import dataclasses
    base = dataclasses.replace(toy_config(), pretrain_steps=10)
    tune("afr", factory, base, toy_sampler(), space, _loss_scorer(), progress=False, budget_steps=20)
    assert seen == [2]  # half the run's budget is stage 1, so half of each 4-step trial


def test_cli_tunes_a_classification_only_control_on_its_task(tmp_path, capsys) -> None:
    spec_path = tmp_path / "toy.toml"
    spec_path.write_text(SPEC_HEAD + "\n[methods.maml]\n[methods.protonet]\n" + TUNING)
    code, out, err = _run_cli([str(spec_path), "--no-progress", "--device", "cpu"], capsys)
    assert code == 0, err
    assert set(tomllib.loads(out)["methods"]) == {"maml", "protonet"}
    protonet_table = err.split("\nprotonet:")[1]
    assert "classification:accuracy" in protonet_table and "abs_rel" not in protonet_table


def test_cli_keeps_each_snippet_when_a_later_method_fails(tmp_path, capsys, monkeypatch) -> None:
    import bench.tuning

    real = bench.tuning.tune

    def fail_on_anil(name, *args, **kwargs):
        if name == "anil":
            raise TuningError("every candidate for 'anil' diverged (planted)")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(bench.tuning, "tune", fail_on_anil)
    spec_path = tmp_path / "toy.toml"
    spec_path.write_text(SPEC_HEAD + METHOD_TABLES + TUNING)
    out_path = tmp_path / "tuned.toml"
    code, out, err = _run_cli([str(spec_path), "--no-progress", "--device", "cpu", "--out", str(out_path)], capsys)
    assert code == 2 and "error: every candidate for 'anil' diverged" in err
    assert set(tomllib.loads(out_path.read_text())["methods"]) == {"maml"}  # maml's result is not lost
