"""The fleet table: each figure for stoker and upstream, their ratio, and the target it answers."""
from __future__ import annotations

import math
import os
import platform

MIB = 1024 * 1024
TARGETS = {"converge": 5.0, "peak_to_mean": 1.5}
SERVICE_NAMES = {"heat": "Heat API (heat-api + heat-api-cfn)", "keystone": "Keystone", "swift-proxy": "Swift proxy"}


def _num(value) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _fmt(value, unit: str = "s", digits: int = 1) -> str:
    value = _num(value)
    if value is None:
        return "-"
    if unit == "MiB":
        return f"{value / MIB:.0f} MiB"
    return f"{value:.{digits}f}{' ' + unit if unit else ''}"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "MISSED")


def _faster(st, up) -> tuple[str, float | None]:
    st, up = _num(st), _num(up)
    if not st or up is None:
        return "-", None
    return f"{up / st:.1f}x faster", up / st


def _share(st, up, digits: int = 2) -> tuple[str, float | None]:
    st, up = _num(st), _num(up)
    if st is None or not up:
        return "-", None
    return f"{st / up:.{digits}f}", st / up


def rows(results: dict) -> list[tuple[str, str, str, str, str]]:
    systems = results.get("systems") or {}
    st, up = systems.get("stoker") or {}, systems.get("upstream") or {}
    interval = results["settings"]["polling_interval"]
    out = []
    text, _ = _faster(st.get("create"), up.get("create"))
    out.append(("stack create: POST -> CREATE_COMPLETE", _fmt(st.get("create")), _fmt(up.get("create")), text, ""))
    text, ratio = _faster(st.get("create_converge"), up.get("create_converge"))
    out.append(("  fleet converges: first deployment begun -> last complete", _fmt(st.get("create_converge")),
                _fmt(up.get("create_converge")), text,
                f">=5x: {_verdict(None if ratio is None else ratio >= TARGETS['converge'])}"))
    text, _ = _faster(st.get("update"), up.get("update"))
    out.append(("stack update (new input): PATCH -> UPDATE_COMPLETE", _fmt(st.get("update")), _fmt(up.get("update")),
                text, ""))
    text, ratio = _faster(st.get("update_converge"), up.get("update_converge"))
    out.append(("  fleet converges: first deployment begun -> last complete", _fmt(st.get("update_converge")),
                _fmt(up.get("update_converge")), text,
                f">=5x: {_verdict(None if ratio is None else ratio >= TARGETS['converge'])}"))
    lag = _num(st.get("update_last_start"))
    out.append(("  a deployment begun -> its script start, slowest server", _fmt(st.get("update_last_start")),
                _fmt(up.get("update_last_start")), "",
                f"<={interval:g}s: {_verdict(None if lag is None else lag <= interval)}"))
    out.append(("  first -> last script start", _fmt(st.get("update_start_spread")),
                _fmt(up.get("update_start_spread")), "", ""))
    out.append(("  Heat: first -> last deployment begun", _fmt(st.get("update_begin_spread")),
                _fmt(up.get("update_begin_spread")), "", ""))
    out.append(("  a script start -> its deployment complete, slowest", _fmt(st.get("update_last_complete")),
                _fmt(up.get("update_last_complete")), "", ""))
    peak = _num(st.get("update_peak_to_mean"))
    out.append((f"  metadata polls, busiest {interval / 5:g}s over the mean", _fmt(st.get("update_peak_to_mean"), "", 2),
                _fmt(up.get("update_peak_to_mean"), "", 2), "",
                f"<=1.5: {_verdict(None if peak is None else peak <= TARGETS['peak_to_mean'])}"))
    for service, label in SERVICE_NAMES.items():
        s, u = (st.get("idle_requests") or {}).get(service), (up.get("idle_requests") or {}).get(service)
        text, _ = _share(s, u)
        out.append((f"idle: {label} requests per server-hour", _fmt(s, "", 0), _fmt(u, "", 0), text, ""))
        if service == "heat":
            out += _poll_rate_rows(st, up, interval)
    for service, label in SERVICE_NAMES.items():
        s, u = (st.get("idle_cpu") or {}).get(service), (up.get("idle_cpu") or {}).get(service)
        text, _ = _share(s, u)
        out.append((f"idle: {label.split(' (')[0]} CPU per server-hour", _fmt(s, "s", 2), _fmt(u, "s", 2), text, ""))
    text, _ = _share(st.get("rss"), up.get("rss"))
    out.append((f"agents' memory, all {st.get('servers') or up.get('servers')} (RSS)", _fmt(st.get("rss"), "MiB"),
                _fmt(up.get("rss"), "MiB"), text, ""))
    text, _ = _share(st.get("pss"), up.get("pss"))
    out.append(("  proportional set size (PSS)", _fmt(st.get("pss"), "MiB"), _fmt(up.get("pss"), "MiB"), text, ""))
    return out


