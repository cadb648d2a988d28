"""README.md, "Try a template on your own machine": what a non-root template author copies.

The section's stoker.conf must keep the agent and every hook's working and output
directories under the try directory (a hook's default under /var or /etc fails with
PermissionError for a non-root user), and the commands must point the templates' path
parameters there too. A hook added later with a directory of its own fails this test
until the README names its variable.
"""
from __future__ import annotations

import configparser
import re

import pytest

from .layout import REPO

pytestmark = pytest.mark.unit

TRY = "/tmp/try"
# A hook's directory: HEAT_<HOOK>_<WHAT> read from the environment with a default path.
HOOK_DIRECTORY = re.compile(r'os\.environ\.get\("(HEAT_[A-Z0-9_]+)",\s*"(/[^"]*)"\)')
# Keys of [DEFAULT] the agent writes to or reads its bootstrap from (hooks_dir is only searched).
AGENT_PATHS = ("state_dir", "deployed_dir", "cfn_init_data", "cfn_metadata_server",
               "os_collect_config", "shell_config")
# templates/<name> -> the parameter naming where it writes on the server.
PATH_PARAMETERS = {"component.yaml": "state_dir", "puppet.yaml": "motd_dir",
                   "jinja2.yaml": "path"}


def try_section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("### Try a template on your own machine")
    return readme[start:readme.index("\n### ", start + 1)]


def try_config() -> configparser.ConfigParser:
    """The stoker.conf the section writes with its heredoc."""
    section = try_section()
    body = section[section.index("<<'CONF'\n") + len("<<'CONF'\n"):section.index("       CONF\n")]
    conf = configparser.ConfigParser(interpolation=None)
    conf.optionxform = str  # keep HEAT_* upper case
    conf.read_string("\n".join(line.strip() for line in body.splitlines()))
    return conf


def hook_directories() -> dict[str, str]:
    """{variable: default path} of every hook in hooks/."""
    found = {}
    for hook in sorted((REPO / "hooks").iterdir()):
        if hook.is_file():
            found.update(HOOK_DIRECTORY.findall(hook.read_text(encoding="utf-8", errors="replace")))
    return found


def test_try_config_keeps_the_agents_own_files_under_the_try_directory() -> None:
    defaults = try_config()["DEFAULT"]
    for key in AGENT_PATHS:
        assert defaults[key].startswith(TRY + "/"), f"{key} = {defaults.get(key)}"


def test_try_config_puts_every_hooks_directories_under_the_try_directory() -> None:
    environment = try_config()["hook_environment"]
    directories = hook_directories()
    assert {"HEAT_SCRIPT_WORKING", "HEAT_PUPPET_OUTPUTS", "HEAT_PUPPET_HIERA_DATADIR"} <= set(directories)
    for variable, default in directories.items():
        assert variable in environment, f"README's try config lacks {variable} (default {default})"
        assert environment[variable].startswith(TRY + "/"), f"{variable} = {environment[variable]}"


def test_try_commands_point_the_templates_paths_into_the_try_directory() -> None:
    section = try_section()
    for name, parameter in PATH_PARAMETERS.items():
        [line] = [ln for ln in section.splitlines() if f"templates/{name}" in ln and "create" in ln]
        assert f"--parameter {parameter}={TRY}/" in line, line
