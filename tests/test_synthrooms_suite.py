"""The SynthRooms suite: profiles, layouts, class sets per split part, determinism and the on-disk cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from domains.catalog import SUITES
from domains.suite import DataError
from domains.synthrooms.archetypes import N_CLASSES
from domains.synthrooms.suite import PROFILES, SynthRoomsConfig, SynthRoomsSuite, default_split
from domains.tasks import GEOMETRIC_TASKS

SHOTS, QUERIES, WAYS = 5, 10, 5


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> SynthRoomsSuite:
    suite = SUITES["synthrooms"](profile="tiny", cache_dir=tmp_path_factory.mktemp("cache"), workers=1,
                                 progress=False)
    suite.prepare()
    return suite


@pytest.mark.parametrize("profile", ["tiny", "smoke", "standard"])
def test_every_profile_fills_5_shot_10_query_5_way_episodes(profile) -> None:
    config = PROFILES[profile]
    split = default_split(config)
    assert config.images_per_env >= SHOTS + QUERIES
    assert config.images_per_class >= SHOTS + QUERIES
    for part, classes in split.classes.items():
        assert len(classes) >= WAYS, part
    for task in split.tasks():
        for part, domains in split.domains[task].items():
            assert domains, (task, part)


def test_standard_profile_sizes() -> None:
    config = PROFILES["standard"]
    split = default_split(config)
    assert config.n_envs >= 60 and config.image_size == 32
    for task in GEOMETRIC_TASKS:
        assert len(split.domains[task]["meta_test"]) >= 15
        assert len(split.domains[task]["meta_val"]) >= 1
    assert sum(len(v) for v in split.classes.values()) >= 64 and N_CLASSES >= 64
    assert len(default_split(PROFILES["smoke"]).domains["depth"]["meta_test"]) >= 3
    assert len(default_split(PROFILES["smoke"]).domains["classification"]["meta_test"]) >= 3


def test_layouts_of_every_task(tiny) -> None:
    env = tiny.split().domains["depth"]["meta_test"][0]
    depth, normals, vp = (tiny.load(t, env) for t in ("depth", "normals", "vanishing_point"))
    n, size = PROFILES["tiny"].images_per_env, PROFILES["tiny"].image_size
    assert depth.images.shape == (n, 3, size, size) and depth.images.dtype == torch.float32
    assert 0 <= float(depth.images.min()) and float(depth.images.max()) <= 1
    assert depth.targets.shape == (n, 1, size, size) and depth.targets.dtype == torch.float32
    assert depth.mask.shape == (n, 1, size, size) and depth.mask.dtype == torch.bool
    assert normals.targets.shape == (n, 3, size, size)
    torch.testing.assert_close(normals.targets.norm(dim=1), torch.ones(n, size, size), atol=1e-5, rtol=0)
    assert vp.targets.shape == (n, 3, 3) and vp.mask is None
    assert depth.images is normals.images is vp.images  # one image set serves the geometric tasks
    assert float(depth.targets.min()) > 0


def test_classification_domains_render_the_classes_of_their_part(tiny) -> None:
    split = tiny.split()
    for part in ("meta_train", "meta_val", "meta_test"):
        for env in split.domains["classification"][part]:
            data = tiny.load("classification", env)
            assert data.targets.dtype == torch.int64
            present, counts = np.unique(data.targets.numpy(), return_counts=True)
            assert sorted(present.tolist()) == sorted(split.classes[part])
            assert counts.min() >= PROFILES["tiny"].images_per_class


def test_two_suites_give_identical_tensors(tiny, tmp_path) -> None:
    other = SUITES["synthrooms"](profile="tiny", cache_dir=tmp_path, workers=2, progress=False)  # parallel
    assert other.split().sha256 == tiny.split().sha256
    for task in ("classification", "depth", "normals", "vanishing_point"):
        env = tiny.split().domains[task]["meta_test"][0]
        a, b = tiny.load(task, env), other.load(task, env)
        assert torch.equal(a.images, b.images) and torch.equal(a.targets, b.targets)
    files = sorted(p.name for p in tmp_path.rglob("*.npz"))
    assert files == sorted(p.name for p in tiny.cache_dir.rglob("*.npz"))
    for name in files:  # byte-identical cache files, whichever process wrote them
        assert next(tmp_path.rglob(name)).read_bytes() == next(tiny.cache_dir.rglob(name)).read_bytes()


def _fresh(cache_dir) -> SynthRoomsSuite:
    config = SynthRoomsConfig(n_envs=3, images_per_env=4, images_per_class=2, class_split=(2, 1, 1),
                              class_envs=(1, 1, 1), image_size=16)
    return SynthRoomsSuite(config, cache_dir=cache_dir, workers=1, progress=False)


def test_corrupt_cache_is_detected_and_rebuilt(tmp_path, capsys) -> None:
    first = _fresh(tmp_path).load("depth", "env000")
    data_file = next(tmp_path.rglob("env000-geometric-*.npz"))
    raw = bytearray(data_file.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data_file.write_bytes(bytes(raw))
    again = _fresh(tmp_path).load("depth", "env000")
    assert "corrupt" in capsys.readouterr().err
    assert torch.equal(first.targets, again.targets) and torch.equal(first.images, again.images)
    data_file.write_bytes(b"truncated")
    assert torch.equal(_fresh(tmp_path).load("depth", "env000").targets, first.targets)


def test_stale_cache_is_detected_and_rebuilt(tmp_path, capsys) -> None:
    first = _fresh(tmp_path).load("normals", "env001")
    meta = next(tmp_path.rglob("env001-geometric-*.json"))
    content = json.loads(meta.read_text())
    content["params"]["count"] = 99  # as if written by other parameters under the same name
    meta.write_text(json.dumps(content))
    again = _fresh(tmp_path).load("normals", "env001")
    assert "stale" in capsys.readouterr().err
    assert torch.equal(first.targets, again.targets)


def test_cache_key_changes_with_parameters(tmp_path) -> None:
    _fresh(tmp_path).load("depth", "env000")
    config = SynthRoomsConfig(n_envs=3, images_per_env=4, images_per_class=2, class_split=(2, 1, 1),
                              class_envs=(1, 1, 1), image_size=32)
    SynthRoomsSuite(config, cache_dir=tmp_path, workers=1, progress=False).load("depth", "env000")
    assert len(list(tmp_path.rglob("env000-geometric-*.npz"))) == 2


def test_bad_options_are_clear_errors(tmp_path) -> None:
    make = SUITES["synthrooms"]
    with pytest.raises(DataError, match="no profile 'huge'"):
        make(profile="huge")
    with pytest.raises(DataError, match="multiple of 16"):
        make(profile="tiny", image_size="30", cache_dir=tmp_path)
    with pytest.raises(DataError, match="does not take option"):
        make(profile="tiny", colour="red")
    with pytest.raises(DataError, match="not an integer"):
        make(profile="tiny", n_envs="many")
    suite = make(profile="tiny", cache_dir=tmp_path, images_per_env="15", progress="false")
    assert suite.config.images_per_env == 15 and suite.progress is False
    with pytest.raises(DataError, match="no domain 'room7'"):
        suite.load("depth", "room7")
    with pytest.raises(DataError, match="not a classification domain"):
        suite.load("classification", suite.split().domains["depth"]["meta_train"][-1])


def test_geometric_views_show_only_classes_of_their_part(tiny) -> None:
    split = tiny.split()
    for part in ("meta_train", "meta_test"):
        for env in split.domains["depth"][part]:
            labels = tiny.rendered(env).labels
            assert set(labels.tolist()) <= set(split.classes[part])


def _generate_in_daemon(cache_dir: str) -> int:
    suite = SUITES["synthrooms"](profile="tiny", cache_dir=cache_dir, workers=2, progress=False, n_envs=3,
                                 images_per_env=2, images_per_class=1)
    return len(suite.load("depth", "env000"))


def test_generation_inside_a_daemonic_worker(tmp_path) -> None:
    """Inside a multiprocessing.Pool worker (daemonic), generation falls back to rendering inline."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_generate_in_daemon, (str(tmp_path),)) == 2
