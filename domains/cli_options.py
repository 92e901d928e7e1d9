"""Shared pieces of the ``preview`` and ``split`` subcommands: suite options and one-line errors."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from domains.registry import UnknownNameError
from domains.suite import DataError, Suite


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def add_suite_arguments(parser: argparse.ArgumentParser, suite_required: bool = True) -> None:
    parser.add_argument("suite", metavar="SUITE", nargs=None if suite_required else "?",
                        help="a registered suite (see 'mtml-bench list'), e.g. synthrooms, taskonomy")
    parser.add_argument("--root", metavar="DIR", help="data folder of a real suite (for synthrooms: the cache folder)")
    parser.add_argument("--option", "-o", metavar="KEY=VALUE", action="append", default=[],
                        help="a keyword option for the suite factory, e.g. profile=smoke (repeatable)")


def parse_options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--option {pair!r} is not KEY=VALUE. Write it as, e.g., --option profile=smoke")
        options[key.strip()] = value.strip()
    return options


def build_suite(name: str, root: str | None, pairs: list[str]) -> Suite:
    """The suite from the registry, with --root passed as its ``root`` option."""
    from domains.catalog import SUITES

    options = parse_options(pairs)
    if root is not None:
        options["root"] = root
    try:
        factory = SUITES.get(name)
    except UnknownNameError as err:
        raise CliError(str(err)) from None
    try:
        return factory(**options)
    except TypeError as err:  # a factory that does not take an option
        raise CliError(f"suite '{name}' rejected the options {sorted(options)} ({err}). "
                       f"Check the option names for this suite") from None


def fail(err: Exception) -> int:
    """Print ``error: <message>`` (one line) and return exit code 2."""
    message = " ".join(str(err).split())
    print(f"error: {message}", file=sys.stderr)
    return 2


USER_ERRORS: tuple[type[Exception], ...] = (CliError, DataError, UnknownNameError)
