"""``mtml-bench download SUITE --to DIR``: a real suite's public release, ready for ``--root DIR``.

    mtml-bench download --list                       what can be fetched, licences, checksums
    mtml-bench download diode --to /data/diode       DIODE val (+ normals), MD5-checked
    mtml-bench download taskonomy --to /data/tk --accept-terms --buildings adairsville,cauthron

Exit codes: 0 done; 2 a user error (unknown suite, terms not accepted, a
suite that needs a licence step); 3 a network or data fault (resumable: run
the same command again).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from domains.cli_options import fail
from domains.realdata import as_list
from domains.suite import DataError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", nargs="?", metavar="SUITE", help="a real suite: taskonomy, diode, nyuv2, scannet_vp")
    parser.add_argument("--to", type=Path, metavar="DIR", help="target folder (then: mtml-bench run SUITE --root DIR)")
    parser.add_argument("--list", action="store_true", help="what each suite's download fetches and what it needs")
    parser.add_argument("--accept-terms", action="store_true",
                        help="accept the dataset's terms of use where it has some (taskonomy)")
    parser.add_argument("--mirror", metavar="URL", help="fetch the same file names from this base URL instead")
    parser.add_argument("--buildings", metavar="A,B", help="taskonomy: only these buildings of the tiny split")
    parser.add_argument("--domains", metavar="A,B", help="taskonomy: only these label folders (default: what the "
                                                         "four tasks read)")
    parser.add_argument("--keep-archives", action="store_true", help="keep the archives after extracting them")
    parser.add_argument("--retries", type=int, default=2, metavar="N",
                        help="automatic resumes after a dropped connection (default 2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _listing() -> str:
    from domains.download_catalog import RELEASES

    blocks = []
    for name, r in RELEASES.items():
        how = ("refused: needs a licence step outside mtml-bench (run 'mtml-bench download " + name + "' for what "
               "to do)" if r.refused else "needs --accept-terms" if r.terms else "no licence step")
        blocks.append(f"{name}: {r.title}\n  licence: {r.licence} ({how})\n  checksums: {r.checksum_source}\n"
                      f"  layout: {r.layout}\n  then: {r.spec_hint}")
    return "\n".join(blocks)


def run(args: argparse.Namespace) -> int:
    from domains.download import DownloadError, download
    from domains.download_catalog import RELEASES

    if args.list:
        print(_listing())
        return 0
    if args.suite is None:
        return fail(ValueError(f"download needs a SUITE ({', '.join(RELEASES)}) and --to DIR, or --list"))
    if args.suite not in RELEASES:
        extra = " (synthrooms is generated on first use; it needs no download)" if args.suite == "synthrooms" else ""
        return fail(ValueError(f"no download for suite '{args.suite}'{extra}; downloadable: {', '.join(RELEASES)}. "
                               "See mtml-bench download --list"))
    release = RELEASES[args.suite]
    if args.to is None and release.refused is None:
        return fail(ValueError(f"download {args.suite} needs --to DIR (the folder to fill; then "
                               f"mtml-bench run {args.suite} --root DIR)"))
    if args.retries < 0:
        return fail(ValueError(f"--retries {args.retries}: must be 0 or more"))
    if args.to is not None and args.to.exists() and not args.to.is_dir():
        return fail(ValueError(f"--to {args.to} is a file; name a folder"))
    try:
        download(release, args.to or Path("."), accept_terms=args.accept_terms, mirror=args.mirror,
                 buildings=as_list(args.buildings) if args.buildings else None,
                 domains=as_list(args.domains) if args.domains else None, keep_archives=args.keep_archives,
                 progress=not args.no_progress, retries=args.retries)
    except DownloadError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        print(f"error: cannot write {err.filename or args.to}: {err.strerror}; check --to and free disk space",
              file=sys.stderr)
        return 3
    try:
        print(f"{args.suite} in {args.to}: {readable(args.suite, args.to)}")
    except DataError as err:
        print(f"error: the files are in {args.to} but the {args.suite} loader cannot read them: {err}", file=sys.stderr)
        return 3
    print(f"run it with: {release.spec_hint.replace('DIR', str(args.to))}")
    return 0


def readable(suite: str, root: Path) -> str:
    """What the suite's own loader finds in ``root``: domains per task (proves the layout is the one it reads)."""
    from domains.catalog import SUITES

    loaded = SUITES.get(suite)(root=str(root), cache_dir="off", progress=False)
    counts = {task: len(loaded.domains(task)) for task in loaded.tasks}
    if not any(counts.values()):
        raise DataError(f"no domain for any task under {root}")
    return ", ".join(f"{task} {n} domain(s)" for task, n in counts.items())
