"""The hook contract, shared by every stoker hook.

A hook reads one deployment item (JSON) on stdin and prints exactly one JSON
object on stdout: ``deploy_stdout``, ``deploy_stderr``, ``deploy_status_code``
and one key per declared output. This module holds the parts every hook needs
so that no hook repeats them: reading the item, turning inputs into
environment variables or facts, running the tool with its output captured
(never passed through to our stdout), reading outputs back from
``$heat_outputs_path.<name>``, writing working files safely, and printing the
result. It runs under the system ``python3`` with the standard library only,
because hooks are executed directly, outside the agent's environment, and
third-party tooling runs them by hand (``hook < deployed/<id>.json``).

Hooks import it from their own directory::

    sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
    import hookkit
"""
from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import subprocess
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (postponed): importing typing costs every hook start about 2 ms
    from typing import Any, Callable, Iterable, Iterator, Mapping

# Every hook run starts a Python: what is imported here is paid per deployment. Modules only
# some hooks or some paths need (hashlib loads OpenSSL, tempfile brings shutil, random, bz2
# and lzma, dataclasses brings inspect) are imported where they are used, or not at all.

# Keep at most this much of each captured stream: the signal must stay under
# Heat's 1 MiB body limit, and errors come last, so the tail is what matters.
CAPTURE_LIMIT = 1024 * 1024
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
SECRET_INPUT = re.compile(r"(password|passwd|secret|token|_key$|^key$|signal_id|private)", re.IGNORECASE)
# A crash report is one line; a longer reason is cut here rather than flooding Heat's event list.
REASON_LIMIT = 1000
# The attribute :func:`doing` sets on an OSError: (what was being done, to which path).
_DOING = "stoker_doing"
# The last tool run, so that a crash after it does not throw away what the tool printed.
_last_tool: ToolResult | None = None


class ToolResult:
    """What a tool did: its exit code (negative for a signal) and captured text."""

    __slots__ = ("returncode", "stdout", "stderr")

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ToolResult):
            return NotImplemented
        return (self.returncode, self.stdout, self.stderr) == (other.returncode, other.stdout, other.stderr)

    def __repr__(self) -> str:
        return f"ToolResult(returncode={self.returncode!r}, stdout={self.stdout!r}, stderr={self.stderr!r})"


class HookFailure(Exception):
    """A failure the hook reports to Heat with a clear reason (and a status code)."""

    def __init__(self, message: str, code: int = 1, stdout: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.stdout = stdout


# ---------------------------------------------------------------- the item

_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def read_item(stream: io.TextIOBase | None = None) -> dict[str, Any]:
    """Parse the deployment item from stdin, normalising upstream's optional nulls."""
    try:
        raw = (stream or sys.stdin).read()
    except UnicodeDecodeError as err:
        raise HookFailure(f"the deployment item on stdin is not UTF-8 text: {err}") from None
    if not raw.strip():
        raise HookFailure("stdin is empty: a hook reads one deployment item (a JSON object) there")
    try:
        item = json.loads(raw)
    except ValueError as err:
        raise HookFailure(f"the deployment item on stdin is not JSON: {err}") from None
    if not isinstance(item, dict):
        raise HookFailure(f"the deployment item on stdin is a JSON {_JSON_TYPES.get(type(item), 'value')}, "
                          "not a JSON object")
    item["options"] = item.get("options") or {}
    item["outputs"] = item.get("outputs") or []
    item["inputs"] = item.get("inputs") or []
    return item


def file_id(item: Mapping[str, Any]) -> str:
    """The item's id, made safe to use as a file name."""
    ident = item.get("id")
    if isinstance(ident, str) and _SAFE_ID.match(ident):
        return ident
    import hashlib  # only for ids unsafe as file names: it loads OpenSSL

    return "h-" + hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:40]


