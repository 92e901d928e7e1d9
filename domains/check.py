"""Scan a real dataset folder the way its loader will read it, before a long run does.

``mtml-bench check SUITE --root DIR`` (``domains.cli_check``) decodes every
sample of every (task, domain) with the suite's own ``list_samples`` and
``decode``, so what it reports is exactly what a run would get: counts per
domain and task, the stored dtypes per file role, value ranges in the
benchmark's units (depth percentiles in metres, normal lengths before
renormalisation, vanishing-direction norms, image value ranges, images per
class), the files that cannot be read and the files the loader would skip
(a label without its image, or the reverse). Anything wrong is a problem;
``check`` exits 2 and lists them.
"""

from __future__ import annotations

import sys
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from domains.realdata import RealSuite, Sample
from domains.suite import DataError

# Median depth (metres) of a domain's valid pixels that the dataset's scenes can have. Indoor data: real
# Taskonomy views have medians of 2.0-5.7 m, NYUv2 rooms 1-10 m; DIODE also has outdoor scans up to ~300 m.
PLAUSIBLE_MEDIAN_DEPTH: dict[str, tuple[float, float]] = {
    "taskonomy": (0.3, 15.0), "nyuv2": (0.3, 15.0), "diode": (0.3, 300.0)}
NORMAL_LENGTH_TOLERANCE = 0.1  # |n| of a valid stored normal: 8-bit encodings give 0.99-1.01
VP_NORM_TOLERANCE = 0.05  # stored vanishing directions are unit vectors


@dataclass
class DomainReport:
    """What one (task, domain) holds, as its loader reads it."""

    task: str
    domain: str
    listed: int = 0
    read: int = 0
    skipped: list[str] = field(default_factory=list)  # files without their partner: the loader leaves them out
    unreadable: list[str] = field(default_factory=list)  # the loader's own one-line error per file
    files: Counter[str] = field(default_factory=Counter)  # "role: format" -> count
    values: dict[str, str] = field(default_factory=dict)  # what -> summary in the benchmark's units
    problems: list[str] = field(default_factory=list)


