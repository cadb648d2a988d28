"""Hook cgroups: a timeout stops setsid'd grandchildren too; no cgroup v2 means a quiet fallback."""
import contextlib
import errno
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from stoker import hookcgroup
from stoker.hookcgroup import HookCgroup, describe_mode, sweep_empty

pytestmark = pytest.mark.unit

# A wrapper that enters the cgroup, then execs the hook,
# so the hook cannot fork before it is inside.
WRAPPER = 'echo $$ > "$0" && exec sh -c "$1"'
SETSID_FAMILY = 'setsid sleep 300 & setsid sh -c "sleep 300" & wait'


@pytest.fixture(autouse=True)
def fresh_verdicts(monkeypatch):
    """Each test decides afresh whether cgroups work; no verdict leaks between tests."""
    monkeypatch.setattr(hookcgroup, "_verdicts", {})
    monkeypatch.setattr(hookcgroup, "_refusal", None)


@pytest.fixture
def make_cgroup():
    """Create real hook cgroups (skip where impossible); kill and remove them all afterwards."""
    made: list[HookCgroup] = []

    def make(name: str = "test") -> HookCgroup:
        cgroup = HookCgroup.create(f"{name}-{uuid.uuid4().hex[:8]}")
        if cgroup is None:
            pytest.skip(f"no writable cgroup v2 here: {describe_mode(None)}")
        made.append(cgroup)
        return cgroup

    try:
        yield make
    finally:
        for cgroup in made:
            force_clean(cgroup.path)


