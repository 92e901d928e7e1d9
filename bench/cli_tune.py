"""``mtml-bench tune SPEC``: choose each method's learning rates on meta-val domains.

    mtml-bench tune smoke                      # every method in the spec
    mtml-bench tune my.toml --method maml --method anil --trials 8 --out tuned.toml

Reads the spec's ``[tuning]`` table (the grid, trials, steps per trial, episodes
per meta-val domain, seeds; see ``bench.tuning``), runs the same candidates for
every method named, prints a table of every trial to stderr and the
``[methods.<name>]`` snippets to stdout (and to ``--out``), ready to paste into
the spec. The procedure and the selection rule are in ``bench/tuning.py``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from bench.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="a shipped spec (see 'mtml-bench specs') or a TOML file with a [tuning] table")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a spec field, as in 'mtml-bench run' (repeatable)")
    parser.add_argument("--root", metavar="DIR", help="data folder of a real suite (sets suite.root)")
    parser.add_argument("--method", action="append", metavar="NAME",
                        help="a method of the spec to tune (repeat for several; default: every method in the spec)")
    parser.add_argument("--trials", type=int, metavar="N",
                        help="candidates per method, overriding [tuning] trials (the same N for every method)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: the spec's runtime.device)")
    parser.add_argument("--threads", type=int, metavar="N", help="torch threads (default: the spec's runtime.threads)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="also write the TOML snippets to FILE")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    if args.out is not None:  # checked before the first trial, so that no result is computed and then lost
        try:
            args.out.write_text("", encoding="utf-8")
        except OSError as err:
            print(f"error: cannot write {args.out}: {err.strerror}. Choose a writable --out path.", file=sys.stderr)
            return 2
    try:
        _tune(args, lambda snippet: _emit(snippet, args.out))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


def _emit(snippet: str, out: Path | None) -> None:
    """Each method's snippet as soon as it is chosen (stdout and --out): a later failure loses nothing."""
    sys.stdout.write(snippet + "\n")
    sys.stdout.flush()
    if out is not None:
        with out.open("a", encoding="utf-8") as handle:
            handle.write(snippet + "\n")


def _tune(args: argparse.Namespace, emit: Callable[[str], None]) -> None:
    import torch

    from bench.cell import build_sampler, build_suite, image_size_of, init_seed, method_config
    from bench.overrides import apply_overrides
    from bench.spec import check_names, load_spec
    from bench.tuning import Scorer, SearchSpace, tune
    from methods.device import DeviceError, resolve_device
    from methods.registry import METHODS

    spec = apply_overrides(load_spec(args.spec), args.assignments, args.root)
    check_names(spec)
    if spec.tuning is None:
        raise UserError(f"spec '{spec.name}' ({spec.source}) has no [tuning] table. Add one, e.g. "
                        "[tuning] trials = 8, inner_lr = [0.01, 0.03, 0.1, 0.3], outer_lr = [3e-4, 1e-3, 3e-3]")
    table = dict(spec.tuning)
    if args.trials is not None:
        table["trials"] = args.trials
    space = SearchSpace.from_table(table)
    names = list(dict.fromkeys(args.method or spec.method_names))
    for name in names:
        spec.method(name)  # a name outside the spec is a one-line error listing the spec's methods
    if not args.method:  # by default, leave out what has no learning rate to tune (the constant control)
        names = [n for n in names if METHODS.get(n).tunable]
    try:
        device = resolve_device(args.device or spec.runtime.device)
    except DeviceError as err:
        raise UserError(str(err)) from None
    threads = args.threads or spec.runtime.threads
    if threads:
        torch.set_num_threads(threads)

    sampler = build_sampler(spec, build_suite(spec))
    image_size = image_size_of(sampler, spec.tasks[0])
    scorer = Scorer.from_metrics(spec.tasks)
    label = f"spec '{spec.name}', split {sampler.split_hash[:12]}"
    for name in names:
        def factory(config, seed_index: int, _name: str = name):  # same initial weights for every method
            return METHODS.get(_name)(config, spec.tasks, device, init_seed(sampler.split_hash, seed_index))

        result = tune(name, factory, method_config(spec, name, image_size), sampler, space, scorer,
                      progress=not args.no_progress, budget_steps=spec.training.budget_steps)
        print(f"\n{name}: {space.describe()}\n{result.table()}", file=sys.stderr)
        emit(result.toml(label))
