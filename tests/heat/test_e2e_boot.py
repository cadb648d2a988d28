"""templates/boot/: the user_data route to stoker on a plain cloud image.

The harness has no Nova, so nothing boots here. What is proven instead: Heat validates
the templates with the environment and every file they reference (as `openstack stack
create -e ... -t ...` sends them); with the server resource's type swapped for a
DeployedServer stand-in, example.yaml creates for real with stoker as the server's agent, and the
user_data Heat rendered carries the install script with its parameters filled in; the
install script, run under a temporary root with a wheel of this checkout, installs a
working stoker, the hooks (shebangs pointing at stoker's python) and the systemd unit.
"""
from __future__ import annotations

import email
import os
import time
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .client import HeatClient, Stack
from .e2e_support import (TEMPLATES, Agent, Scenario, bootstrap_metadata, find_servers,  # noqa: F401
                          post_stack, scenario, unique)
from .layout import REPO
from .rest import expect

pytestmark = [pytest.mark.realheat, pytest.mark.slow]
BOOT = TEMPLATES / "boot"


# The harness has no Nova, and Heat refuses OS::Nova::Server without a compute endpoint
# (even to validate). This stand-in (used in place of the server resource's type) takes the server's properties, keeps what user_data
# Heat rendered, and is an OS::Heat::DeployedServer with the same transport, so the boot
# templates run for real with stoker as the "booted" server's agent.
NOVA_STAND_IN = """
heat_template_version: 2021-04-16
parameters:
  image: {type: string}
  flavor: {type: string}
  key_name: {type: string, default: ""}
  networks: {type: json}
  user_data_format: {type: string}
  user_data: {type: string}
  software_config_transport: {type: string}
resources:
  server:
    type: OS::Heat::DeployedServer
    properties:
      software_config_transport: {get_param: software_config_transport}
outputs:
  OS::stack_id: {value: {get_resource: server}}
  first_address: {value: 127.0.0.1}
  user_data: {value: {get_param: user_data}}
  user_data_format: {value: {get_param: user_data_format}}
"""


def boot_files(stand_in: bool = False) -> dict[str, str]:
    """What the openstack client would upload for example.yaml + environment.yaml.

    With `stand_in`, the server resource's type (and only that line) becomes the stand-in:
    Heat insists that a template replacing OS::Nova::Server itself has every attribute of it.
    """
    server = (BOOT / "server-with-stoker.yaml").read_text()
    if stand_in:
        assert server.count("type: OS::Nova::Server\n") == 1
        server = server.replace("type: OS::Nova::Server\n", "type: Test::NovaStandIn\n")
    return {"server-with-stoker.yaml": server,
            "install-stoker.sh": (BOOT / "install-stoker.sh").read_text(),
            "../script.yaml": (TEMPLATES / "script.yaml").read_text(),
            "nova-stand-in.yaml": NOVA_STAND_IN}


def environment(stand_in: bool = False) -> dict:
    registry = {"Stoker::Server": "server-with-stoker.yaml",
                "Stoker::Example::Hello": "../script.yaml"}
    if stand_in:
        registry["Test::NovaStandIn"] = "nova-stand-in.yaml"
    return {"resource_registry": registry}


def test_boot_environment_wires_the_server_type_and_heat_validates_the_templates(
        heat_client: HeatClient) -> None:
    text = (BOOT / "environment.yaml").read_text()
    for name, target in environment()["resource_registry"].items():
        assert f'"{name}": {target}' in text
    body = {"template": (BOOT / "example.yaml").read_text(), "files": boot_files(True),
            "environment": environment(True)}
    result = heat_client.call("POST", "validate", body=body).json()
    assert set(result["Parameters"]) >= {"image", "flavor", "network", "key_name"}


