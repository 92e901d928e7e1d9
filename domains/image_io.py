"""Decoding real-data files into arrays, with errors that name the file and the fix.

Every real-data loader reads PNGs and ``.npy`` files; doing it here means a
truncated download or a wrong-dtype export produces the same one-line
``DataError`` in every suite instead of a Pillow or numpy traceback.
Resizing also lives here so that every suite maps files to tensors the same way:
images are resampled with antialiasing, dense labels with nearest neighbour
(so that an invalid pixel is never blended into a valid one).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from domains.suite import DataError

_REDOWNLOAD = "re-download or re-extract it, or set skip_unreadable = true to skip such samples"
_EIGHT_BIT_MODES = ("RGB", "RGBA", "L", "LA", "P", "CMYK", "YCbCr")


def _open_fully(path: Path) -> Image.Image:
    """Open and decode the whole image: Pillow opens lazily, so truncation only shows on load()."""
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError:
        raise DataError(f"{path}: file does not exist; restore it or re-extract the archive") from None
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise DataError(f"{path}: cannot decode image ({err}); the file is truncated or corrupt: {_REDOWNLOAD}") from None
    return image


def read_rgb(path: Path) -> np.ndarray:
    """An 8-bit colour image as HxWx3 uint8 (alpha dropped, greyscale and palettes expanded)."""
    image = _open_fully(path)
    if image.mode not in _EIGHT_BIT_MODES:
        raise DataError(f"{path}: image mode {image.mode} is not an 8-bit colour image; "
                        f"export RGB as an 8-bit PNG")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def read_rgb8_strict(path: Path, what: str) -> np.ndarray:
    """An 8-bit 3-channel PNG whose channels encode numbers (e.g. normals): no mode conversion allowed."""
    image = _open_fully(path)
    if image.mode != "RGB":
        raise DataError(f"{path}: {what} must be an 8-bit RGB PNG, found mode {image.mode}; "
                        f"re-export it as 8-bit RGB")
    return np.asarray(image, dtype=np.uint8)


def read_png16(path: Path, what: str) -> np.ndarray:
    """A 16-bit greyscale PNG as HxW uint16; an 8-bit or colour file is a wrong-dtype error."""
    image = _open_fully(path)
    if image.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(image, dtype=np.uint16)
    if image.mode == "I":  # some Pillow versions open 16-bit greyscale PNGs as 32-bit 'I'
        values = np.asarray(image)
        if values.min() >= 0 and values.max() <= 65535:
            return values.astype(np.uint16)
    raise DataError(f"{path}: {what} must be a 16-bit greyscale PNG (uint16), found mode {image.mode}; "
                    f"re-export it as 16-bit")


PICKLE_REFUSED = ("pickled object arrays are refused because unpickling runs code stored in the file; "
                  "re-save it as a plain numeric array (np.save of a float or integer array)")


def is_pickle_refusal(err: BaseException) -> bool:
    """numpy's error for an object (pickled) array read with ``allow_pickle=False``."""
    return isinstance(err, ValueError) and "allow_pickle" in str(err)


def load_npy(path: Path, what: str, kinds: str = "f") -> np.ndarray:
    """An ``.npy`` array whose dtype kind is one of ``kinds`` ('f' float, 'u'/'i' integer, 'b' bool)."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file does not exist; restore it or re-extract the archive") from None
    except ValueError as err:
        if is_pickle_refusal(err):
            raise DataError(f"{path}: {what} is a pickled object array, not a numeric one: {PICKLE_REFUSED}") from None
        raise DataError(f"{path}: cannot read {what} ({err}); the file is truncated or corrupt: {_REDOWNLOAD}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: cannot read {what} ({err}); the file is truncated or corrupt: {_REDOWNLOAD}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in kinds:
        raise DataError(f"{path}: {what} has dtype {getattr(array, 'dtype', type(array).__name__)}, expected "
                        f"{_kind_words(kinds)}; re-export it with that dtype")
    return array


def _kind_words(kinds: str) -> str:
    words = {"f": "float", "u": "unsigned int", "i": "int", "b": "bool"}
    return " or ".join(words[k] for k in kinds)


def check_shape(array: np.ndarray, path: Path, what: str, expected: tuple[int | None, ...]) -> None:
    """``expected`` may hold None for a free axis; raises a DataError naming the file."""
    ok = array.ndim == len(expected) and all(e is None or a == e for a, e in zip(array.shape, expected))
    if not ok:
        shown = "x".join("?" if e is None else str(e) for e in expected)
        raise DataError(f"{path}: {what} has shape {'x'.join(map(str, array.shape))}, expected {shown}; "
                        f"re-export it with that shape")


# ---- resizing ---------------------------------------------------------------------------------------


def parse_image_size(size: int | str | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``64`` or ``"64"`` -> (64, 64); ``[48, 64]`` or ``"48x64"`` -> (48, 64) as (height, width)."""
    if isinstance(size, str):
        parts = size.lower().replace(",", "x").split("x")
        if all(p.strip().isdigit() for p in parts) and len(parts) in (1, 2):
            size = int(parts[0]) if len(parts) == 1 else [int(p) for p in parts]
    if isinstance(size, int) and not isinstance(size, bool):
        pair = (size, size)
    elif isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, int) for s in size):
        pair = (int(size[0]), int(size[1]))
    else:
        raise DataError(f"image_size {size!r} is not an int, [height, width] or 'HxW'; set e.g. image_size = 64")
    if min(pair) < 1:
        raise DataError(f"image_size {size!r} must be positive; set e.g. image_size = 64")
    return pair


