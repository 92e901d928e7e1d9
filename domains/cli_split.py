"""``mtml-bench split``: write a suite's hashed split manifest, or verify one.

    mtml-bench split synthrooms --out split.json [--option profile=smoke]
    mtml-bench split --verify split.json [synthrooms --option ...]

Verification recomputes the sha256 (a hand-edited file is refused) and checks
that the parts are disjoint; given a SUITE too, it also checks that the file is
the split that suite would use.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from domains.cli_options import USER_ERRORS, CliError, add_suite_arguments, build_suite, fail
from domains.suite import SPLIT_PARTS, Split


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_suite_arguments(parser, suite_required=False)
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the suite's split manifest here")
    parser.add_argument("--verify", type=Path, metavar="FILE", help="verify a manifest (hash and disjointness)")


def _summary(split: Split) -> str:
    lines = [f"suite {split.suite}, version {split.version}, sha256 {split.sha256}"]
    for task in split.tasks():
        counts = ", ".join(f"{p} {len(split.domains[task][p])}" for p in SPLIT_PARTS)
        lines.append(f"  {task}: {counts} domains")
    if split.classes is not None:
        lines.append("  classes: " + ", ".join(f"{p} {len(split.classes[p])}" for p in SPLIT_PARTS))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        if args.verify is not None and args.out is not None:
            raise CliError("--out and --verify do different things. Give one of them")
        if args.verify is not None:
            split = Split.read(args.verify)  # raises DataError on a bad hash, schema or overlap
            if args.suite is not None:
                expected = build_suite(args.suite, args.root, args.option).split()
                if expected.sha256 != split.sha256:
                    raise CliError(f"{args.verify} is a valid split but not the one suite '{args.suite}' uses with these "
                                   f"options ({split.sha256[:12]}... vs {expected.sha256[:12]}...). Regenerate it "
                                   f"with 'mtml-bench split {args.suite} --out {args.verify}'")
            print(f"ok: {args.verify}\n{_summary(split)}")
            return 0
        if args.suite is None or args.out is None:
            raise CliError("split needs SUITE and --out FILE to write a manifest, or --verify FILE to check one. "
                           "E.g. 'mtml-bench split synthrooms --out split.json'")
        split = build_suite(args.suite, args.root, args.option).split()
        split.validate()
        digest = split.write(args.out)
        print(f"wrote {args.out} (sha256 {digest})\n{_summary(split)}")
        return 0
    except USER_ERRORS as err:
        return fail(err)
    except OSError as err:
        return fail(CliError(f"cannot access {err.filename}: {err.strerror}. Check the path"))