@dataclass
class CheckReport:
    suite: str
    root: Path
    tasks: tuple[str, ...]
    domains: list[DomainReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # suite-level: split, missing tasks

    def all_problems(self) -> list[str]:
        """Every problem once (a file read by two tasks, e.g. an image, fails for both)."""
        out = list(self.problems)
        for d in self.domains:
            out += d.problems
        return list(dict.fromkeys(out))


def describe_file(path: Path) -> str:
    """The stored format of one file, read from its header only: 'png RGB uint8', 'npy float32 288x384x3'."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".png":
            with Image.open(path) as image:
                dtype = {"I;16": "uint16", "I;16B": "uint16", "I": "int32", "F": "float32"}.get(image.mode, "uint8")
                return f"png {image.mode} {dtype}"
        if suffix == ".npy":
            with open(path, "rb") as f:
                version = np.lib.format.read_magic(f)
                shape, _, dtype = np.lib.format._read_array_header(f, version)  # noqa: SLF001 - header only
            return f"npy {'pickled object' if dtype.hasobject else dtype} {'x'.join(map(str, shape)) or 'scalar'}"
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                keys = sorted(npz.files)
            return f"npz keys {','.join(keys)}"
        if suffix == ".json":
            return "json"
    except (OSError, ValueError, EOFError, SyntaxError, zipfile.BadZipFile):
        return f"{suffix.lstrip('.')} unreadable header"
    return suffix.lstrip(".") or "file"


class _Values:
    """Running collections of decoded values for one (task, domain), summarised at the end."""

    def __init__(self) -> None:
        self.depth: list[np.ndarray] = []
        self.normal_len: list[np.ndarray] = []
        self.vp_norm: list[np.ndarray] = []
        self.labels: list[int] = []
        self.image_low, self.image_high = np.inf, -np.inf
        self.valid_share: list[float] = []
        self.problems: list[str] = []  # per file: a wrong encoding shows in one file, not in a domain's median

    def add(self, task: str, label: Path, image: np.ndarray, target: np.ndarray | int, mask: np.ndarray | None) -> None:
        scale = 255.0 if image.dtype == np.uint8 else 1.0
        self.image_low = min(self.image_low, float(np.min(image)) / scale)
        self.image_high = max(self.image_high, float(np.max(image)) / scale)
        if task == "classification":
            self.labels.append(int(target))  # type: ignore[arg-type]
            return
        target = np.asarray(target)
        if task == "vanishing_point":
            norms = np.linalg.norm(target.reshape(-1, 3), axis=1)
            self.vp_norm.append(norms)
            if np.any(np.abs(norms - 1.0) > VP_NORM_TOLERANCE):
                self.problems.append(f"{label}: vanishing directions with norms {norms.min():.3f}..{norms.max():.3f}, "
                                     f"expected unit vectors")
            return
        assert mask is not None
        self.valid_share.append(float(np.mean(mask)))
        if task == "depth":
            self.depth.append(target[mask].astype(np.float64))
        else:
            lengths = np.linalg.norm(target[mask].astype(np.float64), axis=-1)
            self.normal_len.append(lengths)
            if lengths.size and abs(float(np.median(lengths)) - 1.0) > NORMAL_LENGTH_TOLERANCE:
                self.problems.append(f"{label}: valid normals have median length {float(np.median(lengths)):.3f}, "
                                     f"expected 1 (unit vectors): wrong encoding?")

    def summarise(self, suite: str, report: DomainReport) -> None:
        if report.read == 0:
            return
        report.values["image"] = f"{self.image_low:.3g}..{self.image_high:.3g} (as [0,1])"
        if self.valid_share:
            report.values["valid pixels"] = f"{100 * float(np.mean(self.valid_share)):.0f}%"
        where = f"domain '{report.domain}' (task {report.task})"
        if self.labels:
            classes, counts = np.unique(self.labels, return_counts=True)
            report.values["classes"] = (f"{len(classes)} classes, {int(counts.min())}-{int(counts.max())} "
                                        f"images per class")
        if self.depth:
            depth = np.concatenate(self.depth)
            if depth.size:
                p5, p50, p95 = np.percentile(depth, [5, 50, 95])
                report.values["depth m p5/p50/p95"] = f"{p5:.3g}/{p50:.3g}/{p95:.3g}"
                low, high = PLAUSIBLE_MEDIAN_DEPTH.get(suite, (0.05, 1000.0))
                if not low <= p50 <= high:
                    report.problems.append(f"{where}: median depth {p50:.3g} m is outside {low:g}-{high:g} m, "
                                           f"implausible for this dataset: is the depth unit right?")
                if np.any(depth <= 0):
                    report.problems.append(f"{where}: valid depth pixels <= 0 m")
        if self.normal_len:
            lengths = np.concatenate(self.normal_len)
            if lengths.size:
                p1, p50, p99 = np.percentile(lengths, [1, 50, 99])
                report.values["normal length p1/p50/p99"] = f"{p1:.3f}/{p50:.3f}/{p99:.3f}"
        if self.vp_norm:
            norms = np.concatenate(self.vp_norm)
            report.values["VP norm min/max"] = f"{norms.min():.3f}/{norms.max():.3f}"
        report.problems += self.problems


def check_suite(suite: RealSuite, tasks: tuple[str, ...] | None = None, max_per_domain: int | None = None,
                progress: bool | None = None) -> CheckReport:
    """Decode what the loader would decode and report per (task, domain); never raises DataError."""
    chosen = tuple(tasks) if tasks else suite.tasks
    report = CheckReport(suite.name, suite.root, chosen)
    lacking = [t for t in chosen if t not in suite.tasks]
    if lacking or not chosen:
        try:
            suite.require_tasks(lacking or ["depth"])
            report.problems.append(f"suite '{suite.name}' under {suite.root} has no labels for any task")
        except DataError as err:
            report.problems.append(str(err))
    try:
        suite.split()
    except DataError as err:
        report.problems.append(f"split: {err}")
    jobs = [(t, d) for t in chosen if t in suite.tasks for d in suite.domains(t)]
    for task, domain in tqdm(jobs, unit="domain", desc=f"check {suite.name}", file=sys.stderr, leave=False,
                             disable=(not progress) if progress is not None else None):
        report.domains.append(check_domain(suite, task, domain, max_per_domain))
    return report


def check_domain(suite: RealSuite, task: str, domain: str, max_per_domain: int | None) -> DomainReport:
    out = DomainReport(task, domain)
    try:
        listing = suite.list_samples(task, domain)
    except DataError as err:
        out.problems.append(str(err))
        return out
    samples: list[Sample] = listing.samples
    if max_per_domain is not None and len(samples) > max_per_domain:
        samples = [samples[i] for i in np.linspace(0, len(samples) - 1, max_per_domain).round().astype(int)]
    out.listed, out.skipped = len(listing.samples), list(listing.unmatched)
    values = _Values()
    for sample in samples:
        for role, path in sample.files.items():
            out.files[f"{role}: {describe_file(path)}"] += 1
        try:
            decoded = suite.decode(task, sample)
        except DataError as err:
            out.unreadable.append(" ".join(str(err).split()))
            continue
        out.read += 1
        label = next((p for role, p in sample.files.items() if role != "image"), sample.files.get("image"))
        values.add(task, Path(label), decoded.image, decoded.target, decoded.mask)
    values.summarise(suite.name, out)
    out.problems += out.unreadable
    out.problems += [f"would skip {s}" for s in out.skipped]
    if not listing.samples:
        out.problems.append(f"domain '{domain}' (task {task}) has no samples")
    return out


def format_report(report: CheckReport) -> str:
    """The text ``check`` prints: one table row per (task, domain), file formats per task, then problems."""
    lines = [f"check {report.suite} under {report.root}: tasks {', '.join(report.tasks) or '(none)'}, "
             f"{len({d.domain for d in report.domains})} domain(s)"]
    header = ("task", "domain", "samples", "read", "skipped", "unreadable", "values")
    rows = [header] + [(d.task, d.domain, str(d.listed), str(d.read), str(len(d.skipped)), str(len(d.unreadable)),
                        "; ".join(f"{k} {v}" for k, v in d.values.items())) for d in report.domains]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1])
    for task in report.tasks:
        formats: Counter[str] = Counter()
        for d in report.domains:
            if d.task == task:
                formats.update(d.files)
        if formats:
            lines.append(f"files ({task}): " + "; ".join(f"{k} x{n}" for k, n in sorted(formats.items())))
    problems = report.all_problems()
    if problems:
        lines.append(f"problems ({len(problems)}):")
        lines += [f"  - {p}" for p in problems]
    else:
        lines.append("no problems found")
    return "\n".join(lines)
