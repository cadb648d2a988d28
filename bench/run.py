"""``python -m bench``: stoker and the upstream chain, side by side, on the same loopback server.

Run from a checkout with stoker installed (the test venv): ``.venv/bin/python -m bench``.
It installs the upstream chain into a temporary venv from PyPI, runs every
scenario against both systems, and prints each figure with the ratio between
them. ``--help`` lists the knobs; the defaults take about 5 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from . import documents, scenarios, spread
from .console import close_run, progress, publish
from .scenarios import Bench, ScenarioError, median
from .server import Loopback
from .stoker_side import StokerInstall
from .tls import PrivateCA
from .upstream import InstallError, UpstreamInstall

MIB = 1024 * 1024
TARGETS = {
    "chain": 20.0,          # upstream / stoker at least
    "chain_floor": 1.2,     # stoker / floor at most
    "idle_memory": 0.4,     # stoker / upstream at most
    "idle_bytes": 0.1,      # stoker / upstream at most
    "first_overhead": 0.3,  # stoker's first deployment minus its hook's own time, seconds
    "flat": 1.5,            # stoker's per-poll CPU at the largest size / at the smallest, at most
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--polling-interval", type=float, default=5.0,
                        help="polling_interval for BOTH systems, in seconds (default 5; upstream's and "
                             "stoker's default is 30, which makes the upstream chain take ~10 min a round)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of stoker's scenarios (default 5)")
    parser.add_argument("--upstream-rounds", type=int, default=3,
                        help="rounds of upstream's chain and first-deployment scenarios (default 3)")
    parser.add_argument("--chain-length", type=int, default=20, help="deployments in the chain (default 20)")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="idle window (default 60)")
    parser.add_argument("--scale", default="10,1000",
                        help="finished-deployment counts for the per-poll cost (default 10,1000)")
    parser.add_argument("--scale-seconds", type=float, default=20.0,
                        help="how long each per-poll cost is measured (default 20)")
    parser.add_argument("--spread-agents", type=int, default=50,
                        help="stoker agents started together in the spread scenario (default 50)")
    parser.add_argument("--only", default="floor,first,chain,idle,scale,spread",
                        help="comma-separated scenarios to run (default: all)")
    parser.add_argument("--https", action="store_true",
                        help="the loopback server speaks HTTPS with a private CA that both systems are told "
                             "to trust (stoker: ca_certificate; upstream: REQUESTS_CA_BUNDLE)")
    parser.add_argument("--no-upstream", action="store_true", help="measure stoker alone (no install)")
    parser.add_argument("--upstream-dir", type=Path,
                        help="keep the upstream install here and re-use it on the next run "
                             "(default: a fresh install in the temporary directory)")
    parser.add_argument("--stoker", choices=("install", "current"), default="install",
                        help="install: pip install this checkout into a temporary venv (default); "
                             "current: the stoker of the Python running the benchmark")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, state)")
    args = parser.parse_args(argv)
    if args.upstream_dir is not None:
        args.upstream_dir = args.upstream_dir.resolve()  # the agents run in directories of their own
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    systems = ("stoker",) if args.no_upstream else scenarios.SYSTEMS
    root = Path(tempfile.mkdtemp(prefix="stoker-bench-"))
    started = time.monotonic()
    results: dict = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                     "errors": {}}
    say = progress(started)
    server = None
    kept: list = []
    bench = None
    try:
        server = Loopback(PrivateCA.create(root / "tls") if args.https else None)
        stoker = StokerInstall.current() if args.stoker == "current" else StokerInstall.create(root / "stoker", say)
        upstream = None
        if "upstream" in systems:
            upstream = _install(args, root, say)
            results["versions"] = upstream.versions()
        bench = Bench(server, root, args.polling_interval, stoker, upstream, say)
        _run_all(bench, args, only, systems, results, kept, say)
    except InstallError as err:
        results["errors"]["install"] = str(err)
        say(f"install failed: {err}")
    finally:
        for agent in kept:
            agent.stop()
        if bench is not None:
            bench.stop_all()
        if server is not None:
            server.close()
        close_run(root, args.keep, say)
    return publish(results, started, lambda: report(results, systems, markdown=args.markdown), args.json,
                   default=_jsonable)


def _install(args: argparse.Namespace, root: Path, say) -> UpstreamInstall:
    if args.upstream_dir is not None:
        try:
            install = UpstreamInstall.existing(args.upstream_dir)
            say(f"re-using the upstream install in {args.upstream_dir}")
            return install
        except InstallError:
            return UpstreamInstall.create(args.upstream_dir, say)
    return UpstreamInstall.create(root / "upstream", say)


def _guard(results: dict, key: str, say, fn):
    try:
        return fn()
    except ScenarioError as err:
        results["errors"][key] = str(err)
        say(f"{key}: FAILED: {err}")
        return None


def _run_all(bench: Bench, args, only: set[str], systems, results: dict, kept: list, say) -> None:
    # stoker's figures first, while the machine is as quiet as this run makes it
    if "floor" in only or "first" in only:
        say("hook start-up: each system's script hook run alone")
        results["hook"] = {s: _guard(results, f"hook/{s}", say, lambda s=s: scenarios.hook_time(bench, s))
                           for s in systems}
    if "floor" in only:
        say("loopback round trips")
        doc = documents.document(documents.collect_settings(bench.server.get_url("x"), args.polling_interval),
                                 [documents.item(n, bench.server.put_url(f"x-{n}"))
                                  for n in range(1, args.chain_length + 1)])
        get, put = scenarios.round_trips(bench, doc)
        results["round_trip"] = {"get": get, "put": put}
    if "first" in only:
        results["first"] = {}
        for system in systems:
            rounds = args.rounds if system == "stoker" else args.upstream_rounds
            say(f"first deployment after start: {system}, {rounds} rounds")
            times = []
            for _ in range(rounds):
                value = _guard(results, f"first/{system}", say,
                               lambda system=system: scenarios.first_deployment(bench, system))
                if value is not None:
                    times.append(value)
            results["first"][system] = times
    if "chain" in only:
        results["chain"] = {}
        keep = "idle" in only
        for system in systems:
            rounds = args.rounds if system == "stoker" else args.upstream_rounds
            say(f"chain of {args.chain_length}: {system}, {rounds} rounds"
                + (" (side by side)" if system == "upstream" and rounds > 1 else ""))
            runs = _guard(results, f"chain/{system}", say,
                          lambda system=system, rounds=rounds: scenarios.chain(
                              bench, system, rounds, args.chain_length, concurrent=system == "upstream",
                              keep_last=keep))
            if not runs:
                continue
            kept.extend(r.agent for r in runs if r.agent is not None)
            results["chain"][system] = [r.figures() for r in runs]
        if "idle" in only and len(kept) == len(systems):
            agents = {a.name: (a, results["chain"][a.name][-1]["metadata"]) for a in kept}
            say(f"idle: {', '.join(agents)} polling their unchanged documents for {args.idle_seconds:.0f}s")
            figures = _guard(results, "idle", say, lambda: scenarios.idle(bench, agents, args.idle_seconds))
            if figures:
                results["idle"] = {s: asdict(f) for s, f in figures.items()}
        for agent in kept:
            agent.stop()
        kept.clear()
    elif "idle" in only:
        results["errors"]["idle"] = "the idle scenario watches the agents the chain scenario leaves running"
    if "spread" in only:
        results["spread"] = {}
        for mode, on in (("default", True), ("no spread, no jitter", False)):
            say(f"spread: {args.spread_agents} stoker agents started together ({mode}), one publish to all")
            figures = _guard(results, f"spread/{mode}", say,
                             lambda on=on: spread.spread(bench, args.spread_agents, on))
            if figures:
                results["spread"][mode] = asdict(figures)
    if "scale" in only:
        sizes = [int(s) for s in args.scale.split(",") if s.strip()]
        say(f"per-poll cost with {', '.join(map(str, sizes))} finished deployments "
            f"({args.scale_seconds:.0f}s each, polling every 1s)")
        figures = _guard(results, "scale", say,
                         lambda: scenarios.scale(bench, sizes, args.scale_seconds, systems=tuple(systems)))
        if figures:
            results["scale"] = {s: [asdict(f) for f in fs] for s, fs in figures.items()}


# ---------------------------------------------------------------- report


def _jsonable(value):
    return str(value)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def _fmt(value: float | None, unit: str = "s", digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "MiB":
        return f"{value / MIB:.1f} MiB"
    if unit == "B":
        return f"{value / 1024:.1f} KiB" if value >= 1024 else f"{value:.0f} B"
    if unit == "ms":
        return f"{value * 1000:.{digits}f} ms"
    if unit == "":
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} {unit}"


def _spread_rows(results: dict, interval: float) -> list[tuple[str, str, str, str, str]]:
    """stoker's defaults beside stoker without spread and jitter (the upstream column holds the latter)."""
    figures = results.get("spread") or {}
    on, off = figures.get("default"), figures.get("no spread, no jitter")
    if not on:
        return []
    off = off or {}
    rows = [(f"spread: {on['agents']} agents started together, one publish", "", "(no spread, no jitter)", "", ""),
            ("  publish -> the last agent's fetch", _fmt(on["last_fetch"]), _fmt(off.get("last_fetch")), "",
             f"<={interval:g}s: {_verdict(on['last_fetch'] <= interval)}"),
            ("  publish -> the last signal", _fmt(on["last_signal"]), _fmt(off.get("last_signal")), "", ""),
            (f"  polls, busiest {interval / 5:g}s over the mean, steady", _fmt(on["steady_peak_to_mean"], ""),
             _fmt(off.get("steady_peak_to_mean"), ""), "",
             f"<=1.5: {_verdict(on['steady_peak_to_mean'] <= 1.5)}"),
            ("  the same, publish -> last signal", _fmt(on["update_peak_to_mean"], ""),
             _fmt(off.get("update_peak_to_mean"), ""), "",
             f"<=1.5: {_verdict(on['update_peak_to_mean'] <= 1.5)}")]
    return rows


