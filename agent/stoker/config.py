"""The agent's settings: defaults, then the config file, then upstream env vars, then the command line.

The config file is INI like upstream's ``/etc/os-collect-config.conf``: a
``[DEFAULT]`` section with the agent's own keys and one section per transport
(``[cfn]``, ``[heat]``, ``[request]``, ``[local]``, ``[zaqar]``) with the keys
of the metadata's ``os-collect-config`` object. ``etc/stoker.conf`` lists every
key with its default. Every path the agent reads or writes is a key here, so
the whole agent can run unprivileged under a temporary directory.
"""
from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from .sources import registry

DEFAULT_CONFIG_FILE = "/etc/stoker/stoker.conf"
TRANSPORT_SECTIONS = registry.KINDS  # one section per metadata source (docs/architecture.md, "Adding a source or a signal transport")
UPSTREAM_HOOK_DIRS = ("/usr/libexec/heat-config/hooks", "/var/lib/heat-config/hooks")


class ConfigError(ValueError):
    """The config file or an option is unusable; the message says which key."""


@dataclass(frozen=True)
class Settings:
    """Everything the agent is told, with upstream's defaults."""

    state_dir: Path = Path("/var/lib/stoker")
    deployed_dir: Path = Path("/var/lib/heat-config/deployed")
    hooks_dirs: tuple[Path, ...] = tuple(Path(p) for p in UPSTREAM_HOOK_DIRS)
    shell_config: Path = Path("/var/run/heat-config/heat-config")
    cfn_init_data: Path = Path("/var/lib/heat-cfntools/cfn-init-data")
    cfn_metadata_server: Path = Path("/var/lib/heat-cfntools/cfn-metadata-server")
    os_collect_config: Path = Path("/etc/os-collect-config.conf")
    hook_timeout: float = 3600.0
    signal_wait: float = 60.0
    signal_retry_period: float = 86400.0
    polling_interval: float = 30.0
    min_polling_interval: float = 1.0
    splay: float = 0.0
    spread: bool = True
    jitter: float = 0.1
    timeout: float = 10.0
    ca_certificate: str = ""
    collectors: tuple[str, ...] = ()
    log_level: str = "info"
    memory_limit: float = 512.0
    metrics_file: Path | None = None  # Prometheus text file for node_exporter's textfile collector; None: off
    transports: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    hook_environment: Mapping[str, str] = field(default_factory=dict)
    config_file: Path | None = None

    @property
    def work_dir(self) -> Path:
        """Scratch space for hook input and captured output."""
        return self.state_dir / "work"

    def hook_search_path(self) -> list[Path]:
        """Where hooks are looked for, first match wins; stoker's own hooks come last."""
        path = list(self.hooks_dirs)
        bundled = bundled_hooks_dir()
        if bundled is not None and bundled not in path:
            path.append(bundled)
        return path


_FLOATS = {"hook_timeout", "signal_wait", "signal_retry_period", "polling_interval",
           "min_polling_interval", "splay", "jitter", "timeout", "memory_limit"}
_PATHS = {"state_dir", "deployed_dir", "shell_config", "cfn_init_data", "cfn_metadata_server",
          "os_collect_config", "metrics_file"}
_STRINGS = {"ca_certificate", "log_level"}
_BOOLS = {"spread"}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_ENV = {"HEAT_CONFIG_DEPLOYED": "deployed_dir", "HEAT_SHELL_CONFIG": "shell_config",
        "STOKER_STATE_DIR": "state_dir"}


def bundled_hooks_dir() -> Path | None:
    """The hooks shipped with stoker: inside the installed package, or the checkout's ``hooks/``."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "hooks", package.parent.parent / "hooks"):
        if (candidate / "hookkit.py").is_file():
            return candidate
    return None


def load(config_file: str | None = None, env: Mapping[str, str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build the settings from every layer; a missing default config file is fine."""
    env = os.environ if env is None else env
    explicit = config_file or env.get("STOKER_CONFIG")
    path = Path(explicit or DEFAULT_CONFIG_FILE)
    values: dict[str, Any] = {}
    if path.exists():
        values.update(_read_file(path))
        values["config_file"] = path
    elif explicit:
        raise ConfigError(f"config file {path} does not exist")
    values.update(_from_env(env, values))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    # Hooks run from "/" with the run directory's path on their command line, so a relative
    # state or deployed directory (``--state-dir state``) must be made absolute here, once.
    for key in ("state_dir", "deployed_dir"):
        if key in values:
            values[key] = Path(values[key]).absolute()
    return Settings(**values)


def _read_file(path: Path) -> dict[str, Any]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment]  # keep the case of environment variable names
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: {err}") from None
    values: dict[str, Any] = {}
    for key, raw in parser.defaults().items():
        values.update(_convert(path, key.lower(), raw))
    values["transports"] = {name: _own_keys(parser, name)
                            for name in parser.sections() if name in TRANSPORT_SECTIONS}
    if parser.has_section("hook_environment"):
        values["hook_environment"] = _own_keys(parser, "hook_environment")
    unknown = set(parser.sections()) - set(TRANSPORT_SECTIONS) - {"hook_environment"}
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}")
    return values


def _own_keys(parser: configparser.ConfigParser, section: str) -> dict[str, str]:
    """A section's own keys: configparser would also hand back every [DEFAULT] key."""
    return {key: value for key, value in parser.items(section, raw=True) if key not in parser.defaults()}


def _convert(path: Path, key: str, raw: str) -> dict[str, Any]:
    raw = raw.strip()
    if key in _FLOATS:
        try:
            number = float(raw)
        except ValueError:
            raise ConfigError(f"{path}: {key} must be a number, not {raw!r}") from None
        if key == "jitter" and not 0.0 <= number <= 1.0:
            raise ConfigError(f"{path}: jitter is a fraction of the polling interval, from 0 to 1, not {raw!r}")
        return {key: number}
    if key in _BOOLS:
        if raw.lower() not in _TRUE | _FALSE:
            raise ConfigError(f"{path}: {key} must be true or false, not {raw!r}")
        return {key: raw.lower() in _TRUE}
    if key in _PATHS:
        return {key: Path(raw)} if raw else {}
    if key in _STRINGS:
        return {key: raw}
    if key == "hooks_dir":
        return {"hooks_dirs": tuple(Path(p) for p in _split_paths(raw))}
    if key == "collectors":
        return {"collectors": tuple(_split_names(raw))}
    known = {f.name for f in fields(Settings)}
    if key in known:
        raise ConfigError(f"{path}: {key} cannot be set here")
    raise ConfigError(f"{path}: unknown key {key!r} in [DEFAULT]")


def _split_names(raw: str) -> list[str]:
    """Lists of names are one per line (upstream's style) or comma-separated."""
    return [part.strip() for part in re.split(r"[\n,]", raw) if part.strip()]


def _split_paths(raw: str) -> list[str]:
    """Lists of paths may also be colon-separated, like ``$PATH``."""
    return [part for name in _split_names(raw) for part in name.split(":") if part]


def _from_env(env: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for var, key in _ENV.items():
        if env.get(var):
            out[key] = Path(env[var])
    if env.get("HEAT_CONFIG_HOOKS"):
        base = values.get("hooks_dirs", Settings.hooks_dirs)
        first = tuple(Path(p) for p in env["HEAT_CONFIG_HOOKS"].split(":") if p)
        out["hooks_dirs"] = first + tuple(p for p in base if p not in first)
    return out