@pytest.fixture
def processes():
    """Start hook-like processes; kill and reap them afterwards, whatever the test did."""
    started: list[subprocess.Popen] = []

    def start(cgroup: HookCgroup, script: str) -> subprocess.Popen:
        process = subprocess.Popen(["sh", "-c", WRAPPER, str(cgroup.procs_file), script],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def force_clean(path: Path) -> None:
    """Kill everything in ``path`` and rmdir it without trusting the code under test."""
    deadline = time.monotonic() + 5
    while path.exists() and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            for word in (path / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(word), signal.SIGKILL)
        with contextlib.suppress(OSError):
            path.rmdir()
        time.sleep(0.02)


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def start_family(start, cgroup: HookCgroup, script: str, sleepers: int) -> tuple[int, list[int]]:
    """Start ``script`` in ``cgroup``; once its ``sleepers`` sleeps run, its pid and every pid in the cgroup."""
    process = start(cgroup, script)
    wait_for(lambda: sum(_program(pid) == "sleep" for pid in cgroup.pids()) == sleepers)
    assert process.pid in cgroup.pids()
    return process.pid, cgroup.pids()


def _program(pid: int) -> str:
    """What ``pid`` runs now ("sleep" only after exec, so a sleeper has finished setsid)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip()
    return ""


def fake_proc(tmp_path: Path, monkeypatch, mountinfo: str | None, self_cgroup: str | None = "0::/\n") -> None:
    """Point the module at a made-up /proc/self/mountinfo and /proc/self/cgroup."""
    for attribute, name, text in (("MOUNTINFO", "mountinfo", mountinfo),
                                  ("SELF_CGROUP", "cgroup", self_cgroup)):
        path = tmp_path / "proc" / name
        if text is not None:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
        monkeypatch.setattr(hookcgroup, attribute, path)


def cgroup2_line(point: Path | str, root: str = "/", options: str = "rw,relatime") -> str:
    return f"41 31 0:38 {root} {point} {options} shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"


def test_stop_kills_setsid_grandchildren_that_left_the_process_group(make_cgroup, processes):
    cgroup = make_cgroup()
    hook, pids = start_family(processes, cgroup, SETSID_FAMILY, sleepers=2)
    escaped = [pid for pid in pids if os.getpgid(pid) != hook]
    assert len(escaped) >= 2, "setsid should have taken the sleeps out of the hook's process group"

    cgroup.stop(grace=1)

    assert not any(alive(pid) for pid in pids)
    assert cgroup.pids() == [] and not cgroup.populated()
    cgroup.remove()
    assert not cgroup.path.exists()


def test_stop_kills_processes_that_ignore_sigterm_after_the_grace(make_cgroup, processes):
    cgroup = make_cgroup()
    _, pids = start_family(processes, cgroup, "trap '' TERM; setsid sleep 300 & sleep 300 & wait", sleepers=2)

    started = time.monotonic()
    cgroup.stop(grace=1)
    took = time.monotonic() - started

    assert 0.9 <= took < 4
    assert not any(alive(pid) for pid in pids)
    cgroup.remove()
    assert not cgroup.path.exists()


def test_stop_without_cgroup_kill_sigkills_each_process(make_cgroup, processes, monkeypatch):
    monkeypatch.setattr(hookcgroup, "KILL_FILE", "no-such-file")
    cgroup = make_cgroup()
    _, pids = start_family(processes, cgroup, "trap '' TERM; " + SETSID_FAMILY, sleepers=2)

    cgroup.stop(grace=0.2)

    assert not any(alive(pid) for pid in pids)
    assert not cgroup.populated()


def test_stop_of_an_empty_cgroup_returns_at_once(make_cgroup):
    cgroup = make_cgroup()
    started = time.monotonic()
    cgroup.stop(grace=5)
    assert time.monotonic() - started < 0.5


def test_remove_keeps_a_cgroup_that_still_has_processes(make_cgroup, processes):
    cgroup = make_cgroup()
    start_family(processes, cgroup, "sleep 300", sleepers=1)
    cgroup.remove()
    assert cgroup.path.is_dir()


def test_join_moves_a_running_process_and_refuses_one_that_is_gone(make_cgroup):
    cgroup = make_cgroup()
    with subprocess.Popen(["sleep", "300"]) as sleeper:
        try:
            assert cgroup.join(sleeper.pid)
            assert cgroup.pids() == [sleeper.pid] and cgroup.populated()
        finally:
            sleeper.kill()
    assert not cgroup.join(sleeper.pid)
    assert make_cgroup("still-works") is not None, "a vanished pid must not disable cgroups"


def test_create_sanitises_the_name_and_makes_leftovers_unique(make_cgroup):
    first = make_cgroup("../odd name/" + "x" * 300)
    assert first.path.parent == hookcgroup.own_cgroup()
    assert first.path.name.startswith("stoker-hook-.._odd_name_x")
    assert len(first.path.name) <= len("stoker-hook-") + 100
    name = first.path.name[len("stoker-hook-"):]
    second = HookCgroup.create(name)
    assert second is not None
    try:
        assert second.path != first.path and second.path.name.startswith(first.path.name)
    finally:
        force_clean(second.path)


@pytest.mark.parametrize("mountinfo, self_cgroup", [
    (None, "0::/\n"),
    ("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", "0::/\n"),
    ("{ro}", "0::/\n"),
    ("{missing}", "0::/\n"),
    ("{rw}", "4:memory:/only-v1\n"),
    ("{rw}", None),
], ids=["no-mountinfo", "no-cgroup2-mount", "read-only-mount", "mount-point-missing",
        "only-v1-membership", "no-proc-self-cgroup"])
def test_create_returns_none_without_a_writable_cgroup2_root(tmp_path, monkeypatch, mountinfo, self_cgroup):
    if mountinfo is not None:
        mountinfo = mountinfo.format(ro=cgroup2_line(tmp_path, options="ro,relatime"),
                                     missing=cgroup2_line(tmp_path / "absent"),
                                     rw=cgroup2_line(tmp_path))
    fake_proc(tmp_path, monkeypatch, mountinfo, self_cgroup)

    assert HookCgroup.create("deploy") is None
    assert not list(tmp_path.glob("stoker-hook-*"))
    assert describe_mode(None).startswith("hooks in their own process group (")
    assert sweep_empty() == 0


def test_create_returns_none_and_cleans_up_when_processes_cannot_be_moved(tmp_path, monkeypatch):
    # A plain directory takes mkdir but has no cgroup.procs: the probe's join fails.
    fake_proc(tmp_path, monkeypatch, cgroup2_line(tmp_path))

    assert HookCgroup.create("deploy") is None
    assert not list(tmp_path.glob("stoker-hook-*"))
    assert "cannot move processes" in describe_mode(None)


def test_a_refused_join_is_remembered_so_later_creates_fall_back_at_once(make_cgroup, monkeypatch):
    cgroup = make_cgroup()

    def refuse(procs_file, pid):
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(procs_file))

    real_write_pid = hookcgroup._write_pid
    monkeypatch.setattr(hookcgroup, "_write_pid", refuse)
    assert not cgroup.join(999_999_999)
    monkeypatch.setattr(hookcgroup, "_write_pid", real_write_pid)

    assert HookCgroup.create("deploy") is None, "the kernel said EBUSY once; do not ask again"
    assert "cannot move processes" in describe_mode(None)


def test_own_cgroup_joins_the_cgroup2_mount_and_the_v2_path(tmp_path, monkeypatch):
    point = tmp_path / "cgroup unified"
    (point / "system.slice" / "stoker.service").mkdir(parents=True)
    mountinfo = (cgroup2_line(str(point).replace(" ", "\\040"))
                 + "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n")
    fake_proc(tmp_path, monkeypatch, mountinfo, "9:name=systemd:/x\n0::/system.slice/stoker.service\n")
    assert hookcgroup.own_cgroup() == point / "system.slice" / "stoker.service"


def test_own_cgroup_strips_the_root_of_a_bind_mounted_subtree(tmp_path, monkeypatch):
    (tmp_path / "stoker.service").mkdir()
    fake_proc(tmp_path, monkeypatch, cgroup2_line(tmp_path, root="/system.slice"),
              "0::/system.slice/stoker.service\n")
    assert hookcgroup.own_cgroup() == tmp_path / "stoker.service"


def test_sweep_empty_removes_empty_leftovers_but_keeps_populated_ones(make_cgroup, processes):
    tag = f"sweep{uuid.uuid4().hex[:8]}"
    empty = [make_cgroup(f"{tag}-a"), make_cgroup(f"{tag}-b")]
    busy = make_cgroup(f"{tag}-c")
    start_family(processes, busy, "sleep 300", sleepers=1)

    assert sweep_empty(prefix=f"stoker-hook-{tag}") == 2

    assert not any(cgroup.path.exists() for cgroup in empty)
    assert busy.path.is_dir()


def test_describe_mode_names_the_cgroup_or_the_fallback(make_cgroup):
    assert describe_mode(None) == "hooks in their own process group (cgroup v2 not writable here)"
    cgroup = make_cgroup()
    assert describe_mode(cgroup) == f"each hook in its own cgroup under {cgroup.path.parent}"


def test_warm_up_leaves_the_agent_in_its_own_cgroup_and_ignores_a_refusal(make_cgroup, tmp_path):
    own = make_cgroup().path.parent
    before = Path("/proc/self/cgroup").read_text()
    hookcgroup.warm_up(own).join(timeout=30)
    assert Path("/proc/self/cgroup").read_text() == before, "the agent was moved somewhere else"
    hookcgroup.warm_up(tmp_path / "no-such-cgroup").join(timeout=30)  # refused: nothing raised, nothing moved
    assert Path("/proc/self/cgroup").read_text() == before