def _crop_to_aspect(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Centre-crop CHW to the target aspect ratio so resizing never stretches the scene."""
    h, w = x.shape[-2:]
    th, tw = size
    if h * tw > w * th:  # too tall
        new_h = max(1, round(w * th / tw))
        top = (h - new_h) // 2
        return x[..., top:top + new_h, :]
    if h * tw < w * th:  # too wide
        new_w = max(1, round(h * tw / th))
        left = (w - new_w) // 2
        return x[..., :, left:left + new_w]
    return x


def resize_scale(source_hw: tuple[int, int], size: tuple[int, int], keep_aspect: bool = True) -> tuple[float, float]:
    """(y, x) factors from source pixels to loaded pixels, matching ``fit_image`` (centre crop, then resize).

    Intrinsics scale by these factors (a centre crop keeps the principal point
    centred), which is what drawing vanishing points on a loaded image needs.
    """
    h, w = source_hw
    th, tw = size
    if keep_aspect:
        if h * tw > w * th:
            h = max(1, round(w * th / tw))
        elif h * tw < w * th:
            w = max(1, round(h * tw / th))
    return th / h, tw / w


def image_size_of(path: Path) -> tuple[int, int]:
    """(height, width) from the image header, without decoding the pixels."""
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except (OSError, UnidentifiedImageError) as err:
        raise DataError(f"{path}: cannot read the image header ({err}); re-extract the file") from None


def fit_image(rgb: np.ndarray, size: tuple[int, int], keep_aspect: bool = True) -> torch.Tensor:
    """HxWx3 (uint8, or float in [0,1]) -> 3xHxW uint8 at ``size``.

    The result is quantised to uint8 on purpose: the per-domain cache stores
    uint8, and quantising on every path keeps cached and uncached loads
    bit-identical (and the cache four times smaller).
    """
    x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float()  # copy: Pillow arrays are read-only
    if rgb.dtype == np.uint8:
        x = x / 255.0
    if keep_aspect:
        x = _crop_to_aspect(x, size)
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(x[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def fit_dense(values: np.ndarray, mask: np.ndarray, size: tuple[int, int],
              keep_aspect: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """HxW or HxWxC label + HxW bool mask -> CxHxW float32 + 1xHxW bool, nearest neighbour."""
    v = torch.from_numpy(np.array(values, dtype=np.float32))
    v = v[None] if v.ndim == 2 else v.permute(2, 0, 1)
    m = torch.from_numpy(np.array(mask, dtype=bool))[None]
    if keep_aspect:
        v, m = _crop_to_aspect(v, size), _crop_to_aspect(m, size)
    if tuple(v.shape[-2:]) != size:
        v = F.interpolate(v[None], size=size, mode="nearest-exact")[0]
        m = F.interpolate(m[None].float(), size=size, mode="nearest-exact")[0] > 0.5
    v = torch.where(m, v, torch.zeros_like(v))
    return v, m


def unit_normals(normals: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Renormalise 3xHxW normals (8-bit quantisation leaves |n| != 1); near-zero vectors become invalid."""
    norm = normals.norm(dim=0, keepdim=True)
    mask = mask & (norm > eps)
    return torch.where(mask, normals / norm.clamp_min(eps), torch.zeros_like(normals)), mask
