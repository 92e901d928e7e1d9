"""``mtml-bench download``: fetch a release, resumably, verify it, and extract it into the loader's layout.

Every archive is downloaded to ``NAME.part`` beside its target; an interrupted
download (a dropped connection, Ctrl-C, a killed process) continues from the
bytes already there with an HTTP ``Range`` request, retrying a few times on
its own and otherwise when the same command is run again. A server that
ignores ``Range`` sends the whole file, which then replaces the part file.

A finished file is checked against the publisher's MD5 where one is published
(``domains.download_catalog``); otherwise its size is checked against what the
server announced and its sha256 is recorded in ``DIR/.mtml-download.json`` on
first download, so later runs (a resume, a re-download, ``--verify``) are
checked against it. A file that fails its check is deleted, never extracted.

Archives are extracted into a staging folder inside DIR (so that nothing is
half-placed if extraction stops), then the tree below the archive's top
folder is merged into the place the loader reads and the archive is removed
(``--keep-archives`` keeps it). The record notes each placed archive, so a
re-run skips what is done.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from domains.download_catalog import Archive, Release, TaskonomyLists

RECORD = ".mtml-download.json"
CHUNK = 1 << 20
USER_AGENT = "mtml-bench-download"


class DownloadError(Exception):
    """One line for the user; ``exit_code`` 2 for what the user must change, 3 for network or data faults."""

    def __init__(self, message: str, exit_code: int = 3):
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code


@dataclass
class Fetched:
    path: Path
    size: int
    sha256: str
    md5: str
    resumed_from: int  # the byte the last (successful) request resumed at; 0 for a whole-file transfer


# ---- the record in DIR ---------------------------------------------------------------------------
class Record:
    """``DIR/.mtml-download.json``: per archive its URL, size, checksums and whether it is placed."""

    def __init__(self, folder: Path):
        self.path = folder / RECORD
        try:
            self.data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}
        except (OSError, json.JSONDecodeError):
            raise DownloadError(f"{self.path} is unreadable; delete it to start this folder's download again",
                                exit_code=2) from None
        self.data.setdefault("files", {})

    def get(self, name: str) -> dict[str, Any]:
        return dict(self.data["files"].get(name, {}))

    def update(self, name: str, **values: Any) -> None:
        self.data["files"].setdefault(name, {}).update(values)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


# ---- fetching ------------------------------------------------------------------------------------
def _hash_file(path: Path, *digests: Any) -> None:
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            for d in digests:
                d.update(block)


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def fetch(url: str, dest: Path, expected_size: int | None = None, progress: bool = True,
          timeout: float = 60.0, retries: int = 2) -> Fetched:
    """Download ``url`` to ``dest`` (via ``dest.part``), resuming what is there; retries dropped connections."""
    part = dest.with_name(dest.name + ".part")
    attempt = 0
    while True:
        try:
            return _fetch_once(url, dest, part, expected_size, progress, timeout)
        except _Dropped as err:
            have = part.stat().st_size if part.exists() else 0
            if attempt >= retries:
                raise DownloadError(f"download of {dest.name} stopped after {have:,} bytes ({err}); run the same "
                                    "command again to resume from there") from None
            attempt += 1


class _Dropped(Exception):
    """A transfer that stopped before its end: worth a retry from the bytes already saved."""


def _fetch_once(url: str, dest: Path, part: Path, expected_size: int | None, progress: bool,
                timeout: float) -> Fetched:
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the part file is already whole
            return _finish(dest, part, have, expected_size, have)
        raise DownloadError(f"{url}: the server answered HTTP {err.code} ({err.reason}); check the URL "
                            "(--mirror) or try later") from None
    except (TimeoutError, urllib.error.URLError, ConnectionError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"cannot reach {url} ({reason}); check the network or --mirror, then run again "
                            "(a partial download is resumed)") from None
    with response:
        status = response.status
        length = response.headers.get("Content-Length")
        if status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                raise DownloadError(f"{url}: the server resumed at the wrong offset "
                                    f"({response.headers.get('Content-Range')!r}, expected byte {have}); delete "
                                    f"{part} and run again")
            total = int(match.group(3)) if match.group(3) != "*" else None
            mode = "ab"
        else:  # 200: the whole file (a server without Range support starts over)
            have, mode = 0, "wb"
            total = int(length) if length is not None else None
        if expected_size is not None and total is not None and total != expected_size:
            raise DownloadError(f"{url}: the server offers {total:,} bytes, the catalogue expects "
                                f"{expected_size:,}; the file changed upstream (or --mirror serves another file)")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with part.open(mode) as out, tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                                          desc=dest.name, file=sys.stderr, disable=not progress, leave=False) as bar:
            while True:
                try:
                    block = response.read(CHUNK)
                except (TimeoutError, http.client.IncompleteRead, ConnectionError, OSError) as err:
                    raise _Dropped(type(err).__name__) from None
                if not block:
                    break
                out.write(block)
                bar.update(len(block))
    size = part.stat().st_size
    if total is not None and size < total:
        raise _Dropped(f"connection closed at {size:,} of {total:,} bytes")
    return _finish(dest, part, total if total is not None else size, expected_size, have)


def _finish(dest: Path, part: Path, total: int, expected_size: int | None, resumed_from: int) -> Fetched:
    size = part.stat().st_size
    if size != total or (expected_size is not None and size != expected_size):
        part.unlink()
        raise DownloadError(f"{dest.name}: got {size:,} bytes, expected {expected_size or total:,}; the partial "
                            "file was deleted, run again")
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)  # md5: to compare with the publisher's
    _hash_file(part, sha, md5)
    os.replace(part, dest)
    return Fetched(dest, size, sha.hexdigest(), md5.hexdigest(), resumed_from)


def verify(fetched: Fetched, archive: Archive, record: Record) -> str:
    """Check a finished file against the publisher's MD5 or the recorded sha256; returns what it was checked by."""
    previous = record.get(archive.name)
    if archive.md5 is not None:
        if fetched.md5 != archive.md5:
            fetched.path.unlink()
            raise DownloadError(f"{archive.name}: md5 {fetched.md5} differs from the publisher's {archive.md5}; "
                                "the file was deleted (corrupt or changed upstream); run again")
        return "md5 (publisher)"
    if previous.get("sha256"):
        if fetched.sha256 != previous["sha256"]:
            fetched.path.unlink()
            raise DownloadError(f"{archive.name}: sha256 {fetched.sha256[:16]}... differs from the one recorded at "
                                f"first download ({previous['sha256'][:16]}...); the file was deleted. If the "
                                f"release changed upstream, delete {record.path} and run again")
        return "sha256 (recorded at first download)"
    return "size only (no published checksum); sha256 recorded now"


