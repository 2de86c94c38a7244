"""``acbo-train``: demonstrations, training, evaluation and optimisation from the shell."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import traceback
from collections.abc import Sequence
from typing import Any

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CONFIG = 2
EXIT_INPUT = 3
EXIT_INTERRUPTED = 130

DEFAULT_OUTPUT = "runs/quickstart"

_EPILOG = f"""\
examples:
  acbo-train run                                   everything, embedded default configuration
  acbo-train run --output runs/big --config big.toml --set expert.T=20
  acbo-train run -c generalist -o runs/generalist  the configuration of the shipped generalist
  acbo-train generate --set training.n_expert_trajectories=100
  acbo-train train --component surrogate           then: acbo-train train
  acbo-train evaluate                              (re)writes RUN/report/
  acbo-train optimize --scm problem.json --steps 20   the pretrained generalist, no training
  acbo-train config > my.toml                      the embedded default, to edit
  acbo-train benchmark --system runs/quickstart/system --workers 2   every family and method

Every command works in one run directory (--output, default {DEFAULT_OUTPUT}). Ctrl-C saves
what is done; the same command resumes. A run directory keeps its configuration: rerunning
with another one is refused (use another --output).

exit codes: 0 done, 1 internal error (a bug: please report the traceback), 2 bad usage or
configuration, 3 bad input or output file or run directory (unreadable, unwritable, full
disk, not ACBO's), 130 interrupted (rerun to resume).
"""

OPTIMIZATION_RESULT_KIND = "acbo.optimization_result"
"""The ``kind`` of the JSON document ``optimize --json`` writes; an existing file at that path
is replaced only if it is a document of this kind."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--output", "-o", default=DEFAULT_OUTPUT, metavar="RUN",
                        help=f"run directory (default: {DEFAULT_OUTPUT})")
    common.add_argument("--config", "-c", metavar="FILE.toml",
                        help="configuration file, or the name of an embedded one: "
                             "quickstart (the default), generalist")
    common.add_argument("--set", "-s", action="append", default=[], metavar="TABLE.KEY=VALUE",
                        dest="overrides", help="override one key (TOML value), repeatable")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    parser = argparse.ArgumentParser(
        prog="acbo-train", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Amortized causal Bayesian optimisation: record PARENT_SCALE demonstrations "
                    "on simulated SCMs, train the surrogate and the policy on them, evaluate "
                    "the trained system against the expert, optimise new SCMs.",
        epilog=_EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", parents=[common], help="everything end to end (the main job)")
    sub.add_parser("generate", parents=[common], help="record PARENT_SCALE demonstrations")
    train = sub.add_parser("train", parents=[common],
                           help="train the surrogate, the policy or both")
    train.add_argument("--component", choices=("surrogate", "acquisition", "both"),
                       default="both", help="what to train (default: both)")
    sub.add_parser("evaluate", parents=[common],
                   help="evaluate the trained system and write RUN/report/")
    opt = sub.add_parser("optimize", parents=[common],
                         help="run a trained system on an SCM given as a JSON file")
    opt.add_argument("--scm", required=True, metavar="SCM.json",
                     help="the problem, in acbo-core's SCM JSON (acbo_core.scm_to_json)")
    opt.add_argument("--system", metavar="DIR",
                     help="a saved system, e.g. RUN/system of `acbo-train run` (default: the "
                          "pretrained generalist shipped with acbo)")
    opt.add_argument("--steps", type=int, default=30, help="interventions (default: 30)")
    opt.add_argument("--seed", type=int, default=0, help="run key (default: 0)")
    opt.add_argument("--online-grpo", action="store_true",
                     help="fine-tune the policy during the run (off by default: the benchmark "
                          "measured no benefit)")
    opt.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    sub.add_parser("config", help="print the embedded default configuration (TOML)")
    from acbo.benchmark_cli import add_parser as add_benchmark_parser

    add_benchmark_parser(sub)
    return parser


def _fail(code: int, message: str) -> int:
    print(f"acbo-train: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``acbo-train`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    # Imported here so that `--help` and usage errors answer at once.
    from acbo_core.errors import ACBOError, ConfigError

    try:
        return _dispatch(args)
    except ConfigError as err:
        return _fail(EXIT_CONFIG, str(err))
    except KeyboardInterrupt:
        print(f"\nacbo-train: interrupted; what was done is saved in {args.output!r}: run the "
              "same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ACBOError as err:
        return _fail(EXIT_INPUT, str(err))
    except OSError as err:  # the environment (permissions, read-only or full disk), not a bug
        where = ": ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
        return _fail(EXIT_INPUT, f"{err.strerror or err}{': ' + where if where else ''}")
    except Exception:  # a bug, not a user error: show where
        traceback.print_exc()
        return _fail(EXIT_INTERNAL, "internal error (see the traceback above)")


def _dispatch(args: argparse.Namespace) -> int:
    from acbo.config import default_config_text, load_config

    if args.command == "config":
        print(default_config_text(), end="")
        return EXIT_OK
    if args.command == "benchmark":
        from acbo.benchmark_cli import run as run_benchmark_command

        return run_benchmark_command(args)
    if args.command == "optimize":  # before anything runs: a bad --json must not cost a run
        _check_optimize_args(args)
    config = load_config(args.config, args.overrides)
    if args.command == "optimize":
        return _optimize(args, config)
    from acbo import job

    with job.RunDir.open(args.output, config) as run, \
            run.logger(progress=not args.quiet) as logger:
        if args.command == "generate":
            job.generate_stage(run, logger)
        elif args.command == "train":
            job.check_component(run, args.component)
            split = job.generate_stage(run, logger)
            job.train_stage(run, split, logger, component=args.component)
        elif args.command == "evaluate":
            _summary(job.evaluate_stage(run, job.load_split(run), logger), run.root)
        else:
            _summary(job.run_all(run, logger), run.root)
    return EXIT_OK


def _summary(report: dict[str, Any], root: pathlib.Path) -> None:
    criteria = report["success_criteria"]
    print(f"\nsuccess criteria ({sum(c['passed'] for c in criteria)} of {len(criteria)} passed):")
    for c in criteria:
        value = "n/a" if c["value"] is None else f"{c['value']:.3g}"
        print(f"  {'PASS' if c['passed'] else 'FAIL'}  {c['name']:<24} {value:>8} "
              f"{c['comparison']} {c['threshold']}")
    print(f"report: {root / 'report' / 'report.md'}")


def _check_optimize_args(args: argparse.Namespace) -> None:
    """Checks ``optimize``'s numbers and its ``--json`` path.

    Raises:
      ConfigError: ``--steps`` or ``--seed`` out of range (exit 2).
      OverwriteRefusedError: ``--json`` names a directory or a file that is not an earlier
        ``--json`` result (exit 3).
      StorageError: ``--json`` is in a folder that is missing or not writable (exit 3).
    """
    from acbo_core.configs import MAX_SEED
    from acbo_core.errors import ConfigError, OverwriteRefusedError, StorageError
    from acbo_expert.config import MAX_T

    if not 1 <= args.steps <= MAX_T:
        raise ConfigError(f"--steps must be in [1, {MAX_T}], got {args.steps}")
    if not 0 <= args.seed <= MAX_SEED:
        raise ConfigError(f"--seed must be in [0, {MAX_SEED}] (2**32 - 1: a JAX key keeps 32 "
                          f"bits of a seed), got {args.seed}")
    if args.json is None:
        return
    path = pathlib.Path(args.json)
    where = f"--json {str(path)!r}"
    if path.is_dir():
        raise OverwriteRefusedError(f"{where} is a directory; give a file path")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise OverwriteRefusedError(f"{where} exists and is not a regular file; refusing to "
                                    "replace it")
    if path.exists() and _document_kind(path) != OPTIMIZATION_RESULT_KIND:
        raise OverwriteRefusedError(
            f"{where} already exists and is not an earlier --json result (kind "
            f"{OPTIMIZATION_RESULT_KIND!r}); refusing to overwrite it: choose another path or "
            "remove it")
    folder = path.parent
    if not folder.is_dir():
        raise StorageError(f"{where}: the folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StorageError(f"{where}: the folder {str(folder)!r} is not writable")


def _document_kind(path: pathlib.Path) -> Any:
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return doc.get("kind") if isinstance(doc, dict) else None


def _optimize(args: argparse.Namespace, config: Any) -> int:
    import jax

    import acbo_core as ac
    from acbo.persistence import load_pretrained, load_system

    path = pathlib.Path(args.scm)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        return _fail(EXIT_INPUT, f"cannot read the SCM file {str(path)!r}: {err.strerror}")
    except UnicodeDecodeError as err:
        return _fail(EXIT_INPUT, f"the SCM file {str(path)!r} is not UTF-8 text ({err.reason} "
                                 f"at byte {err.start})")
    scm = ac.scm_from_json(text)
    system = load_system(args.system) if args.system else load_pretrained()
    result = system.run_optimization(scm, args.steps, args.online_grpo,
                                     key=jax.random.key(args.seed))
    print(f"{'step':>4}  {'intervention':<24} {'outcome':>10} {'best':>10}")
    for t, (do, y, best) in enumerate(zip(result.interventions, result.outcomes,
                                          result.best_so_far, strict=True)):
        (var,) = tuple(do["targets"])
        label = f"do({var} = {do['values'][var]:.4g})"
        print(f"{t:>4}  {label:<24} {y:>10.4g} {best:>10.4g}")
    variables, values, y = result.best_intervention()
    chosen = ", ".join(f"{v} = {x:.4g}" for v, x in zip(variables, values, strict=True))
    print(f"best: do({chosen}) -> {scm['target']} = {y:.4g}")
    if args.json:
        doc = {"kind": OPTIMIZATION_RESULT_KIND, "target": scm["target"],
               "best": {"intervention": dict(zip(variables, values, strict=True)),
                        "outcome": y},
               "steps": [{"intervention": {v: float(do["values"][v]) for v in do["targets"]},
                          "outcome": y_t, "best_so_far": b}
                         for do, y_t, b in zip(result.interventions, result.outcomes,
                                               result.best_so_far, strict=True)]}
        ac.save_json(ac.dumps_json(doc, indent=2), args.json)  # replaces only its own kind
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
