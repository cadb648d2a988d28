"""Contract tests of hooks/apply-config with the real os-apply-config (tests/setup.d/35-hook-tools)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fakes.hookrunner import ROOT, assert_fails_saying, make_item, mode_of, run_hook

pytestmark = pytest.mark.contract

OAC_VENV = Path(os.environ.get("OAC_VENV", ROOT / ".oac-venv"))
OS_APPLY_CONFIG = OAC_VENV / "bin" / "os-apply-config"
needs_oac = pytest.mark.skipif(not OS_APPLY_CONFIG.exists(),
                               reason=f"os-apply-config is not installed in {OAC_VENV} (tests/setup.d/35-hook-tools)")


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """A template root whose one template renders into ``out`` (os-apply-config writes under /)."""
    out = tmp_path / "out"
    templates = tmp_path / "templates"
    template = templates / str(out).lstrip("/") / "app.conf"
    template.parent.mkdir(parents=True)
    template.write_text("listen={{app.port}}\nname={{app.name}}\n{{#app.debug}}debug=on\n{{/app.debug}}")
    return {"templates": templates, "working": tmp_path / "working", "rendered": out / "app.conf",
            "tmp": tmp_path}


def oac_env(layout: dict[str, Path], **extra: str) -> dict[str, str]:
    env = {"HEAT_APPLY_CONFIG_CMD": str(OS_APPLY_CONFIG), "OS_CONFIG_APPLIER_TEMPLATES": str(layout["templates"]),
           "HEAT_APPLY_CONFIG_WORKING": str(layout["working"]), "OS_CONFIG_FILES": ""}
    env.update(extra)
    return env


@needs_oac
def test_templates_render_from_the_items_config(layout):
    item = make_item("apply-config", {"app": {"port": 8080, "name": "web", "debug": True}})
    payload = run_hook("apply-config", item, oac_env(layout))
    assert payload["deploy_status_code"] == 0, payload
    assert payload["deploy_stdout"] == ""
    assert layout["rendered"].read_text() == "listen=8080\nname=web\ndebug=on\n"
    values = layout["working"] / f"{item['id']}.json"
    assert json.loads(values.read_text())["app"]["port"] == 8080 and mode_of(values) == 0o600


@needs_oac
def test_the_items_config_overrides_the_metadata_os_refresh_config_handed_over(layout):
    metadata = layout["tmp"] / "metadata.json"
    metadata.write_text(json.dumps({"app": {"port": 80, "name": "from-metadata"}}))
    item = make_item("apply-config", json.dumps({"app": {"port": 9000}}))
    payload = run_hook("apply-config", item, oac_env(layout, OS_CONFIG_FILES=str(metadata)))
    assert payload["deploy_status_code"] == 0, payload
    assert layout["rendered"].read_text() == "listen=9000\nname=from-metadata\n"


@needs_oac
def test_with_no_config_templates_render_from_the_metadata_alone_as_upstream(layout):
    metadata = layout["tmp"] / "metadata.json"
    metadata.write_text(json.dumps({"app": {"port": 81, "name": "meta"}}))
    payload = run_hook("apply-config", make_item("apply-config", {}), oac_env(layout, OS_CONFIG_FILES=str(metadata)))
    assert payload["deploy_status_code"] == 0, payload
    assert layout["rendered"].read_text() == "listen=81\nname=meta\n"
    assert not layout["working"].exists()


@needs_oac
def test_a_template_os_apply_config_cannot_render_fails_with_its_reason(layout):
    # Every template lives under the temporary output directory: os-apply-config writes under /.
    blocked = layout["rendered"].parent / "blocked"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the template wants a directory")
    template = layout["templates"] / str(blocked).lstrip("/") / "x.conf"
    template.parent.mkdir(parents=True)
    template.write_text("x={{app.port}}\n")
    payload = run_hook("apply-config", make_item("apply-config", {"app": {"port": 1, "name": "n"}}), oac_env(layout))
    assert payload["deploy_status_code"] != 0
    assert str(blocked) in payload["deploy_stderr"], payload


@pytest.mark.parametrize("config", [["a"], "not json", 3])
def test_a_config_that_is_not_an_object_is_refused_before_anything_runs(layout, config):
    payload = run_hook("apply-config", make_item("apply-config", config), oac_env(layout))
    assert_fails_saying(payload, "must be a JSON object of template values")


def test_a_missing_os_apply_config_is_a_failure_that_names_it(layout):
    payload = run_hook("apply-config", make_item("apply-config", {"a": 1}),
                       oac_env(layout, HEAT_APPLY_CONFIG_CMD=str(layout["tmp"] / "no-such-tool")))
    assert_fails_saying(payload, "command not found", code=127)