def input_values(item: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs as name -> value; a later input of the same name wins, as in Heat."""
    values: dict[str, Any] = {}
    for entry in item.get("inputs") or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            values[entry["name"]] = entry.get("value")
    return values


def as_text(value: Any) -> str:
    """Render an input value of any type the way a shell script expects it.

    Strings as they are, numbers and booleans as JSON text (``3``, ``true``),
    lists and objects as JSON, null as the empty string.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def input_env(item: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Environment variables for every input whose name can be a variable name."""
    env = {}
    for name, value in input_values(item).items():
        key = prefix + name
        if key and "=" not in key and "\0" not in key:
            env[key] = as_text(value).replace("\0", "")
    return env


def is_secret_input(name: str) -> bool:
    """Whether an input's name says it holds a credential (never written into tool data)."""
    return bool(SECRET_INPUT.search(name))


def tool_inputs(item: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs meant for the user's tool: no ``deploy_*`` plumbing, no credentials."""
    return {name: value for name, value in input_values(item).items()
            if not name.startswith("deploy_") and not is_secret_input(name)}


def config_text(item: Mapping[str, Any]) -> str:
    """The item's config as text: a string as is, structured config as JSON."""
    config = item.get("config")
    if config is None:
        return ""
    if isinstance(config, str):
        return config
    return json.dumps(config, indent=2)


def path_mapping(item: Mapping[str, Any], group: str, values: str) -> dict[str, Any]:
    """The config of a hook whose config maps paths to ``values`` (jinja2, json-file): a JSON
    object, or a string holding one; anything else is a failure that says what is expected."""
    config = item.get("config")
    if isinstance(config, str):
        try:
            config = json.loads(config) if config.strip() else None
        except ValueError as err:
            raise HookFailure(f"{group} config must be a JSON object mapping paths to {values}: {err}") from None
    if not isinstance(config, dict) or not config:
        raise HookFailure(f"{group} config must be a JSON object mapping absolute paths to {values}")
    return config


def declared_outputs(item: Mapping[str, Any]) -> list[str]:
    """Names of declared outputs that can name a file next to ``heat_outputs_path``."""
    names = []
    for entry in item.get("outputs") or []:
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and name and "/" not in name and "\0" not in name and name not in (".", ".."):
            names.append(name)
    return names


def safe_inputs(item: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs minus credentials, ``deploy_*`` kept: for tools whose data outlives the run.

    Facts, hiera files and extra-vars files are read by other processes and
    often end up in reports, so credentials stay out; ``deploy_action`` and
    friends stay in because a lifecycle-aware config needs them.
    """
    return {name: value for name, value in input_values(item).items() if not is_secret_input(name)}


def action(item: Mapping[str, Any]) -> str:
    """The lifecycle step this item is for (``deploy_action``); CREATE when Heat sent none."""
    value = input_values(item).get("deploy_action")
    return value if isinstance(value, str) and value else "CREATE"


# ------------------------------------------------------------- the options

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}


def option(item: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    """The first of ``names`` present in the item's options (several spellings, one meaning)."""
    options = item.get("options")
    if not isinstance(options, dict):
        return default
    for name in names:
        if options.get(name) is not None:
            return options[name]
    return default


def option_bool(item: Mapping[str, Any], *names: str, default: bool = False) -> bool:
    """A boolean option; templates write ``true``, ``"true"`` or ``1``, so accept each."""
    value = option(item, *names, default=default)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise HookFailure(f"option {names[0]} must be a boolean, not {value!r}")


def option_text(item: Mapping[str, Any], *names: str) -> str | None:
    """A string option, or None when absent; a wrong type is a clear failure, not a crash."""
    value = option(item, *names)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HookFailure(f"option {names[0]} must be a string, not {value!r}")
    return value


def option_list(item: Mapping[str, Any], *names: str) -> str | None:
    """A list option (tags) as the comma-separated text tools take; a string passes as is."""
    value = option(item, *names)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value) or None
    return option_text(item, *names)


def command(variable: str, default: str) -> list[str]:
    """The tool's command from ``$variable`` (split like a shell would), else ``default``.

    Split so that operators can point at a wrapper with arguments
    (``HEAT_PUPPET_CMD="/opt/puppetlabs/bin/puppet"``, ``"sudo -E puppet"``).
    """
    import shlex

    try:
        words = shlex.split(os.environ.get(variable) or default)
    except ValueError as err:
        raise HookFailure(f"${variable} is not a valid command line: {err}") from None
    return words or [default]


# ------------------------------------------------------------- the files

@contextlib.contextmanager
def doing(what: str, path: str) -> Iterator[None]:
    """Mark an OSError raised inside with what was being done to which path.

    The error keeps its type, so callers that catch it still can; but if it
    ends the hook, the report says "cannot write <the file>" rather than
    naming a temporary file or a parent the template author never mentioned.
    The innermost mark wins: it is the most precise.
    """
    try:
        yield
    except OSError as error:
        if getattr(error, _DOING, None) is None:
            setattr(error, _DOING, (what, path))
        raise


# ``stoker plan`` runs a hook with STOKER_DRY_RUN=1 only when its file declares a line
# "# stoker-dry-run: <what it does>": the hook then says what would change and changes
# nothing (docs/architecture.md, "Previewing: stoker plan").
DRY_RUN_VARIABLE = "STOKER_DRY_RUN"


def dry_run() -> bool:
    """Whether this run is ``stoker plan``'s preview: report what would change, change nothing."""
    return os.environ.get(DRY_RUN_VARIABLE) == "1"


def file_diff(path: str, new: str | bytes) -> str:
    """A unified diff from the file as it is now to ``new``: empty when nothing would change."""
    import difflib

    text = new.decode("utf-8", "replace") if isinstance(new, bytes) else new
    try:
        with open(path, "rb") as handle:
            old: str | None = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        old = None
    except OSError as err:
        return f"{path}: cannot be read ({err.strerror or err}), so it cannot be compared\n"
    if old == text:
        return ""
    lines = difflib.unified_diff((old or "").splitlines(keepends=True), text.splitlines(keepends=True),
                                 fromfile="/dev/null" if old is None else path, tofile=path)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def ensure_dir(path: str, mode: int = 0o700) -> str:
    """Create a directory (and parents) if missing; new directories get ``mode``."""
    with doing("create directory", path):
        try:
            os.makedirs(path, mode=mode, exist_ok=True)
        except FileExistsError:
            # "File exists" would read as if the directory were the problem, not the file.
            raise NotADirectoryError(errno.ENOTDIR, "it exists and is not a directory", path) from None
    return path


def write_file(path: str, content: str | bytes, mode: int = 0o600) -> None:
    """Replace a file atomically with exactly ``content`` (no stale bytes), with ``mode``."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with doing("write", path):
        _replace_file(path, data, mode)


def _replace_file(path: str, data: bytes, mode: int) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    directory = os.path.dirname(path) or "."
    fd, tmp = _new_file(directory, ".tmp-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _new_file(directory: str, prefix: str) -> tuple[int, str]:
    """A new file of our own in ``directory``: exclusive, 0600 (``tempfile.mkstemp``'s contract)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        path = os.path.join(directory, f"{prefix}{os.urandom(6).hex()}")
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", directory)


def _scratch() -> Any:
    """An anonymous read-write file that disappears when closed (``tempfile.TemporaryFile``'s)."""
    directory = os.environ.get("TMPDIR") or "/tmp"
    if hasattr(os, "O_TMPFILE"):
        try:
            return os.fdopen(os.open(directory, os.O_TMPFILE | os.O_RDWR | getattr(os, "O_CLOEXEC", 0), 0o600),
                             "w+b")
        except OSError:
            pass  # a file system without O_TMPFILE: a named file, unlinked at once
    fd, path = _new_file(directory, ".stoker-hook-")
    os.unlink(path)
    return os.fdopen(fd, "w+b")


def outputs_path(item: Mapping[str, Any], outputs_dir: str) -> str:
    """``<outputs dir>/<id>``: the prefix of the files the user's config writes outputs to."""
    return os.path.join(ensure_dir(outputs_dir), file_id(item))


def clear_outputs(item: Mapping[str, Any], prefix: str) -> None:
    """Remove output files a previous run of this id left, so they are never reported again."""
    for name in declared_outputs(item):
        with doing("remove the old output file", f"{prefix}.{name}"), contextlib.suppress(FileNotFoundError):
            os.unlink(f"{prefix}.{name}")


def collect_outputs(item: Mapping[str, Any], prefix: str) -> dict[str, str]:
    """Read ``<prefix>.<name>`` for each declared output; a missing file is an absent output."""
    values = {}
    for name in declared_outputs(item):
        try:
            with doing("read the output file", f"{prefix}.{name}"), open(f"{prefix}.{name}", "rb") as handle:
                values[name] = handle.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            continue
    return values


# ------------------------------------------------------------- the tool

def run_tool(argv: list[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None,
             stdin_text: str | None = None) -> ToolResult:
    """Run a tool with stdout and stderr captured to files, keeping the tail of each.

    Files rather than pipes: a tool that leaves a background child holding
    its output open cannot hang the hook, and a tool printing gigabytes
    cannot fill our memory. A missing or non-executable tool is a
    :class:`HookFailure` that says which. The result is also kept for
    :func:`main`, so that a crash after the tool ran still reports its output.
    """
    global _last_tool
    with _capture_file("stdout") as out, _capture_file("stderr") as err:
        stdin = subprocess.DEVNULL
        stdin_file = None
        if stdin_text is not None:
            stdin_file = _scratch()
            stdin_file.write(stdin_text.encode("utf-8"))
            stdin_file.seek(0)
            stdin = stdin_file
        try:
            code = subprocess.call(argv, stdin=stdin, stdout=out, stderr=err,
                                   env=dict(env) if env is not None else None, cwd=cwd)
        except FileNotFoundError:
            raise HookFailure(f"{argv[0]}: command not found (is it installed and on PATH?)",
                              code=127) from None
        except PermissionError as error:
            raise HookFailure(f"{argv[0]}: cannot execute: {error.strerror}", code=126) from None
        except OSError as error:
            raise HookFailure(f"{argv[0]}: cannot execute: {error.strerror or error}", code=126) from None
        finally:
            if stdin_file is not None:
                stdin_file.close()
        _last_tool = ToolResult(code, read_tail(out), read_tail(err))
        return _last_tool


# The agent names the hook's run directory here; the tool's output is captured there, where
# ``stoker status`` can show its last line while the tool still runs (docs/architecture.md,
# "Running a hook"). Without it (a hook run by hand) anonymous temporary files are used.
RUN_DIR_VARIABLE = "STOKER_RUN_DIR"


def _capture_file(stream: str) -> Any:
    """A file to capture one of the tool's streams in: ``$STOKER_RUN_DIR/tool-<stream>`` when usable."""
    run_dir = os.environ.get(RUN_DIR_VARIABLE)
    if run_dir and os.path.isdir(run_dir):
        try:
            fd = os.open(os.path.join(run_dir, f"tool-{stream}"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            return os.fdopen(fd, "w+b")
        except OSError:
            pass  # a full disk or odd directory only costs the progress view
    return _scratch()


def read_tail(handle: Any, limit: int = CAPTURE_LIMIT) -> str:
    """The last ``limit`` bytes of a file as text, with a note of what was cut above."""
    size = handle.seek(0, os.SEEK_END)
    start = max(0, size - limit)
    handle.seek(start)
    text = handle.read().decode("utf-8", errors="replace")
    if start:
        text = f"[stoker: {start} bytes cut above]\n" + text
    return text


def base_env(item: Mapping[str, Any], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The hook's own environment plus every input, for tools that read variables."""
    env = dict(os.environ)
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(input_env(item))
    env.update(extra or {})
    return env


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The hook's own environment plus ``extra``, without the inputs.

    For tools that get inputs another way (facts, node attributes, extra
    vars): Heat's credentials in ``deploy_password`` and ``deploy_signal_id``
    then never reach the tool or anything it starts.
    """
    env = dict(os.environ)
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(extra or {})
    return env


# ------------------------------------------------------------- the result

def result(stdout: str, stderr: str, code: int, outputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The payload Heat expects: the three deploy_* keys plus outputs."""
    payload: dict[str, Any] = dict(outputs or {})
    payload.update(deploy_stdout=stdout, deploy_stderr=stderr, deploy_status_code=int(code))
    return payload


def tool_result(tool: ToolResult, outputs: Mapping[str, Any] | None = None,
                success_codes: Iterable[int] = (0,)) -> dict[str, Any]:
    """The payload for a finished tool: its exit code mapped to 0 when it means success."""
    code = 0 if tool.returncode in set(success_codes) else tool.returncode
    if tool.returncode < 0:
        code = 128 - tool.returncode
        tool.stderr += f"\n[stoker: the tool was killed by signal {-tool.returncode}]"
    return result(tool.stdout, tool.stderr, code, outputs)


def emit(payload: Mapping[str, Any], stream: io.TextIOBase | None = None) -> None:
    """Print the one JSON object that is the hook's answer."""
    out = stream or sys.stdout
    out.write(json.dumps(payload))
    out.write("\n")
    out.flush()


def hook_name() -> str:
    """The hook's name as Heat knows it: the executable's name (``chef-solo`` for that link)."""
    return os.path.basename(sys.argv[0] or "") or "hook"


def describe(error: BaseException) -> str:
    """Why ``error`` happened, on one line, in terms a template author can act on.

    An OSError says what could not be done to which path and the system's
    reason (``cannot write /x.pp: Permission denied``), not its class name and
    errno; any other error says its type and message, since that is all there is.
    """
    if isinstance(error, OSError):
        return _one_line(_describe_os_error(error))
    message = _one_line(str(error))
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _describe_os_error(error: OSError) -> str:
    """``cannot <what> <path>: <reason>`` when :func:`doing` marked the error, else the
    paths the system named (``a -> b`` for a rename) and its reason."""
    reason = error.strerror or str(error) or type(error).__name__
    marked = getattr(error, _DOING, None)
    if marked:
        what, path = marked
        culprit = _in_the_way(error, path)
        return f"cannot {what} {path}: " + (f"{culprit}: {reason}" if culprit else reason)
    names = [_path_text(name) for name in (error.filename, error.filename2) if name is not None]
    return f"{' -> '.join(names)}: {reason}" if names else reason


def _path_text(name: Any) -> str:
    """A path the system reported as text (it may be bytes, or a file descriptor number)."""
    return os.fsdecode(name) if isinstance(name, (str, bytes)) else str(name)


def _in_the_way(error: OSError, path: str) -> str | None:
    """The path that really failed when it is not ``path``: a file standing where a directory
    should be, or a parent directory; None when ``path`` itself (or a temporary file) did."""
    if error.errno == errno.ENOTDIR:
        parent = os.path.dirname(path)
        while parent and parent != os.path.dirname(parent):
            if os.path.exists(parent):
                return None if os.path.isdir(parent) else parent
            parent = os.path.dirname(parent)
        return None
    name = _path_text(error.filename) if error.filename is not None else ""
    return name if name and path.startswith(name.rstrip("/") + "/") else None


def _one_line(text: str) -> str:
    """``text`` with line breaks folded to spaces and cut to :data:`REASON_LIMIT`."""
    line = re.sub(r"\s*[\r\n]+\s*", " ", text).strip()
    return line if len(line) <= REASON_LIMIT else line[:REASON_LIMIT - 3] + "..."


def crash_payload(error: BaseException, tool: ToolResult | None = None) -> dict[str, Any]:
    """The payload for a hook that crashed: one ``stoker:`` line with the reason, status 1.

    What the last tool printed comes first, so a crash after a run (writing
    its log, reading its outputs) does not hide what the run said.
    """
    stdout, stderr = (tool.stdout, tool.stderr) if tool is not None else ("", "")
    stderr = stderr.rstrip("\n") + "\n" if stderr.strip() else ""
    return result(stdout, stderr + f"stoker: hook {hook_name()} failed: {describe(error)}\n", 1)


def main(handler: Callable[[dict[str, Any]], Mapping[str, Any]]) -> int:
    """Run a hook: read the item, call ``handler``, print its payload; never print anything else.

    Anything the handler or a library prints goes to stderr, and any failure,
    expected or not, still ends in a payload with the reason, so that Heat is
    always told what happened. An unexpected error reaches Heat as one line
    (:func:`crash_payload`): the agent shows Heat only this answer, and a
    traceback there tells a template author nothing they can fix. The
    traceback goes to the hook's own stderr instead, for whoever runs the
    hook by hand or debugs it.
    """
    global _last_tool
    _last_tool = None
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        payload = handler(read_item())
    except HookFailure as failure:
        payload = result(failure.stdout, str(failure), failure.code)
    except Exception as error:  # noqa: BLE001 - every failure must reach Heat as a payload
        import traceback

        traceback.print_exc(file=sys.stderr)
        payload = crash_payload(error, _last_tool)
    finally:
        sys.stdout = real_stdout
    emit(payload, real_stdout)
    return 0