def test_boot_example_renders_the_install_script_into_user_data_and_deploys_through_stoker(
        scenario: Scenario, tmp_path: Path) -> None:
    body = {"stack_name": unique("boot"), "template": (BOOT / "example.yaml").read_text(),
            "files": boot_files(True), "environment": environment(True), "timeout_mins": 10,
            "parameters": {"image": "debian-12", "flavor": "m1.small", "network": "private"}}
    client = scenario.client
    stack = Stack(body["stack_name"], post_stack(client, body))
    scenario.stacks.append(stack)
    # The "booted" server: start its agent from its metadata, as cfn-init-data would give it.
    deadline = time.monotonic() + 60
    while not (found := find_servers(client, stack)):
        assert time.monotonic() < deadline, "no server in the boot example"
        time.sleep(0.5)
    [server] = found
    scenario.agents.append(Agent(tmp_path / "agent", bootstrap_metadata(client, server)).start())
    scenario.wait(stack, "CREATE_COMPLETE")
    assert client.outputs(stack)["message"] == f"Hello, {stack.name}!"

    # What Heat rendered as the server's user_data: a MIME multipart with the install
    # script, its parameters substituted. Run that very script under a temporary root.
    nested = next(r for r in client.call("GET", f"{stack.path}/resources?nested_depth=2")
                  .json()["resources"] if r["resource_type"] == "Test::NovaStandIn")
    link = next(lnk["href"] for lnk in nested["links"] if lnk["rel"] == "nested")
    outputs = {o["output_key"]: o["output_value"] for o in
               expect("GET", link, token=client.token).json()["stack"]["outputs"]}
    assert outputs["user_data_format"] == "SOFTWARE_CONFIG"
    # OS::Nova::Server resolves a software config id in user_data to the config; so do we.
    config = client.call("GET", f"software_configs/{outputs['user_data']}").json()["software_config"]
    mime = email.message_from_string(config["config"])
    [script] = [part.get_payload(decode=True).decode() for part in mime.walk()
                if not part.is_multipart()]
    assert script.startswith("#!/bin/sh")
    assert 'SPEC="${STOKER_PIP_SPEC:-stoker[jinja2]}"' in script
    assert "__STOKER_PIP" not in script
    rendered = tmp_path / "rendered-install.sh"
    rendered.write_text(script)
    check = subprocess.run(["sh", "-n", str(rendered)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def build_wheel(dist: Path) -> Path:
    """A wheel of this checkout, laid out as setup.py lays out the package.

    Built by hand because the test must stay offline and the machine may lack the
    `wheel` package that setuptools needs to build one.
    """
    dist.mkdir(parents=True)
    path = dist / "stoker-0.1.0-py3-none-any.whl"
    info = "stoker-0.1.0.dist-info"
    files = {f"stoker/{p.relative_to(REPO / 'agent/stoker')}": p
             for p in (REPO / "agent/stoker").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    files.update({f"stoker/hooks/{p.name}": p for p in (REPO / "hooks").iterdir() if p.is_file()})
    with zipfile.ZipFile(path, "w") as whl:
        for name, src in sorted(files.items()):
            info_ = zipfile.ZipInfo(name)
            info_.external_attr = (src.stat().st_mode & 0o777) << 16
            whl.writestr(info_, src.read_bytes())
        if "stoker/hooks/__init__.py" not in files:
            whl.writestr("stoker/hooks/__init__.py", "")
        whl.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: stoker\nVersion: 0.1.0\n")
        whl.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: stoker-tests\n"
                     "Root-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{info}/entry_points.txt", "[console_scripts]\nstoker = stoker.cli:main\n"
                     "heat-config-notify = stoker.notify_cli:main\n")
        whl.writestr(f"{info}/RECORD", "")
    return path


def test_install_script_installs_stoker_its_hooks_and_the_unit_under_a_root(tmp_path) -> None:
    root = tmp_path / "root"
    wheel = build_wheel(tmp_path / "dist")
    env = {**os.environ, "STOKER_ROOT": str(root), "STOKER_PIP_SPEC": str(wheel),
           "STOKER_PIP_OPTIONS": "--no-index",
           "PATH": f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(["sh", str(BOOT / "install-stoker.sh")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    stoker = root / "opt/stoker/bin/stoker"
    version = subprocess.run([str(stoker), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("stoker "), version
    hooks = root / "usr/libexec/heat-config/hooks"
    assert {"script", "puppet", "chef", "ansible", "jinja2", "hookkit.py"} <= set(os.listdir(hooks))
    assert (hooks / "script").read_text().splitlines()[0] == "#!/opt/stoker/bin/python3"
    assert os.access(hooks / "script", os.X_OK)
    unit = (root / "etc/systemd/system/stoker.service").read_text()
    assert "ExecStart=/opt/stoker/bin/stoker run" in unit
