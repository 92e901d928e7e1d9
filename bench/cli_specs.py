"""``mtml-bench specs``: the shipped benchmark specs, listed or printed.

``mtml-bench specs`` lists them with what data each needs; ``mtml-bench specs
NAME`` prints one as shipped, the starting point for a spec of your own
(``mtml-bench specs smoke > mine.toml``). The text comes from the installed
package, so users never have to look inside site-packages.
"""

from __future__ import annotations

import argparse

from bench.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME", help="print this shipped spec's TOML")
    parser.add_argument("--path", action="store_true", help="print the installed file's path instead of its text")


def run(args: argparse.Namespace) -> int:
    from bench.cli_list import table
    from bench.spec import REAL, SHIPPED, load_spec, shipped_path

    if args.name is None:
        rows = []
        for name in SHIPPED:
            spec = load_spec(name)
            data = "--root DIR (mtml-bench download " + spec.suite.name + ")" if name in REAL else "generated"
            rows.append((name, spec.suite.name, ",".join(spec.tasks), str(len(spec.methods)),
                         str(len(spec.seeds)), data, spec.description))
        print(table("shipped specs", ("name", "suite", "tasks", "methods", "seeds", "data", "description"), rows))
        print("\nprint one: mtml-bench specs NAME   run one: mtml-bench run NAME [--set section.key=value ...]")
        return 0
    if args.name not in SHIPPED:
        raise UserError(f"no shipped spec '{args.name}'; shipped: {', '.join(SHIPPED)}. "
                        "(A TOML file of your own is run by its path: mtml-bench run FILE.toml)")
    path = shipped_path(args.name)
    print(path if args.path else path.read_text(encoding="utf-8"), end="\n" if args.path else "")
    return 0
