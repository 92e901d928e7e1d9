"""``mtml-bench preview SUITE --out grid.png``: a picture of a suite's images and labels.

    mtml-bench preview synthrooms --out grid.png --option profile=smoke
    mtml-bench preview taskonomy --root /data/taskonomy --out grid.png

Look at it: depth, normals and the vanishing directions must visibly belong to
the image beside them, and class names must describe the pictures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from domains.cli_options import USER_ERRORS, CliError, add_suite_arguments, build_suite, fail


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_suite_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, metavar="PNG", help="where to write the grid")
    parser.add_argument("--domains", type=int, default=6, help="domains (rows) to show (default 6)")
    parser.add_argument("--sample", type=int, default=0, help="which sample of each domain to show (default 0)")


def run(args: argparse.Namespace) -> int:
    from domains.preview import preview_grid

    try:
        if args.out.suffix.lower() != ".png":
            raise CliError(f"--out {args.out} must end in .png. Name a PNG file")
        if args.domains < 1:
            raise CliError(f"--domains {args.domains} must be at least 1")
        suite = build_suite(args.suite, args.root, args.option)
        path = preview_grid(suite, args.out, n_domains=args.domains, sample=args.sample)
        print(f"wrote {path}")
        return 0
    except USER_ERRORS as err:
        return fail(err)
    except OSError as err:
        return fail(CliError(f"cannot write {err.filename}: {err.strerror}. Check the --out folder"))
