"""The table ``python -m bench faults`` prints: each figure beside its target, met or MISSED."""
from __future__ import annotations

from typing import Any

def report(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = []
    _report_sigkill(results.get("sigkill"), rows)
    _report_disk(results.get("disk"), rows)
    _report_damage(results.get("damage"), rows)
    _report_outage(results.get("outage"), rows)
    header = ("scenario", "figure", "target")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(3)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = ["stoker under faults", "", line.format(*header), "  ".join("-" * w for w in widths)]
    lines += [line.format(*row).rstrip() for row in rows]
    failed = (results.get("damage") or {}).get("failed_cases") or {}
    if failed:
        lines += ["", "damaged-state cases that missed:"]
        lines += [f"  {case}: {'; '.join(why)[:300]}" for case, why in failed.items()]
    if results["errors"]:
        lines += ["", "errors:"] + [f"  {k}: {v}" for k, v in results["errors"].items()]
    lines += ["", f"total run time {results['elapsed']:.0f} s"]
    return "\n".join(lines)


def _verdict(value: Any, ok: bool) -> str:
    return f"{value}  {'met' if ok else 'MISSED'}"


def _report_sigkill(fig: dict[str, Any] | None, rows: list[tuple[str, str, str]]) -> None:
    if not fig:
        return
    rows += [
        (f"SIGKILL loop: chained deployments (seed {fig['seed']})", str(fig["deployments"]), ""),
        ("  kills / inside hooks / in signal delivery",
         f"{fig['kills']} / {fig['kills_in_hooks']} / {fig['kills_in_delivery']}", ""),
        ("  agent exits nobody asked for", str(fig["crashes"]), _verdict(0, fig["crashes"] == 0)),
        ("  lost (never signalled)", str(len(fig["lost"])), _verdict(0, not fig["lost"])),
        ("  signalled twice", str(len(fig["signalled_twice"])), _verdict(0, not fig["signalled_twice"])),
        ("    re-sent once after a kill between receipt and record", str(len(fig["resent_after_kill"])),
         "allowed (at least once)"),
        ("  run twice", str(len(fig["run_twice"])), _verdict(0, not fig["run_twice"])),
        ("  false 'interrupted'", str(len(fig["false_interrupted"])), _verdict(0, not fig["false_interrupted"])),
        ("  total", f"{fig['seconds']:.1f} s", _verdict("<= 300 s", fig["seconds"] <= 300)),
    ]


def _report_disk(fig: dict[str, Any] | None, rows: list[tuple[str, str, str]]) -> None:
    if not fig:
        return
    if "unavailable" in fig:
        rows.append(("full disk", f"not run: {fig['unavailable']}", ""))
        return
    received = "yes" if fig["signal_received"] else "no"
    named = "names the full disk" if fig["says_disk_full"] else "does not name the full disk"
    ok = fig["signal_received"] and fig["says_disk_full"] and fig["failure_code"] not in (0, None)
    recovered = f"{fig['recovery_seconds']:.2f} s" if fig["recovery_seconds"] is not None else "never"
    rows += [
        ("full disk: failure signal received", f"{received} ({named})", _verdict("yes, naming it", ok)),
        ("  daemon restarts", str(fig["daemon_restarts"]), _verdict(0, fig["daemon_restarts"] == 0)),
        ("  next deployment after space returns", recovered,
         _verdict("succeeds", fig["recovered"] and fig["after_code"] == 0)),
        ("  the big deployment's runs / signals", f"{fig['big_runs']} / {fig['big_signals']}",
         _verdict("1 / 1", fig["big_runs"] == 1 and fig["big_signals"] == 1)),
    ]


def _report_damage(fig: dict[str, Any] | None, rows: list[tuple[str, str, str]]) -> None:
    if not fig:
        return
    rows += [
        ("damaged state: cases (file x kind of damage)", str(fig["cases"]), ""),
        ("  survived (no traceback, documented exit codes)", str(fig["survived"]),
         _verdict(fig["cases"], fig["survived"] == fig["cases"])),
        ("  reported (quarantined, listed, Heat told)", f"{fig['reported']} of {fig['must_report']}",
         _verdict(fig["must_report"], fig["reported"] == fig["must_report"])),
        ("  cases where a deployment ran again", str(fig["rerun"]), _verdict(0, fig["rerun"] == 0)),
    ]


def _report_outage(fig: dict[str, Any] | None, rows: list[tuple[str, str, str]]) -> None:
    if not fig:
        return
    delay = f"{fig['delay']:.1f} s" if fig["delay"] is not None else "never"
    rows += [
        (f"signal outage of {fig['outage']:.0f} s: delivered after recovery", delay, ""),
        ("  signals received", str(fig["signals"]), _verdict(1, fig["signals"] == 1)),
    ]