# ---- extraction and placing ----------------------------------------------------------------------
def _safe_member(name: str) -> bool:
    parts = Path(name).parts
    return not Path(name).is_absolute() and ".." not in parts


def extract(archive: Path, staging: Path, progress: bool = True) -> None:
    """Unpack a .tar, .tar.gz or .zip into ``staging`` (refusing members that would land outside it)."""
    staging.mkdir(parents=True, exist_ok=True)
    label = f"extract {archive.name}"
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in tqdm(zf.infolist(), desc=label, unit="file", file=sys.stderr, disable=not progress,
                                 leave=False):
                    if not _safe_member(info.filename):
                        raise DownloadError(f"{archive.name}: member {info.filename!r} would be written outside "
                                            "the target folder; the archive is not trusted, nothing was placed")
                    zf.extract(info, staging)
            return
        with tarfile.open(archive, "r:*") as tar:
            for member in tqdm(tar, desc=label, unit="file", file=sys.stderr, disable=not progress, leave=False):
                if not _safe_member(member.name) or member.issym() or member.islnk():
                    raise DownloadError(f"{archive.name}: member {member.name!r} is a link or leaves the target "
                                        "folder; the archive is not trusted, nothing was placed")
                if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4: the stdlib's own guard too
                    tar.extract(member, staging, filter="data")
                else:
                    tar.extract(member, staging)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as err:
        raise DownloadError(f"{archive.name} cannot be extracted ({err}); delete it and run again") from None


def find_top(staging: Path, marker: str) -> Path:
    """The shallowest folder of ``staging`` that holds ``marker`` (archives wrap their tree in 0..n folders)."""
    level = [staging]
    while level:
        for folder in sorted(level):
            if (folder / marker).exists():
                return folder
        level = [p for folder in level for p in sorted(folder.iterdir()) if p.is_dir()]
    raise DownloadError(f"the extracted archive has no '{marker}' anywhere; it is not the expected release "
                        "(check --mirror)")


