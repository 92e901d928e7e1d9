"""The one place that knows about devices: resolution, synchronisation, memory.

Everything else receives a ``torch.device`` and stays device-agnostic, so a
``--device cuda`` run changes nothing but this module's answers.
"""

from __future__ import annotations

import resource
import sys

import torch


class DeviceError(ValueError):
    """A device that was asked for and is not there."""


def resolve_device(name: str) -> torch.device:
    """'cpu', 'cuda', 'cuda:1' or 'auto' -> a torch.device that exists, or a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"device '{name}' is not a torch device name; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device '{name}' was requested but CUDA is not available here; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise DeviceError(f"device type '{device.type}' is not supported; use cpu or cuda")
    return device


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels so that a timer reads finished work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_bytes(device: torch.device) -> int:
    """Peak allocated bytes on GPU since the last reset; on CPU the process's max RSS (never reset)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.current_device()} {torch.cuda.get_device_name(device)}"
    return "cpu"
