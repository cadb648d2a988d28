"""``python -m bench faults``: the options, each scenario run in turn, and its figures gathered.

One scenario failing or unavailable here must not hide the others' figures,
so each runs guarded and the table says what did not run and why.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from ..console import Say, close_run, progress, publish
from .common import Unavailable
from .damage import damage_matrix
from .damage_cases import FILES, KINDS
from .disk import full_disk
from .outage import signal_outage
from .report import report
from .sigkill import sigkill_loop


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench faults",
                                     description="stoker under faults: SIGKILLs, a full disk, damaged state, "
                                                 "a signal outage")
    parser.add_argument("--deployments", type=int, default=100, help="deployments in the SIGKILL chain (100)")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs during the chain (20)")
    parser.add_argument("--seed", type=int, help="random seed of the SIGKILL loop (default: random)")
    parser.add_argument("--outage", type=float, default=120.0,
                        help="seconds the signal endpoint is down (120; 0 skips the outage scenario)")
    parser.add_argument("--damage-files", default=",".join(FILES), help=f"state files to damage ({','.join(FILES)})")
    parser.add_argument("--damage-kinds", default=",".join(KINDS), help=f"kinds of damage ({','.join(KINDS)})")
    parser.add_argument("--only", default="sigkill,disk,damage,outage", help="scenarios to run (all)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, state)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    root = Path(tempfile.mkdtemp(prefix="stoker-faults-"))
    started = time.monotonic()
    say = progress(started)
    results: dict[str, Any] = {"errors": {}}
    try:
        for name, run in (("sigkill", _bench_sigkill), ("disk", _bench_disk), ("damage", _bench_damage),
                          ("outage", _bench_outage)):
            if name in only and not (name == "outage" and args.outage <= 0):
                _guard(results, name, say, lambda run=run, name=name: run(args, root / name, results, say))
    finally:
        close_run(root, args.keep, say)
    return publish(results, started, lambda: report(results), args.json)


def _guard(results: dict[str, Any], name: str, say: Say, run: Callable[[], None]) -> None:
    try:
        run()
    except Unavailable as err:
        results[name] = {"unavailable": str(err)}
        say(f"{name}: not run here: {err}")
    except Exception as err:  # noqa: BLE001 - one broken scenario must not hide the others' figures
        results["errors"][name] = f"{type(err).__name__}: {err}"
        say(f"{name}: FAILED: {err}")


def _bench_sigkill(args: argparse.Namespace, root: Path, results: dict[str, Any], say: Say) -> None:
    root.mkdir(parents=True)
    say(f"SIGKILL loop: {args.deployments} chained deployments, {args.kills} kills")
    figures = sigkill_loop(root, args.deployments, args.kills, seed=args.seed, say=say)
    results["sigkill"] = {
        "deployments": figures.deployments, "seed": figures.seed, "kills": len(figures.kills),
        "kills_in_hooks": figures.kills_in_hooks, "kills_in_delivery": figures.kills_in_delivery,
        "crashes": figures.crashes, "lost": figures.lost, "signalled_twice": figures.signalled_twice,
        "resent_after_kill": figures.resent_after_kill, "run_twice": figures.run_twice,
        "false_interrupted": figures.false_interrupted, "seconds": figures.seconds}


def _bench_disk(args: argparse.Namespace, root: Path, results: dict[str, Any], say: Say) -> None:
    root.mkdir(parents=True)
    say("full disk: state and deployed dirs on a 4 MiB tmpfs")
    figures = full_disk(root, say=say)
    results["disk"] = {k: v for k, v in asdict(figures).items() if k != "logs"}


def _bench_damage(args: argparse.Namespace, root: Path, results: dict[str, Any], say: Say) -> None:
    root.mkdir(parents=True)
    files = tuple(f.strip() for f in args.damage_files.split(",") if f.strip())
    kinds = tuple(k.strip() for k in args.damage_kinds.split(",") if k.strip())
    say(f"damaged state: {len(files)} files x {len(kinds)} kinds of damage")
    cases = damage_matrix(root, files, kinds, say=say)
    results["damage"] = {
        "cases": len(cases), "survived": sum(c.survived for c in cases),
        "must_report": sum(c.must_report for c in cases),
        "reported": sum(c.reported and c.must_report for c in cases),
        "rerun": sum(bool(c.unexpected_reruns) for c in cases),
        "failed_cases": {f"{c.file}/{c.kind}": (["crashed"] if not c.survived else []) + c.problems
                         + ([f"reran {c.unexpected_reruns}"] if c.unexpected_reruns else [])
                         for c in cases if not (c.survived and c.reported and not c.unexpected_reruns)}}


def _bench_outage(args: argparse.Namespace, root: Path, results: dict[str, Any], say: Say) -> None:
    root.mkdir(parents=True)
    say(f"signal outage: the endpoint refuses for {args.outage:.0f}s")
    results["outage"] = asdict(signal_outage(root, args.outage, say=say))
