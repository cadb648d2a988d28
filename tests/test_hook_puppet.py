"""Contract tests of hooks/puppet: real ``puppet apply`` where it matters, a recorder for argv."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.fakes.hookrunner import (assert_fails_saying, crash_line, make_item, mode_of, recorder_env, run_hook,
                                    run_recorded, working_env)

pytestmark = pytest.mark.contract

needs_puppet = pytest.mark.skipif(shutil.which("puppet") is None,
                                  reason="puppet is not installed (tests/setup.d/10-apt installs it)")


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    names = ("working", "outputs", "hiera", "logs", "debuglogs", "target")
    return {name: tmp_path / name for name in names}


def puppet_env(dirs: dict[str, Path], **extra: str) -> dict[str, str]:
    """The hook's directories under ``dirs``, hiera's data directory and both log directories included."""
    return {**working_env("HEAT_PUPPET", dirs["working"], dirs["outputs"]),
            "HEAT_PUPPET_HIERA_DATADIR": str(dirs["hiera"]), "HEAT_PUPPET_LOGDIR": str(dirs["logs"]),
            "STOKER_PUPPET_DEBUG_LOGDIR": str(dirs["debuglogs"]), **extra}


def recorded_run(dirs: dict[str, Path], item: dict, exit_code: int = 0) -> tuple[dict, dict]:
    """Run the hook with the recorder as puppet, exiting ``exit_code``; its payload and the recorded call."""
    record = dirs["working"].parent / "record.json"
    return run_recorded("puppet", item, puppet_env(dirs, **recorder_env("HEAT_PUPPET", record, exit_code)), record)


@needs_puppet
def test_manifest_creates_a_file_from_a_fact_and_returns_an_output(dirs):
    target = dirs["target"] / "motd"
    manifest = f"""
file {{ "{dirs['target']}": ensure => directory }}
file {{ "{target}": content => "hello ${{::greeting}}\\n" }}
file {{ "${{::heat_outputs_path}}.result": content => "done ${{::deploy_action}}" }}
"""
    item = make_item("puppet", manifest, {"greeting": "world"}, outputs=["result"])
    payload = run_hook("puppet", item, puppet_env(dirs))
    assert payload["deploy_status_code"] == 0, payload
    assert target.read_text() == "hello world\n"
    assert payload["result"] == "done CREATE"
    assert "Notice:" in payload["deploy_stdout"] and "\x1b[" not in payload["deploy_stdout"]
    manifest_file = dirs["working"] / f"{item['id']}.pp"
    assert manifest_file.read_text() == manifest and mode_of(manifest_file) == 0o600


@needs_puppet
def test_failing_resource_is_a_failure_with_puppets_detailed_exit_code(dirs):
    item = make_item("puppet", 'exec { "/bin/false": }')
    payload = run_hook("puppet", item, puppet_env(dirs))
    assert payload["deploy_status_code"] in (4, 6)
    assert "/bin/false" in payload["deploy_stdout"] + payload["deploy_stderr"]


@needs_puppet
def test_manifest_that_does_not_compile_is_a_failure(dirs):
    payload = run_hook("puppet", make_item("puppet", 'fail("no such thing")'), puppet_env(dirs))
    assert payload["deploy_status_code"] != 0
    assert "no such thing" in payload["deploy_stderr"] + payload["deploy_stdout"]


@needs_puppet
def test_credentials_never_become_facts_nor_reach_puppets_environment(dirs):
    facts_file, env_file = dirs["target"] / "facts", dirs["target"] / "env"
    manifest = f"""
