"""Issue 14: ``stoker collect-logs`` bundles everything a bug report needs, and not one secret.

A daemon (``stoker run``) polls the loopback Heat API with Keystone credentials from
stoker.conf, learns them into transport.json, runs deployments signalled over
CFN_SIGNAL, TEMP_URL_SIGNAL and HEAT_SIGNAL whose inputs, outputs and stderr carry
secrets, sets a damaged journal record (holding a password) aside in the quarantine, and
still runs a hook (its run directory holds the item) when ``collect-logs`` runs as a
process. Every member of the archive is unpacked and searched for every planted secret.
"""
from __future__ import annotations

import json
import tarfile
import urllib.parse

import pytest

from tests.agent_helpers import VENV_BIN, Agent, wait_for
from tests.loopback import Cloud
from tests.test_signals import Process, deployment, document, signals_for, write_config

pytestmark = pytest.mark.contract

INPUT_PASSWORD = "PlantedInputPassw0rd"
INPUT_TOKEN = "PlantedApiTok3nValue"
HOOK_ENV_SECRET = "PlantedHookEnvSecret"
QUARANTINED_PASSWORD = "PlantedQuarantinedPass"
HEADER_TOKEN = "PlantedHeaderTokenXYZ"

SCRIPT = f"""#!/bin/sh
echo "connecting with $db_password and $api_token" >&2
printf '%s' "$db_password" > "$heat_outputs_path.result"
printf '%s' "$api_token" > "$heat_outputs_path.admin_token"
echo "env secret $MY_SECRET"
"""
SLOW = """#!/bin/sh
sleep 3
"""


def planted_inputs():
    return [{"name": "db_password", "value": INPUT_PASSWORD, "type": "String"},
            {"name": "api_token", "value": INPUT_TOKEN, "type": "String"},
            {"name": "greeting", "value": "hello", "type": "String"}]


def secret_item(cloud, ident, transport, script=SCRIPT):
    item = deployment(cloud, ident, script=script, transport=transport)
    item["inputs"] = planted_inputs() + item["inputs"]
    item["outputs"] = [{"name": "result", "type": "String"}, {"name": "admin_token", "type": "String"}]
    return item


