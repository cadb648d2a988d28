"""What the heat-config elements put into a real image, checked file by file in the built tree.

These look at the pristine tree (nothing is run that writes into it) and run read-only
commands in it, so they prove the elements' install scripts did their job before any test
depends on the agent working: the venv, the unit and its enablement, the hooks where
upstream tools look for them, the commands on PATH, the config, and the hooks' tools.
"""
from __future__ import annotations

import configparser
import json
import os
import re

import pytest

from .conftest import REPO, hook_elements
from .deployments import script_config

pytestmark = pytest.mark.image

VENV = "/opt/stoker"
HOOKS_DIR = "/usr/libexec/heat-config/hooks"


def repo_version() -> str:
    text = (REPO / "agent" / "stoker" / "__init__.py").read_text()
    return re.search(r'__version__ = "([^"]+)"', text).group(1)


def test_agent_venv_runs_the_stoker_built_from_this_tree(pristine_tree):
    root = pristine_tree
    assert os.access(root / f"{VENV}/bin/stoker", os.X_OK)
    result = root.run([f"{VENV}/bin/stoker", "--version"], check=True)
    assert result.stdout.strip() == f"stoker {repo_version()}"
    # The venv is built on the image's own python3, not copied from the host.
    cfg = (root / f"{VENV}/pyvenv.cfg").read_text()
    assert re.search(r"^home = /usr/bin$", cfg, re.M), cfg
    # No runtime dependencies: stoker is the only thing installed beside pip itself.
    listed = json.loads(root.run([f"{VENV}/bin/python", "-m", "pip", "list", "--format", "json",
                                  "--disable-pip-version-check"], check=True).stdout)
    assert {p["name"] for p in listed} - {"pip", "setuptools"} == {"stoker"}, listed


def test_commands_on_path_point_into_the_venv(pristine_tree):
    for command in ("stoker", "heat-config-notify"):
        link = pristine_tree / f"/usr/local/bin/{command}"
        assert link.is_symlink() and os.readlink(link) == f"{VENV}/bin/{command}"
    found = pristine_tree.run(["sh", "-c", "command -v heat-config-notify"], check=True)
    assert found.stdout.strip() == "/usr/local/bin/heat-config-notify"


def test_unit_is_the_packaged_one_and_enabled_at_boot(pristine_tree):
    unit = (pristine_tree / "/etc/systemd/system/stoker.service").read_text()
    assert unit == (REPO / "agent" / "stoker" / "data" / "stoker.service").read_text()
    assert f"ExecStart={VENV}/bin/stoker run" in unit
    # Hooks configure the whole machine as root: nothing may fence the filesystem or cap
    # the memory of the cgroup they share with the agent.
    assert not re.search(r"^(ProtectSystem=strict|MemoryMax=|ReadOnlyPaths=)", unit, re.M)
    wants = pristine_tree / "/etc/systemd/system/multi-user.target.wants/stoker.service"
    assert wants.is_symlink() and os.readlink(wants) == "/etc/systemd/system/stoker.service"
    # The classic chain is not installed in the default mode.
    assert not (pristine_tree / "/etc/systemd/system/os-collect-config.service").exists()