def merge_into(src: Path, dst: Path) -> None:
    """Move everything below ``src`` to the same place below ``dst``, merging folders that exist in both."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        target = dst / entry.name
        if entry.is_dir() and target.is_dir():
            merge_into(entry, target)
            continue
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(entry, target)


def place(archive_path: Path, marker: str, target: Path, progress: bool = True) -> None:
    """Extract into a staging folder inside ``target``'s folder, then merge the tree under the marker's parent."""
    staging = archive_path.parent / f".extract-{archive_path.name}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        extract(archive_path, staging, progress)
        top = find_top(staging, marker) if marker else staging
        merge_into(top, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---- releases ------------------------------------------------------------------------------------
def taskonomy_archives(lists: TaskonomyLists, folder: Path, mirror: str | None, buildings: Sequence[str] | None,
                       domains: Sequence[str] | None, progress: bool) -> list[tuple[Archive, str]]:
    """(archive, subfolder of DIR) for each building x domain tar, from the official links and md5 lists."""
    from domains.taskonomy.official_splits import OFFICIAL

    base = (mirror or lists.base_url).rstrip("/") + "/"
    meta = folder / ".lists"
    texts = {}
    for name in (lists.links, lists.md5sums):
        path = meta / name
        path.unlink(missing_ok=True)  # small, and they change upstream: always fresh
        texts[name] = fetch(base + name, path, progress=False).path.read_text()
    links = {line.strip().rsplit("/", 1)[-1]: line.strip() for line in texts[lists.links].splitlines()
             if line.strip().endswith(".tar")}
    md5s = {}
    for line in texts[lists.md5sums].splitlines():
        fields = line.split()
        if len(fields) == 2:
            md5s[fields[1].rsplit("/", 1)[-1]] = fields[0]
    split = OFFICIAL[lists.split]
    known = sorted({b for part in split.values() for b in part})
    chosen = list(buildings) if buildings else known
    unknown = [b for b in chosen if b not in known]
    if unknown:
        raise DownloadError(f"--buildings: {', '.join(unknown)} not in the '{lists.split}' split; its buildings: "
                            f"{', '.join(known)}", exit_code=2)
    wanted_domains = list(domains) if domains else list(lists.domains)
    out, missing = [], []
    for building in chosen:
        for domain in wanted_domains:
            name = lists.tar_name.format(building=building, domain=domain)
            if name not in links:
                missing.append(name)
                continue
            url = base + name if mirror else links[name]
            out.append((Archive(name, url, md5=md5s.get(name), marker=domain), building))
    if missing:
        raise DownloadError(f"the official links.txt lists no {', '.join(missing[:4])}"
                            f"{' ...' if len(missing) > 4 else ''} ({len(missing)} missing); choose --buildings / "
                            "--domains that exist, or check --mirror")
    return out


def plan(release: Release, folder: Path, mirror: str | None = None, buildings: Sequence[str] | None = None,
         domains: Sequence[str] | None = None, progress: bool = True) -> list[tuple[Archive, str]]:
    """What to fetch: (archive, subfolder of DIR it is placed in)."""
    if release.listed is not None:
        return taskonomy_archives(release.listed, folder, mirror, buildings, domains, progress)
    if buildings or domains:
        raise DownloadError(f"--buildings and --domains only apply to taskonomy, not {release.suite}", exit_code=2)
    if mirror:
        base = mirror.rstrip("/") + "/"
        return [(Archive(a.name, base + a.name, a.md5, a.size, a.marker), "") for a in release.archives]
    return [(a, "") for a in release.archives]


Report = Callable[[str], None]


def download(release: Release, folder: Path, accept_terms: bool = False, mirror: str | None = None,
             buildings: Sequence[str] | None = None, domains: Sequence[str] | None = None,
             keep_archives: bool = False, progress: bool = True, retries: int = 2,
             report: Report = print) -> list[str]:
    """Fetch, verify and place every archive of ``release`` in ``folder``; returns one line per archive."""
    if release.refused is not None:
        raise DownloadError(f"{release.suite} cannot be downloaded by mtml-bench: {release.refused}", exit_code=2)
    if release.terms is not None and not accept_terms:
        raise DownloadError(f"{release.suite} is distributed under {release.terms}. If you accept them, run again "
                            "with --accept-terms", exit_code=2)
    folder.mkdir(parents=True, exist_ok=True)
    record = Record(folder)
    lines = []
    todo = plan(release, folder, mirror, buildings, domains, progress)
    for archive, sub in tqdm(todo, desc=f"{release.suite} archives", unit="archive", file=sys.stderr,
                             disable=not progress or len(todo) < 2):
        entry = record.get(archive.name)
        if entry.get("placed"):
            lines.append(f"{archive.name}: already in place ({entry.get('checked', '?')})")
            report(lines[-1])
            continue
        dest = folder / archive.name
        if dest.is_file() and entry.get("size") == dest.stat().st_size:
            sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
            _hash_file(dest, sha, md5)
            fetched = Fetched(dest, dest.stat().st_size, sha.hexdigest(), md5.hexdigest(), dest.stat().st_size)
        else:
            fetched = fetch(archive.url, dest, archive.size, progress, retries=retries)
        checked = verify(fetched, archive, record)
        record.update(archive.name, url=archive.url, size=fetched.size, sha256=fetched.sha256, md5=fetched.md5,
                      checked=checked)
        place(dest, archive.marker, folder / sub, progress)
        record.update(archive.name, placed=True)
        if not keep_archives:
            dest.unlink()
        resumed = f", resumed at byte {fetched.resumed_from:,}" if 0 < fetched.resumed_from < fetched.size else ""
        lines.append(f"{archive.name}: {fetched.size:,} bytes, {checked}, sha256 {fetched.sha256[:16]}...{resumed}")
        report(lines[-1])
    return lines