def _poll_rate_rows(st: dict, up: dict, interval: float) -> list[tuple[str, str, str, str, str]]:
    """The Heat API's metadata polls per server-hour from each agent's gaps, and the mean gap."""
    s, u = (st.get("idle_polls") or {}).get("heat"), (up.get("idle_polls") or {}).get("heat")
    text, ratio = _share(s, u)
    rows = [("  of which metadata polls, from each agent's own gaps", _fmt(s, "", 0), _fmt(u, "", 0), text,
             f"<=upstream: {_verdict(None if ratio is None else ratio <= 1.0)}")]
    s, u = (st.get("idle_poll_gap") or {}).get("heat"), (up.get("idle_poll_gap") or {}).get("heat")
    rows.append(("  mean time between one agent's polls", _fmt(s, "s", 2), _fmt(u, "s", 2), "",
                 f"{interval:g} s configured"))
    return rows


def table(results: dict, markdown: bool = False) -> str:
    s = results["settings"]
    systems = results.get("systems") or {}
    any_run = next(iter(systems.values()), {})
    split = any_run.get("split") or {}
    lines = [
        "a fleet on a real Heat: stoker vs the upstream chain (os-collect-config + os-refresh-config + "
        "os-apply-config + heat-agents)",
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}; "
        "Heat 27 (engine + APIs in one process), Keystone and Swift on loopback, all agents on this machine",
    ]
    if results.get("versions"):
        lines.append("upstream: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()))
    lines += [
        f"fleet: {s['servers']} OS::Heat::DeployedServers in one stack "
        f"({', '.join(f'{n} {t}' for t, n in split.items())}: POLL_SERVER_CFN/CFN_SIGNAL, "
        "POLL_SERVER_HEAT/HEAT_SIGNAL, POLL_TEMP_URL/TEMP_URL_SIGNAL), one SoftwareDeploymentGroup per transport;",
        f"  polling_interval {s['polling_interval']:g} s in every server's metadata (both systems honour it), "
        f"otherwise defaults; idle window {s['idle_seconds']:g} s; stoker first, then upstream, on the same Heat",
        "",
    ]
    header = ("fleet", "stoker", "upstream", "ratio", "target")
    body = rows(results)
    if markdown:
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in body]
    else:
        widths = [max(len(r[i]) for r in body + [header]) for i in range(5)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines += [fmt.format(*header), "  ".join("-" * w for w in widths)]
        lines += [fmt.format(*row).rstrip() for row in body]
    for name, figures in systems.items():
        if figures.get("update_incomplete"):
            lines += ["", f"{name}: {figures['update_incomplete']} deployment(s) never completed the update "
                          "(their signal never reached Heat); the update figures are missing for it"]
    if results["errors"]:
        lines += ["", "errors:"] + [f"  {k}: {v}" for k, v in results["errors"].items()]
    lines += ["", f"total run time {results['elapsed']:.0f} s"]
    return "\n".join(lines)


def _md(cell: str) -> str:
    stripped = cell.lstrip(" ")
    return "&nbsp;&nbsp;" * ((len(cell) - len(stripped)) // 2) + stripped