def test_unit_passes_systemd_analyze_verify(pristine_tree):
    with pristine_tree.mounted():
        result = pristine_tree.run(["systemd-analyze", "verify", "/etc/systemd/system/stoker.service"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_config_file_is_in_place_and_read_by_the_agent(pristine_tree):
    conf = pristine_tree / "/etc/stoker/stoker.conf"
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(conf.read_text())
    result = pristine_tree.run([f"{VENV}/bin/stoker", "--config", "/etc/stoker/stoker.conf",
                                "--state-dir", "/tmp/stoker-status-probe", "status"])
    assert result.returncode == 0, result.stderr
    assert "no deployments known" in result.stdout


def test_every_hook_element_put_its_hook_where_upstream_tools_look(pristine_tree):
    groups = [element.removeprefix("heat-config-") for element in hook_elements()]
    assert {"script", "puppet"} <= set(groups)
    for group in groups + (["chef-solo"] if (REPO / "hooks" / "chef-solo").exists() else []):
        installed = pristine_tree / f"{HOOKS_DIR}/{group}"
        assert os.access(installed, os.X_OK), group
        assert installed.read_bytes() == (REPO / "hooks" / group).read_bytes(), group
    assert (pristine_tree / f"{HOOKS_DIR}/hookkit.py").read_bytes() == (REPO / "hooks" / "hookkit.py").read_bytes()


def test_script_hook_runs_under_the_images_system_python(pristine_tree, tmp_path):
    item = {"id": "3f0c8a52-0d1b-4c55-9a1e-5b8e1d9b2a10", "name": "probe", "group": "script",
            "config": script_config("/dev/null"), "options": None, "outputs": [{"name": "result"}],
            "inputs": [{"name": "greeting", "value": "tree", "type": "String"}]}
    env = {"HEAT_SCRIPT_WORKING": "/tmp/probe-working", "HEAT_SCRIPT_OUTPUTS": "/tmp/probe-outputs"}
    result = pristine_tree.run([f"{HOOKS_DIR}/script"], input=json.dumps(item), env=env, check=True)
    payload = json.loads(result.stdout)
    assert payload["deploy_status_code"] == 0, payload
    assert payload["result"] == "hello tree"


def test_json_file_hook_writes_its_file_under_the_images_system_python(pristine_tree):
    if "heat-config-json-file" not in hook_elements():
        pytest.skip("no json-file hook element")
    target = "/tmp/json-file-probe/settings.json"  # the image's /tmp: the probe leaves nothing else
    item = {"id": "8d1f4c0e-5a7b-4f3e-9c2d-6e0a1b2c3d4e", "name": "probe", "group": "json-file",
            "config": {target: {"workers": 4, "debug": True}}, "options": None, "outputs": [], "inputs": []}
    result = pristine_tree.run([f"{HOOKS_DIR}/json-file"], input=json.dumps(item), check=True)
    payload = json.loads(result.stdout)
    assert payload["deploy_status_code"] == 0, payload
    assert json.loads((pristine_tree / target).read_text()) == {"workers": 4, "debug": True}


def test_hooks_tools_are_installed(pristine_tree):
    elements = hook_elements()
    assert pristine_tree.run(["puppet", "--version"], check=True).stdout.startswith("7.")
    if "heat-config-ansible" in elements:
        pristine_tree.run(["ansible-playbook", "--version"], check=True)
    if "heat-config-jinja2" in elements:
        pristine_tree.run(["python3", "-c", "import jinja2"], check=True)
    if "heat-config-chef" in elements:
        # The stand-in package puts cinc-solo in /opt/cinc/bin only, as Cinc does; the
        # element links chef-solo, the name the hook runs, onto the standard PATH.
        link = pristine_tree / "/usr/local/bin/chef-solo"
        assert link.is_symlink() and os.readlink(link) == "/opt/cinc/bin/cinc-solo"
        pristine_tree.run(["git", "--version"], check=True)


def test_no_build_leftovers_or_state_in_the_image(pristine_tree):
    # Build-time copies (wheelhouse, chef package) stay out of the image, and nothing has
    # run yet: a first boot must find no journal and no deployed markers.
    assert not (pristine_tree / "/tmp/in_target.d").exists()
    for top in ("/opt", "/tmp", "/root", "/var", "/usr/local"):
        # Wheels inside an installed package are its data (salt's virtualenv embeds pip's), not leftovers.
        leftovers = [p for p in (pristine_tree / top).glob("**/*.whl") if "site-packages" not in p.parts]
        assert not leftovers, top
    assert not list((pristine_tree / "/var/cache/apt/archives").glob("*.deb"))
    assert not (pristine_tree / "/var/lib/stoker").exists()
    assert not (pristine_tree / "/var/lib/heat-config/deployed").exists()
    assert not (pristine_tree / "/var/lib/heat-cfntools/cfn-init-data").exists()
