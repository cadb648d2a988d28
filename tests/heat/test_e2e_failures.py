"""End to end: templates/error_output.yaml: how a failing deployment reaches Heat through stoker.

A script's non-zero exit and an error_output both fail the stack, with the reason Heat's
users see naming the status or the script's own words.
"""
from __future__ import annotations

import pytest

from .e2e_support import Scenario, reasons, scenario  # noqa: F401 - the fixture

pytestmark = [pytest.mark.realheat, pytest.mark.slow]


def test_failing_script_fails_the_stack_with_its_exit_status_in_heats_reason(scenario: Scenario) -> None:
    server, agent = scenario.server("POLL_TEMP_URL")
    stack = scenario.create("error_output.yaml", {"server": server.id, "signal_transport": "CFN_SIGNAL",
                                                  "exit_code": 3})
    doc = scenario.wait(stack, "CREATE_FAILED")
    assert "Deployment exited with non-zero status code: 3" in doc["stack_status_reason"]
    deployment = scenario.client.resource(stack, "deployment")
    assert deployment["resource_status"] == "CREATE_FAILED"
    assert "non-zero status code: 3" in deployment["resource_status_reason"]
    # What `openstack software deployment output show ID deploy_stderr` shows (README).
    shown = scenario.client.call("GET", f"software_deployments/{deployment['physical_resource_id']}")
    outputs = shown.json()["software_deployment"]["output_values"]
    assert outputs["deploy_stderr"] == "failing on purpose: exit code 3\n"
    [record] = agent.status()
    assert record["ok"] is False
    assert record["signal"]["state"] == "delivered"


def test_error_output_fails_the_stack_with_the_scripts_words_as_the_reason(scenario: Scenario) -> None:
    server, _agent = scenario.server("POLL_SERVER_CFN")
    stack = scenario.create("error_output.yaml", {"server": server.id, "signal_transport": "HEAT_SIGNAL",
                                                  "refuse_with": "disk /srv is full"})
    doc = scenario.wait(stack, "CREATE_FAILED")
    assert "disk /srv is full" in doc["stack_status_reason"], reasons(scenario.client, stack)


def test_error_output_absent_and_exit_zero_is_a_success(scenario: Scenario) -> None:
    server, _agent = scenario.server("POLL_SERVER_HEAT")
    stack = scenario.create("error_output.yaml", {"server": server.id, "signal_transport": "TEMP_URL_SIGNAL"})
    scenario.wait(stack, "CREATE_COMPLETE")
    outputs = scenario.client.outputs(stack)
    assert outputs["result"] == "checked"
    assert outputs["stdout"] == "checking the machine\nexiting with 0\n"
