"""End to end: the puppet, chef, jinja2 and StructuredConfig templates, applied by `stoker run`.

puppet is the real `puppet apply`; chef is the recording stand-in tests/fakes/chef-solo
(chef is not packaged here), which shows what the hook handed to chef-solo.
"""
from __future__ import annotations

import json
import shutil
import stat

import pytest

from .e2e_support import FAKES, Scenario, scenario  # noqa: F401 - the fixture

pytestmark = [pytest.mark.realheat, pytest.mark.slow]


@pytest.mark.skipif(shutil.which("puppet") is None, reason="puppet is not installed")
def test_puppet_manifest_manages_a_file_from_a_fact_and_reports_an_output(scenario: Scenario) -> None:
    # The hook keeps each run's output in HEAT_PUPPET_LOGDIR (upstream's /var/run/heat-config/deployed).
    server, _agent = scenario.server("POLL_SERVER_CFN", hook_env={"HEAT_PUPPET_LOGDIR": str(scenario.tmp_path / "logs")})
    motd_dir = scenario.tmp_path / "motd.d"
    stack = scenario.create("puppet.yaml", {"server": server.id, "signal_transport": "TEMP_URL_SIGNAL",
                                            "motd_dir": str(motd_dir), "greeting": "Puppet was here"})
    scenario.wait(stack, "CREATE_COMPLETE", timeout=120)
    outputs = scenario.client.outputs(stack)
    assert (motd_dir / "stoker").read_text() == "Puppet was here\n"
    assert outputs["motd_path"] == str(motd_dir / "stoker")
    assert str(outputs["status_code"]) == "0"
    assert "Applied catalog" in outputs["stdout"] or "Notice" in outputs["stdout"], outputs["stdout"]


def test_chef_run_list_gets_the_inputs_as_node_attributes_and_reports_an_output(scenario: Scenario) -> None:
    record = scenario.tmp_path / "chef-record.json"
    server, _agent = scenario.server("POLL_TEMP_URL", hook_env={
        "HEAT_CHEF_CMD": str(FAKES / "chef-solo"), "FAKE_CHEF_RECORD": str(record),
        "FAKE_CHEF_OUTPUT": "motd=converged"})
    stack = scenario.create("chef.yaml", {"server": server.id, "signal_transport": "HEAT_SIGNAL",
                                          "greeting": "Chef was here"})
    scenario.wait(stack, "CREATE_COMPLETE")
    outputs = scenario.client.outputs(stack)
    assert outputs["motd"] == "converged"
    assert "fake chef-solo: converged" in outputs["stdout"]
    node = json.loads(json.loads(record.read_text())["node_json"])
    assert node["run_list"] == ["recipe[motd]"]
    assert node["greeting"] == "Chef was here"
    assert not any(key.startswith("deploy_") for key in node)


def test_jinja2_renders_a_file_from_typed_inputs_and_lists_it_as_changed(scenario: Scenario) -> None:
    server, _agent = scenario.server("POLL_SERVER_HEAT")
    path = scenario.tmp_path / "etc" / "myapp.conf"
    stack = scenario.create("jinja2.yaml", {"server": server.id, "signal_transport": "CFN_SIGNAL",
                                            "path": str(path), "listen_port": 9090,
                                            "backends": "10.1.0.1,10.1.0.2"})
    scenario.wait(stack, "CREATE_COMPLETE")
    text = path.read_text()
    assert "# written by Heat (CREATE)" in text
    assert "port = 9090" in text
    assert "backend = 10.1.0.1" in text and "backend = 10.1.0.2" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert json.loads(scenario.client.outputs(stack)["changed_files"]) == [str(path)]


def test_structured_config_gets_heats_get_input_substitution_before_the_hook(scenario: Scenario) -> None:
    server, _agent = scenario.server("POLL_TEMP_URL")
    path = scenario.tmp_path / "banner.txt"
    stack = scenario.create("structured.yaml", {"server": server.id, "signal_transport": "TEMP_URL_SIGNAL",
                                                "path": str(path), "file_mode": "0600",
                                                "banner": "Hello"})
    scenario.wait(stack, "CREATE_COMPLETE")
    assert path.read_text() == "Hello (deployed by deployment)\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(scenario.client.outputs(stack)["changed_files"]) == [str(path)]