def _md_cell(cell: str) -> str:
    stripped = cell.lstrip(" ")
    return "&nbsp;&nbsp;" * ((len(cell) - len(stripped)) // 2) + stripped.rstrip()


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "MISSED")


def report(results: dict, systems, markdown: bool = False) -> str:
    s = results["settings"]
    interval = s["polling_interval"]
    lines = [
        "stoker vs the upstream chain (os-collect-config + os-refresh-config + os-apply-config + heat-agents)",
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}",
    ]
    if results.get("versions"):
        lines.append("upstream: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()))
    lines += [
        "settings: both systems run with their default settings, except that every file they write stays",
        "  under a temporary directory and both poll the same loopback Swift TempURL server"
        + (" over HTTPS (a private CA\n  both are told to trust: stoker's ca_certificate, upstream's REQUESTS_CA_BUNDLE)"
           if s.get("https") else "") + "; both take the",
        f"  polling interval from the metadata's os-collect-config key: {interval:g} s on both sides",
        "  (default 30 s; smaller so that the run takes minutes, not an hour), min_polling_interval 1 s.",
        f"rounds: stoker {s['rounds']}, upstream {s['upstream_rounds']} (figures are medians);"
        " upstream's chain rounds run side by side.",
        "",
    ]
    rows: list[tuple[str, str, str, str, str]] = []
    header = ("scenario", "stoker", "upstream", "ratio", "target")
    hook = results.get("hook") or {}
    rt = results.get("round_trip")

    chain = results.get("chain") or {}
    st_chain = median([r["seconds"] for r in chain.get("stoker", [])]) if chain.get("stoker") else None
    up_chain = median([r["seconds"] for r in chain.get("upstream", [])]) if chain.get("upstream") else None
    n = s["chain_length"]
    if chain:
        ratio = _ratio(up_chain, st_chain)
        rows.append((f"chain of {n}: first publish -> last signal", _fmt(st_chain), _fmt(up_chain),
                     f"{ratio:.1f}x faster" if ratio else "-",
                     f">=20x: {_verdict(None if ratio is None else ratio >= TARGETS['chain'])}"))
        st_step = median([x for r in chain.get("stoker", []) for x in r["steps"]]) if chain.get("stoker") else None
        up_step = median([x for r in chain.get("upstream", []) for x in r["steps"]]) if chain.get("upstream") else None
        rows.append(("  per deployment (signal to signal)", _fmt(st_step), _fmt(up_step),
                     _fmt(_ratio(up_step, st_step), "", 1) + "x" if _ratio(up_step, st_step) else "-", ""))
    floor = None
    if rt and hook.get("stoker") and chain.get("stoker"):
        gap = median([r["first_poll_gap"] for r in chain["stoker"]])
        per = hook["stoker"] + rt["get"] + rt["put"]
        floor = gap + n * per
        ratio = _ratio(st_chain, floor)
        rows.append((f"  floor: poll gap + {n} x (GET + hook + PUT)", _fmt(floor), "",
                     f"stoker {ratio:.2f}x floor" if ratio else "-",
                     f"<={TARGETS['chain_floor']:g}x: {_verdict(None if ratio is None else ratio <= TARGETS['chain_floor'])}"))
        results["floor"] = {"seconds": floor, "poll_gap": gap, "hook": hook["stoker"], **rt}
    first = results.get("first") or {}
    if first:
        st_first = median(first["stoker"]) if first.get("stoker") else None
        up_first = median(first["upstream"]) if first.get("upstream") else None
        ratio = _ratio(up_first, st_first)
        overhead = st_first - hook["stoker"] if st_first is not None and hook.get("stoker") else None
        rows.append(("first deployment after start", _fmt(st_first), _fmt(up_first),
                     f"{ratio:.1f}x faster" if ratio else "-",
                     f"<0.3s + hook: {_verdict(None if overhead is None else overhead < TARGETS['first_overhead'])}"))
        if hook:
            rows.append(("  the script hook alone (start-up + config)", _fmt(hook.get("stoker")),
                         _fmt(hook.get("upstream")), "",
                         f"stoker overhead {_fmt(overhead)}" if overhead is not None else ""))
    idle = results.get("idle") or {}
    if idle:
        st, up = idle.get("stoker", {}), idle.get("upstream", {})
        ratio = _ratio(st.get("rss"), up.get("rss"))
        rows.append(("idle: resident memory (RSS, with children)", _fmt(st.get("rss"), "MiB"),
                     _fmt(up.get("rss"), "MiB"), f"{ratio:.2f}" if ratio else "-",
                     f"<=0.4: {_verdict(None if ratio is None else ratio <= TARGETS['idle_memory'])}"))
        ratio = _ratio(st.get("pss"), up.get("pss"))
        rows.append(("  proportional set size (PSS)", _fmt(st.get("pss"), "MiB"), _fmt(up.get("pss"), "MiB"),
                     f"{ratio:.2f}" if ratio else "-", ""))
        ratio = _ratio(st.get("requests_per_minute"), up.get("requests_per_minute"))
        rows.append((f"idle: requests per minute ({interval:g} s interval)", _fmt(st.get("requests_per_minute"), "", 1),
                     _fmt(up.get("requests_per_minute"), "", 1), f"{ratio:.2f}" if ratio else "-", ""))
        ratio = _ratio(st.get("bytes_per_minute"), up.get("bytes_per_minute"))
        rows.append(("idle: bytes on the wire per minute", _fmt(st.get("bytes_per_minute"), "B"),
                     _fmt(up.get("bytes_per_minute"), "B"), f"{ratio:.3f}" if ratio else "-",
                     f"<=0.1: {_verdict(None if ratio is None else ratio <= TARGETS['idle_bytes'])}"))
    scale = results.get("scale") or {}
    if scale:
        st_list, up_list = scale.get("stoker", []), scale.get("upstream", [])
        for i, fig in enumerate(st_list or up_list):
            st_cpu = st_list[i]["cpu_per_poll"] if i < len(st_list) else None
            up_cpu = up_list[i]["cpu_per_poll"] if i < len(up_list) else None
            ratio = _ratio(up_cpu, st_cpu)
            rows.append((f"CPU per poll, {fig['finished']} finished deployments "
                         f"({fig['document_bytes'] / 1024:.0f} KiB)", _fmt(st_cpu, "ms"), _fmt(up_cpu, "ms"),
                         f"{ratio:.1f}x less" if ratio else "-", ""))
            st_new = st_list[i]["new_deployment"] if i < len(st_list) else None
            up_new = up_list[i]["new_deployment"] if i < len(up_list) else None
            ratio = _ratio(up_new, st_new)
            rows.append(("  then one more: the poll that fetched it -> signal", _fmt(st_new), _fmt(up_new),
                         f"{ratio:.1f}x faster" if ratio else "-", ""))
        if len(st_list) > 1:
            growth = _ratio(st_list[-1]["cpu_per_poll"], st_list[0]["cpu_per_poll"])
            rows.append((f"  stoker: {st_list[-1]['finished']} vs {st_list[0]['finished']} finished", "", "",
                         f"{growth:.2f}x" if growth else "-",
                         f"flat (<=1.5x): {_verdict(None if growth is None else growth <= TARGETS['flat'])}"))
    rows.extend(_spread_rows(results, interval))
    if markdown:
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines.extend("| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows)
    else:
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(5)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines.append(fmt.format(*header))
        lines.append("  ".join("-" * w for w in widths))
        lines.extend(fmt.format(*row).rstrip() for row in rows)
    if results.get("floor"):
        f = results["floor"]
        lines += ["", f"floor parts: stoker's quickest poll gap {f['poll_gap']:.3f} s (paid once: deployment 1 is "
                      f"published just after a poll), GET {f['get'] * 1000:.1f} ms, script hook "
                      f"{f['hook'] * 1000:.0f} ms, PUT {f['put'] * 1000:.1f} ms per deployment"]
    if results["errors"]:
        lines += ["", "errors:"] + [f"  {k}: {v}" for k, v in results["errors"].items()]
    lines += ["", f"total run time {results['elapsed']:.0f} s"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
