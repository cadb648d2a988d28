"""End to end: the salt, hiera and apply-config templates, applied by `stoker run` on the real Heat.

Each hook runs its real tool: salt-call and os-apply-config from their venvs
(tests/setup.d/35-hook-tools), puppet (with hiera data) from Debian. Paths the hooks
would write on a server (/etc/puppet, the template root) are pointed into the test's
tmp_path through the hooks' environment variables.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .e2e_support import Scenario, scenario  # noqa: F401 - the fixture
from .layout import REPO

pytestmark = [pytest.mark.realheat, pytest.mark.slow]

SALT_CALL = Path(os.environ.get("SALT_VENV", REPO / ".salt-venv")) / "bin" / "salt-call"
OS_APPLY_CONFIG = Path(os.environ.get("OAC_VENV", REPO / ".oac-venv")) / "bin" / "os-apply-config"


@pytest.mark.skipif(not SALT_CALL.exists(), reason=f"no {SALT_CALL} (tests/setup.d/35-hook-tools installs it)")
def test_salt_state_manages_a_file_from_pillar_data_and_reports_an_output(scenario: Scenario) -> None:
    salt_conf = scenario.tmp_path / "salt"
    salt_conf.mkdir()
    (salt_conf / "minion").write_text(f"root_dir: {scenario.tmp_path / 'salt-root'}\n")
    server, _agent = scenario.server("POLL_SERVER_HEAT", hook_env={
        "HEAT_SALT_CMD": str(SALT_CALL), "SALT_MINION_CONFIG": str(salt_conf / "minion"),
        "HEAT_SALT_WORKING": str(scenario.tmp_path / "salt-working"),
        "HEAT_SALT_OUTPUTS": str(scenario.tmp_path / "salt-outputs")})
    motd_dir = scenario.tmp_path / "motd.d"
    stack = scenario.create("salt.yaml", {"server": server.id, "signal_transport": "CFN_SIGNAL",
                                          "motd_dir": str(motd_dir), "greeting": "Salt was here"})
    scenario.wait(stack, "CREATE_COMPLETE", timeout=120)
    outputs = scenario.client.outputs(stack)
    assert (motd_dir / "stoker").read_text().rstrip("\n") == "Salt was here (CREATE)"
    assert outputs["motd_path"].rstrip("\n") == str(motd_dir / "stoker")
    assert str(outputs["status_code"]) == "0"
    assert '"result": true' in outputs["stdout"], outputs["stdout"]


@pytest.mark.skipif(shutil.which("puppet") is None, reason="puppet is not installed")
def test_hiera_data_from_one_deployment_is_looked_up_by_the_next_ones_manifest(scenario: Scenario) -> None:
    hiera_config = scenario.tmp_path / "puppet" / "hiera.yaml"
    # Servers read /etc/puppet/hiera.yaml; this machine's must stay untouched, so puppet is
    # pointed at the file the hook writes here.
    puppet = scenario.tmp_path / "puppet-with-test-hiera"
    puppet.write_text(f'#!/bin/sh\nexec puppet "$@" --hiera_config {hiera_config}\n')
    puppet.chmod(0o755)
    server, _agent = scenario.server("POLL_SERVER_CFN", hook_env={
        "HEAT_HIERA_CONFIG": str(hiera_config), "HEAT_PUPPET_HIERA_DATADIR": str(scenario.tmp_path / "hieradata"),
        "HEAT_PUPPET_CMD": str(puppet), "HEAT_PUPPET_LOGDIR": str(scenario.tmp_path / "puppet-logs")})
    stack = scenario.create("hiera.yaml", {"server": server.id, "signal_transport": "HEAT_SIGNAL",
                                           "listen_port": 9090, "site_name": "shop"})
    scenario.wait(stack, "CREATE_COMPLETE", timeout=120)
    assert scenario.client.outputs(stack)["site"] == "shop on port 9090"
    assert "version: 5" in hiera_config.read_text()


@pytest.mark.skipif(not OS_APPLY_CONFIG.exists(),
                    reason=f"no {OS_APPLY_CONFIG} (tests/setup.d/35-hook-tools installs it)")
def test_os_apply_config_templates_render_from_the_deployments_config(scenario: Scenario) -> None:
    rendered = scenario.tmp_path / "etc" / "myapp" / "myapp.conf"
    templates = scenario.tmp_path / "templates"
    template = templates / str(rendered).lstrip("/")  # os-apply-config writes under /
    template.parent.mkdir(parents=True)
    template.write_text("port={{myapp.port}}\nworkers={{myapp.workers}}\n")
    server, _agent = scenario.server("POLL_TEMP_URL", hook_env={
        "HEAT_APPLY_CONFIG_CMD": str(OS_APPLY_CONFIG), "OS_CONFIG_APPLIER_TEMPLATES": str(templates),
        "HEAT_APPLY_CONFIG_WORKING": str(scenario.tmp_path / "apply-config-working")})
    stack = scenario.create("apply-config.yaml", {"server": server.id, "signal_transport": "TEMP_URL_SIGNAL",
                                                  "port": 9191, "workers": 8})
    scenario.wait(stack, "CREATE_COMPLETE", timeout=120)
    assert rendered.read_text() == "port=9191\nworkers=8\n"
