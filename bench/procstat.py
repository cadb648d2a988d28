"""What a process tree costs, read from /proc: resident memory and CPU time, children included.

CPU time comes from ``/proc/<pid>/task/<tid>/schedstat`` (nanoseconds on the
CPU, per thread) where the kernel has it, else from ``stat`` clock ticks; the
children that already exited are added from the parent's ``cutime``/``cstime``.
"""
from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: split after the last ')'
    return raw[raw.rindex(")") + 2:].split()


def children_map() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    tree = children_map()
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(tree.get(current, []))
    return out


def rss_bytes(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size (shared pages divided among their users), 0 when unknown."""
    try:
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(pid: int) -> int:
    """Resident memory of the process and every live descendant, summed."""
    return sum(rss_bytes(p) for p in tree_pids(pid))


def tree_pss(pid: int) -> int:
    return sum(pss_bytes(p) for p in tree_pids(pid))


def _cpu_live(pid: int) -> float:
    """Seconds on the CPU of all threads of ``pid`` (not its children)."""
    total, found = 0, False
    try:
        for task in (PROC / str(pid) / "task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
                found = True
            except (OSError, ValueError, IndexError):
                continue
    except OSError:
        return 0.0
    if found and total:
        return total / 1e9
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _cpu_reaped(pid: int) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[13]) + int(fields[14])) / TICK


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by the tree: live threads plus the children already waited for."""
    return sum(_cpu_live(p) + _cpu_reaped(p) for p in tree_pids(pid))