def url_secrets(url: str) -> list[str]:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return [value for key in ("Signature", "AWSAccessKeyId", "temp_url_sig") for value in query.get(key, [])]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The bundle of a planted run, made once (the tests only read it)."""
    with Cloud() as cloud:
        yield _planted_bundle(tmp_path_factory.mktemp("bundle"), cloud)


def _planted_bundle(tmp_path, cloud):
    agent = Agent(tmp_path)
    heat = cloud.collect_section("POLL_SERVER_HEAT")
    cfn = cloud.collect_section("POLL_SERVER_CFN")
    write_config(agent, sections={"heat": heat, "cfn": cfn, "hook_environment": {"MY_SECRET": HOOK_ENV_SECRET}},
                 collectors="heat")
    items = [secret_item(cloud, "cfn-one", "CFN_SIGNAL"), secret_item(cloud, "swift-one", "TEMP_URL_SIGNAL"),
             secret_item(cloud, "heat-one", "HEAT_SIGNAL"),
             secret_item(cloud, "fails", "CFN_SIGNAL", script=SCRIPT + "exit 4\n"),
             secret_item(cloud, "slow", "CFN_SIGNAL", script=SLOW)]
    cloud.publish(document(items, cloud.os_collect_config("POLL_SERVER_HEAT")))
    journal = agent.state / "journal"
    journal.mkdir(parents=True)
    (journal / "zz-damaged.json").write_text(f'{{"key": "zz-damaged", "deploy_password": "{QUARANTINED_PASSWORD}')
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    journalctl = fake_bin / "journalctl"
    journalctl.write_text(f"#!/bin/sh\necho \"stoker[1]: retrying with X-Auth-Token: {HEADER_TOKEN}\"\n"
                          f"echo \"stoker[1]: item said {INPUT_PASSWORD}\"\necho \"args: $*\"\n")
    journalctl.chmod(0o755)

    daemon = Process(agent, "run")
    try:
        wait_for(lambda: len(signals_for(cloud, "dep-heat-one")) == 1, timeout=30, what="the deployments to run")
        wait_for(lambda: (agent.state / "work" / "slow" / "pid").is_file(), timeout=20,
                 what="the slow hook to be running")
        agent.extra_env["PATH"] = f"{fake_bin}:{VENV_BIN}:/usr/bin:/bin"
        result = agent.run("collect-logs", "--output", str(tmp_path / "out" / "bundle.tar.gz"))
        assert result.returncode == 0, result.stdout + result.stderr
        wait_for(lambda: len(signals_for(cloud, "dep-slow")) == 1, timeout=30, what="the slow deployment")
    finally:
        daemon.stop()
    secrets = [INPUT_PASSWORD, INPUT_TOKEN, HOOK_ENV_SECRET, QUARANTINED_PASSWORD, HEADER_TOKEN,
               cloud.user.password, cfn["secret_access_key"], cfn["access_key_id"]]
    for item in items:
        for entry in item["inputs"]:
            if entry["name"] == "deploy_signal_id":
                secrets += url_secrets(entry["value"])
    members = {}
    with tarfile.open(tmp_path / "out" / "bundle.tar.gz") as archive:
        for member in archive.getmembers():
            assert member.isfile(), f"{member.name}: only plain files belong in the bundle"
            members[member.name.split("/", 1)[1]] = archive.extractfile(member).read().decode()
    return members, secrets, result


def test_the_bundle_holds_no_secret_anywhere(bundle):
    members, secrets, result = bundle
    assert len(secrets) >= 10 and all(len(s) >= 4 for s in secrets), secrets
    leaks = [(name, secret) for name, text in members.items() for secret in secrets
             if secret in text or secret in name]
    assert not leaks, f"secrets found in the bundle: {leaks}"
    assert not any(secret in result.stdout + result.stderr for secret in secrets)


def test_the_bundle_holds_what_a_bug_report_needs(bundle):
    members, _, result = bundle
    for name in ("MANIFEST.txt", "status.txt", "status.json", "analyze.txt", "system.txt", "journald.txt",
                 "config/stoker.conf", "config/effective.json", "state/transport.json", "state/polling.json",
                 "state/journal/heat-one.json", "deployed/heat-one.json", "deployed/heat-one.notify.json",
                 "state/work/slow/stdin", "state/work/slow/pid"):
        assert name in members, f"{name} is missing: {sorted(members)}"
    assert any(name.startswith("state/quarantine/") and name.endswith(".why") for name in members), sorted(members)
    status = json.loads(members["status.json"])
    assert {d["name"] for d in status["deployments"]} >= {"cfn-one", "swift-one", "heat-one", "fails", "slow"}
    assert "exit status 4" in members["status.txt"]
    assert "password = ***" in members["config/stoker.conf"], "the config keeps its shape, values masked"
    notify = json.loads(members["deployed/heat-one.notify.json"])
    assert notify["result"] == "***" and notify["admin_token"] == "***"
    assert "connecting with *** and ***" in notify["deploy_stderr"], "secrets echoed by a hook are masked"
    assert "env secret ***" in notify["deploy_stdout"]
    assert "X-Auth-Token: ***" in members["journald.txt"] and "--unit stoker.service" in members["journald.txt"]
    running = json.loads(members["state/work/slow/stdin"])  # the item the running hook read
    assert {i["name"]: i["value"] for i in running["inputs"]}["db_password"] == "***"
    learned = json.loads(members["state/transport.json"])
    assert learned["heat"]["password"] == "***" and learned["heat"]["user_id"], "ids stay: they help debugging"
    assert "wrote" in result.stdout and "secrets masked" in result.stdout


def test_without_journalctl_the_bundle_says_it_was_skipped(tmp_path):
    agent = Agent(tmp_path)
    agent.extra_env["PATH"] = str(VENV_BIN)  # no journalctl anywhere on PATH
    result = agent.run("collect-logs", "--output", str(tmp_path / "b.tar.gz"))
    assert result.returncode == 0, result.stderr
    with tarfile.open(tmp_path / "b.tar.gz") as archive:
        names = [m.name.split("/", 1)[1] for m in archive.getmembers()]
        manifest = archive.extractfile(next(m for m in archive.getmembers()
                                            if m.name.endswith("MANIFEST.txt"))).read().decode()
    assert "journald.txt" not in names
    assert "journald.txt: journalctl is not installed" in manifest
    assert "status.txt" in names and "no deployments known" not in manifest


def test_an_unwritable_output_exits_2_saying_why(tmp_path):
    agent = Agent(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = agent.run("collect-logs", "--output", str(blocker / "b.tar.gz"))
    assert result.returncode == 2 and "cannot write" in result.stderr
