"""Environment styles: everything that makes one SynthRooms domain differ from another.

An environment is the synthetic counterpart of a Taskonomy building. Its style
is drawn from its own seed alone (room size, palette, texture families,
lighting, background-furniture mix, field of view, camera height), so any
environment can be regenerated on its own and two environments genuinely
differ in appearance, geometry statistics and camera statistics.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from domains.synthrooms.archetypes import BACKGROUND

TEXTURES: tuple[str, ...] = ("plain", "checker", "stripes", "tiles", "noise", "wood")


def hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.asarray(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float64)


@dataclass(frozen=True)
class EnvStyle:
    """One environment's style. Surfaces are ordered x=0, x=W, y=0, y=D walls, floor, ceiling."""

    index: int
    room: tuple[float, float, float]  # W, D, H metres
    surface_albedo: np.ndarray  # (6, 3)
    surface_texture: np.ndarray  # (6,) index into TEXTURES
    surface_freq: np.ndarray  # (6,) texture cycles per metre
    surface_amp: np.ndarray  # (6,) texture contrast
    furniture_albedo: np.ndarray  # (P, 3) desaturated background-furniture palette
    furniture_prior: np.ndarray  # (len(BACKGROUND),) archetype mix of background furniture
    furniture_count: tuple[int, int]  # min, max background pieces
    light_rel: np.ndarray  # (L, 3) light positions as fractions of the room box
    light_colour: np.ndarray  # (L, 3)
    ambient: np.ndarray  # (3,)
    falloff: float  # k in 1 / (1 + k d^2)
    fov_mean_deg: float
    cam_height: tuple[float, float]  # range of camera heights, metres
    exposure: float
    noise_std: float  # sensor noise, in [0, 1] intensity units


def draw_style(root_seed: int, index: int) -> EnvStyle:
    """The style of environment ``index`` under ``root_seed``; depends on nothing else."""
    rng = np.random.default_rng([root_seed, index, 0x5EED])
    w, d, h = rng.uniform(3.5, 8.0), rng.uniform(3.5, 8.0), rng.uniform(2.5, 3.5)
    base_hue = rng.uniform()
    # walls share a hue family; floor and ceiling have their own; all desaturated so the
    # saturated class colours stand out.
    wall = hsv(base_hue + rng.normal(0, .04), rng.uniform(.05, .4), rng.uniform(.55, .95))
    walls = [np.clip(wall * rng.uniform(.88, 1.08), 0, 1) for _ in range(4)]
    floor = hsv(rng.uniform(), rng.uniform(.1, .45), rng.uniform(.3, .75))
    ceiling = hsv(base_hue, rng.uniform(0, .12), rng.uniform(.75, 1.0))
    albedo = np.stack([*walls, floor, ceiling])
    wall_tex, floor_tex = rng.integers(len(TEXTURES)), rng.integers(1, len(TEXTURES))
    texture = np.array([wall_tex] * 4 + [floor_tex, 0])
    freq = np.array([rng.uniform(1.0, 4.0)] * 4 + [rng.uniform(1.0, 3.5), 1.0])
    amp = np.array([rng.uniform(.08, .3)] * 4 + [rng.uniform(.15, .4), 0.0])
    n_pal = 4
    furniture = np.stack([hsv(rng.uniform(), rng.uniform(.0, .3), rng.uniform(.25, .8)) for _ in range(n_pal)])
    prior = rng.dirichlet(np.full(len(BACKGROUND), 0.7))
    lo = int(rng.integers(1, 4))
    count = (lo, lo + int(rng.integers(1, 4)))
    n_lights = int(rng.integers(1, 3))
    light_rel = np.column_stack([rng.uniform(.2, .8, n_lights), rng.uniform(.2, .8, n_lights),
                                 np.full(n_lights, .92)])
    temp = rng.uniform(-1, 1)  # warm (+) to cool (-)
    light_colour = np.stack([np.array([1 + .18 * temp, 1.0, 1 - .18 * temp]) * rng.uniform(.8, 1.2)
                             for _ in range(n_lights)]) * (1.6 / n_lights)
    ambient = np.full(3, rng.uniform(.18, .4)) * np.array([1 + .08 * temp, 1.0, 1 - .08 * temp])
    fov = rng.uniform(45.0, 75.0)
    cam_mid = rng.uniform(1.25, 1.65)
    return EnvStyle(
        index=index, room=(float(w), float(d), float(h)), surface_albedo=albedo, surface_texture=texture,
        surface_freq=freq, surface_amp=amp, furniture_albedo=furniture, furniture_prior=prior,
        furniture_count=count, light_rel=light_rel, light_colour=light_colour, ambient=ambient,
        falloff=float(rng.uniform(.02, .08)), fov_mean_deg=float(fov), cam_height=(cam_mid - .15, cam_mid + .15),
        exposure=float(rng.uniform(.9, 1.15)), noise_std=float(rng.uniform(.005, .02)),
    )