file {{ "{dirs['target']}": ensure => directory }}
file {{ "{facts_file}": content => join(sort(keys($facts)), "\\n") }}
exec {{ "dump-env": command => "/usr/bin/env > {env_file}", provider => shell, require => File["{dirs['target']}"] }}
"""
    inputs = {"greeting": "hi", "db_password": "db-s3cret", "api_token": "tok-s3cret"}
    payload = run_hook("puppet", make_item("puppet", manifest, inputs, action="UPDATE"), puppet_env(dirs))
    assert payload["deploy_status_code"] == 0, payload
    facts = set(facts_file.read_text().split("\n"))
    assert {"greeting", "deploy_action", "deploy_server_id", "heat_outputs_path", "fqdn"} <= facts
    assert not facts & {"db_password", "api_token", "deploy_password", "deploy_signal_id"}
    environ = env_file.read_text()
    assert "FACTER_deploy_action=UPDATE" in environ
    for secret in ("db-s3cret", "tok-s3cret", "heat-s3cret", "Signature="):
        assert secret not in environ


@needs_puppet
def test_logdir_keeps_each_runs_stdout_and_stderr_under_upstreams_names(dirs):
    item = make_item("puppet", 'notify { "logged message": }')
    item["creation_time"] = "2026-11-30T06:40:00Z"
    payload = run_hook("puppet", item, puppet_env(dirs))
    assert payload["deploy_status_code"] == 0, payload
    base = dirs["logs"] / f"2026-11-30-06-40-00Z-{item['id']}"
    assert "logged message" in Path(f"{base}-stdout.log").read_text()
    assert Path(f"{base}-stderr.log").read_text() == payload["deploy_stderr"]


@needs_puppet
def test_debug_and_verbose_runs_also_log_to_heat_debug_and_heat_verbose_log(dirs):
    item = make_item("puppet", 'notify { "tail me": }', options={"enable_debug": True, "enable_verbose": True})
    payload = run_hook("puppet", item, puppet_env(dirs))
    assert payload["deploy_status_code"] == 0, payload
    assert "tail me" in (dirs["debuglogs"] / "heat-debug.log").read_text()
    assert "tail me" in (dirs["debuglogs"] / "heat-verbose.log").read_text()
    assert "tail me" in payload["deploy_stdout"]


def test_hiera_data_is_written_without_credentials_when_enabled(dirs):
    item = make_item("puppet", "", {"port": 8080, "db_password": "x"}, options={"enable_hiera": True})
    payload, _ = recorded_run(dirs, item)
    assert payload["deploy_status_code"] == 0
    hiera = dirs["hiera"] / "heat_config_20_configure.json"
    data = json.loads(hiera.read_text())
    assert data["port"] == 8080 and data["deploy_action"] == "CREATE"
    assert not {"db_password", "deploy_password", "deploy_signal_id"} & set(data)
    assert mode_of(hiera) == 0o600


def test_upstream_spelling_use_hiera_is_accepted(dirs):
    recorded_run(dirs, make_item("puppet", "", {"port": 1}, options={"use_hiera": "true"}))
    assert (dirs["hiera"] / "heat_config_20_configure.json").exists()


def test_no_hiera_data_without_the_option(dirs):
    recorded_run(dirs, make_item("puppet", "", {"port": 1}))
    assert not dirs["hiera"].exists()


def test_options_become_puppet_apply_flags(dirs):
    item = make_item("puppet", "", options={"modulepath": "/etc/puppet/modules", "tags": ["web", "db"],
                                            "enable_debug": True, "enable_verbose": True})
    _, record = recorded_run(dirs, item)
    manifest = str(dirs["working"] / f"{item['id']}.pp")
    debug, verbose = dirs["debuglogs"] / "heat-debug.log", dirs["debuglogs"] / "heat-verbose.log"
    assert record["argv"][1:] == ["apply", "--color", "false", "--detailed-exitcodes", "--logdest", "console",
                                  "--modulepath", "/etc/puppet/modules", "--tags", "web,db",
                                  "--debug", "--logdest", str(debug), "--verbose", "--logdest", str(verbose),
                                  manifest]
    assert record["cwd"] == str(dirs["working"])


def test_facts_off_still_exports_outputs_path_fqdn_and_action(dirs):
    item = make_item("puppet", "", {"greeting": "hi"}, options={"use_facter": False}, action="DELETE")
    _, record = recorded_run(dirs, item)
    env = record["env"]
    assert "FACTER_greeting" not in env
    assert env["FACTER_heat_outputs_path"] == str(dirs["outputs"] / item["id"])
    assert env["FACTER_deploy_action"] == "DELETE" and env["FACTER_fqdn"]


def test_exit_code_2_is_success_and_6_is_failure(dirs):
    assert recorded_run(dirs, make_item("puppet", ""), exit_code=2)[0]["deploy_status_code"] == 0
    assert recorded_run(dirs, make_item("puppet", ""), exit_code=6)[0]["deploy_status_code"] == 6


def test_missing_puppet_is_a_failure_that_says_so(dirs):
    env = puppet_env(dirs, HEAT_PUPPET_CMD=str(dirs["working"].parent / "no-such-puppet"))
    payload = run_hook("puppet", make_item("puppet", ""), env)
    assert_fails_saying(payload, "no-such-puppet: command not found", code=127)


def test_bad_option_type_is_a_clear_failure(dirs):
    payload = run_hook("puppet", make_item("puppet", "", options={"enable_hiera": "perhaps"}), puppet_env(dirs))
    assert_fails_saying(payload, "enable_hiera must be a boolean")


def test_a_puppet_hook_that_cannot_write_its_working_dir_reports_one_line_not_a_traceback(dirs):
    blocker = dirs["working"].parent / "a-file"
    blocker.write_text("a regular file where the working directory's parent should be\n")
    working = blocker / "heat-config-puppet"
    payload = run_hook("puppet", make_item("puppet", 'notify { "hi": }'),
                       {**puppet_env(dirs), "HEAT_PUPPET_WORKING": str(working)})
    assert crash_line(payload) == (f"stoker: hook puppet failed: cannot create directory {working}: "
                                   f"{blocker}: Not a directory")
    assert payload["deploy_status_code"] == 1 and payload["deploy_stdout"] == ""


def test_a_puppet_hook_that_cannot_write_its_manifest_reports_one_line_naming_it(dirs):
    item = make_item("puppet", 'notify { "hi": }')
    manifest = dirs["working"] / f"{item['id']}.pp"
    manifest.mkdir(parents=True)  # something that is not a file stands where the manifest goes
    payload = run_hook("puppet", item, puppet_env(dirs))
    assert crash_line(payload) == f"stoker: hook puppet failed: cannot write {manifest}: Is a directory"
    assert [p.name for p in dirs["working"].iterdir()] == [manifest.name], "no temporary file is left"


def test_a_puppet_hook_that_cannot_create_its_outputs_dir_reports_one_line(dirs):
    dirs["outputs"].write_text("")
    payload = run_hook("puppet", make_item("puppet", 'notify { "hi": }'), puppet_env(dirs))
    assert crash_line(payload) == (f"stoker: hook puppet failed: cannot create directory {dirs['outputs']}: "
                                   "it exists and is not a directory")


def test_a_puppet_hook_crashing_after_puppet_ran_keeps_what_puppet_printed(dirs, tmp_path):
    fake_puppet = tmp_path / "puppet"
    fake_puppet.write_text("#!/bin/sh\necho 'Notice: Applied catalog'\necho 'Warning: deprecated' >&2\nexit 2\n")
    fake_puppet.chmod(0o755)
    logdir = tmp_path / "a-file"
    logdir.write_text("")
    env = puppet_env(dirs, HEAT_PUPPET_CMD=str(fake_puppet), HEAT_PUPPET_LOGDIR=str(logdir))
    payload = run_hook("puppet", make_item("puppet", ""), env)
    assert crash_line(payload) == (f"stoker: hook puppet failed: cannot create directory {logdir}: "
                                   "it exists and is not a directory")
    assert payload["deploy_stdout"] == "Notice: Applied catalog\n"
    assert payload["deploy_stderr"].startswith("Warning: deprecated\nstoker: ")
