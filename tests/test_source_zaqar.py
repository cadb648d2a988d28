"""ZAQAR_MESSAGE: the metadata is the newest message Heat posted to the server's Zaqar queue.

The source runs against the loopback Keystone and Zaqar (tests/loopback), which check
tokens and Client-IDs and page listings by marker like the real services. The last tests
run ``stoker`` as a process bootstrapped from a cfn-init-data naming the zaqar transport.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import pytest

from stoker import httpclient, sourceconfig
from stoker.sources import Fetched, SourceError, make_source
from stoker.sources.zaqar import ZaqarSource, next_marker
from tests.agent_helpers import Agent, wait_for
from tests.loopback import Cloud
from tests.test_signals import Process, deployment, document, signals_for, write_config
from tests.test_sourceconfig import CFN, settings_in

pytestmark = pytest.mark.contract

TLS = httpclient.TLSOptions()


# ------------------------------------------------------------------ helpers

def source(cloud: Cloud, **overrides: Any) -> ZaqarSource:
    """A zaqar source built from the section Heat writes for ZAQAR_MESSAGE."""
    section = dict(cloud.collect_section("ZAQAR_MESSAGE"), **overrides)
    made = make_source("zaqar", section, timeout=10, tls=TLS)
    assert isinstance(made, ZaqarSource)
    return made


def post(cloud: Cloud, body: Any) -> None:
    """Heat publishing a metadata document (or anything else) to the server's queue."""
    cloud.zaqar.post_message(cloud.project.id, cloud.metadata_queue, body)


def listings(cloud: Cloud) -> list:
    return cloud.zaqar.requests_matching("GET", f"/v2/queues/{cloud.metadata_queue}/messages")


def logins(cloud: Cloud) -> int:
    return len(cloud.keystone.requests_matching("POST", "/v3/auth/tokens"))


def content(fetched: Fetched) -> Any:
    assert fetched.content is not None, "expected a document, got 'unchanged'"
    return json.loads(fetched.content)


def raised(call: Callable[[], Any], *secrets: str) -> SourceError:
    """The SourceError ``call`` raises, after checking that none of ``secrets`` is in its text."""
    with pytest.raises(SourceError) as info:
        call()
    text = str(info.value) + repr(info.value)
    for secret in secrets:
        assert secret not in text
    return info.value


def doc(n: int) -> dict[str, Any]:
    return {"deployments": [{"id": f"d{n}", "name": f"{n}"}], "os-collect-config": {"collectors": ["zaqar"]}}


# ------------------------------------------------------------------ reading the queue

def test_the_newest_of_several_messages_is_the_document(cloud):
    for n in range(3):
        post(cloud, doc(n))
    assert content(source(cloud).fetch({})) == doc(2)


def test_a_poll_with_nothing_new_is_unchanged_and_sends_one_get_from_the_marker(cloud):
    post(cloud, doc(1))
    reader = source(cloud)
    reader.fetch({})
    cloud.zaqar.clear_requests()
    assert reader.fetch({}).content is None
    [request] = listings(cloud)
    assert request.query["marker"] == reader.marker and request.query["echo"] == "true"
    assert request.header("X-Project-Id") == cloud.project.id and request.header("Client-ID")


def test_a_message_posted_after_a_poll_is_the_next_document(cloud):
    post(cloud, doc(1))
    reader = source(cloud)
    assert content(reader.fetch({})) == doc(1)
    post(cloud, doc(2))
    assert content(reader.fetch({})) == doc(2)
    assert reader.fetch({}).content is None


def test_more_than_twenty_messages_are_read_page_by_page(cloud):
    for n in range(45):
        post(cloud, doc(n))
    assert content(source(cloud).fetch({})) == doc(44)
    pages = listings(cloud)
    assert [r.query.get("marker") for r in pages] == [None, "20", "40", "45"]
    assert all(r.query["limit"] == "20" and r.status == 200 for r in pages)


def test_a_body_that_is_not_an_object_is_skipped(cloud):
    post(cloud, doc(1))
    for body in ("not metadata", [1, 2], None, 42):
        post(cloud, body)
    reader = source(cloud)
    assert content(reader.fetch({})) == doc(1)
    post(cloud, "still not metadata")
    assert reader.fetch({}).content is None


def test_an_empty_object_is_a_document(cloud):
    post(cloud, doc(1))
    post(cloud, {})
    assert content(source(cloud).fetch({})) == {}


def test_an_empty_queue_is_unchanged_whether_zaqar_answers_200_or_204(cloud):
    reader = source(cloud)
    assert reader.fetch({}).content is None and reader.marker is None
    cloud.zaqar.fail_next(204, method="GET")  # an older Zaqar's empty listing
    assert reader.fetch({}).content is None


def test_messages_are_never_deleted_so_a_restarted_agent_reads_the_newest_again(cloud):
    for n in range(3):
        post(cloud, doc(n))
    source(cloud).fetch({})
    assert content(source(cloud).fetch({})) == doc(2), "a new source (agent restart) starts over"
    assert len(cloud.zaqar.messages(cloud.project.id, cloud.metadata_queue)) == 3
    assert not cloud.zaqar.requests_matching("DELETE")


def test_next_marker_reads_the_next_link_only():
    links = [{"rel": "self", "href": "/v2/queues/q/messages?marker=1"},
             {"rel": "next", "href": "/v2/queues/q/messages?marker=7&limit=20&echo=true"}]
    assert next_marker(links) == "7"
    assert next_marker([]) is None and next_marker(None) is None
    assert next_marker([{"rel": "next", "href": "/v2/queues/q/messages?limit=20"}]) is None


# ------------------------------------------------------------------ tokens and errors

def test_the_token_is_reused_across_polls_and_a_401_causes_exactly_one_relogin(cloud):
    post(cloud, doc(1))
    reader = source(cloud)
    for _ in range(3):
        reader.fetch({})
    assert logins(cloud) == 1
    cloud.tokens.revoke_all()
    post(cloud, doc(2))
    assert content(reader.fetch({})) == doc(2)
    assert logins(cloud) == 2


def test_a_401_that_persists_after_the_relogin_is_a_permanent_error(cloud):
    reader = source(cloud)
    reader.fetch({})
    cloud.zaqar.fail_next(401, count=None, method="GET")
    error = raised(lambda: reader.fetch({}), cloud.user.password)
    assert "401" in str(error) and "fresh login" in str(error) and not error.transient
    assert logins(cloud) == 2


def test_a_wrong_password_is_permanent_and_never_shown(cloud):
    wrong = "wrong-zaqar-pa55word"
    error = raised(lambda: source(cloud, password=wrong).fetch({}), wrong, cloud.user.password)
    assert "keystone" in str(error) and not error.transient


def test_server_errors_are_transient_and_the_next_poll_catches_up(cloud):
    post(cloud, doc(1))
    reader = source(cloud)
    cloud.zaqar.fail_next(503, method="GET")
    assert raised(lambda: reader.fetch({})).transient
    assert content(reader.fetch({})) == doc(1)


def test_a_failure_half_way_keeps_the_marker_so_nothing_is_missed(cloud):
    for n in range(25):
        post(cloud, doc(n))
    reader = source(cloud)
    cloud.zaqar.faults.add(_second_page_fault())
    assert raised(lambda: reader.fetch({})).transient
    assert reader.marker is None
    assert content(reader.fetch({})) == doc(24)


def _second_page_fault():
    from tests.loopback import Fault

    class SecondPage(Fault):
        def matches(self, request) -> bool:  # only the read that follows the first page
            return request.method == "GET" and request.query.get("marker") == "20"

    return SecondPage(status=502)


@pytest.mark.parametrize("status, why", [(403, "may not read"), (404, "no such queue")])
def test_refusals_are_permanent(cloud, status, why):
    cloud.zaqar.fail_next(status, method="GET")
    error = raised(lambda: source(cloud).fetch({}), cloud.user.password)
    assert str(status) in str(error) and why in str(error) and not error.transient


def test_an_unreachable_zaqar_is_transient(cloud):
    reader = source(cloud)
    cloud.zaqar.reset_next(method="GET")
    assert raised(lambda: reader.fetch({}), cloud.user.password).transient


def test_a_null_section_left_by_a_transport_switch_is_a_clear_error():
    section = dict.fromkeys(("user_id", "password", "auth_url", "project_id", "queue_id", "region_name"))
    error = raised(lambda: make_source("zaqar", section, timeout=5, tls=TLS))
    assert str(error) == "zaqar settings incomplete: auth_url, user_id, password, project_id, queue_id missing"
    assert not error.transient


# ------------------------------------------------------------------ choosing the transport

def test_choose_picks_zaqar_from_heats_collectors_with_cfn_and_heat_null(cloud):
    collect = cloud.os_collect_config("ZAQAR_MESSAGE", null_others=True)
    assert collect["collectors"] == ["ec2", "zaqar", "local"] and collect["cfn"]["metadata_url"] is None
    chosen = sourceconfig.choose(collect, "test")
    assert chosen is not None and chosen.kind == "zaqar"
    assert chosen.settings["queue_id"] == cloud.metadata_queue


def test_choose_skips_a_zaqar_section_left_behind_with_null_values():
    null = dict.fromkeys(("user_id", "password", "auth_url", "project_id", "queue_id", "region_name"))
    chosen = sourceconfig.choose({"collectors": ["ec2", "zaqar", "cfn"], "zaqar": null, "cfn": CFN}, "t")
    assert chosen is not None and chosen.kind == "cfn"


def test_upstream_os_collect_config_conf_zaqar_section_is_read(tmp_path):
    settings = settings_in(tmp_path)
    settings.os_collect_config.write_text(
        "[DEFAULT]\ncollectors =\n    ec2\n    zaqar\n    local\n\n[zaqar]\n"
        "user_id = u1\npassword = occ-zaqar-secret\nauth_url = http://127.0.0.1:5000/v3\n"
        "project_id = p1\nqueue_id = q1\nregion_name = RegionOne\n")
    chosen = sourceconfig.initial(settings)
    assert chosen is not None and chosen.kind == "zaqar" and chosen.settings["queue_id"] == "q1"


# ------------------------------------------------------------------ the agent as a process

def _bootstrapped(tmp_path, cloud: Cloud) -> tuple[Agent, dict[str, Any]]:
    """An agent whose only knowledge is a cfn-init-data naming the zaqar transport."""
    agent = Agent(tmp_path)
    collect = cloud.os_collect_config("ZAQAR_MESSAGE", null_others=True)
    init = tmp_path / "cfn-init-data"
    init.write_text(json.dumps(document([], collect)))
    write_config(agent, cfn_init_data=init)
    return agent, collect


def test_agent_bootstrapped_for_zaqar_applies_the_posted_deployment_and_signals(tmp_path, cloud):
    agent, collect = _bootstrapped(tmp_path, cloud)
    post(cloud, document([], collect))
    post(cloud, document([deployment(cloud, "d1", transport="ZAQAR_SIGNAL")], collect))
    result = agent.run("run", "--once", "--signal-wait", "10")
    assert result.returncode == 0, result.stderr
    [signal] = signals_for(cloud, "dep-d1")
    assert signal.transport == "zaqar" and signal.payload["deploy_status_code"] == 0
    assert "hello from d1" in signal.payload["deploy_stdout"]
    assert listings(cloud) and not cloud.zaqar.requests_matching("DELETE")
    assert not cloud.cfn.requests and not cloud.heat.requests, "only Zaqar is polled"
    assert cloud.user.password not in result.stderr


def test_running_agent_picks_up_each_new_message_once(tmp_path, cloud):
    agent, collect = _bootstrapped(tmp_path, cloud)
    d1 = deployment(cloud, "d1", transport="CFN_SIGNAL")
    post(cloud, document([d1], collect))
    daemon = Process(agent, "run")
    try:
        wait_for(lambda: signals_for(cloud, "dep-d1"), timeout=20, what="d1 from the Zaqar queue")
        d2 = deployment(cloud, "d2", transport="CFN_SIGNAL")
        post(cloud, document([d1, d2], collect))
        wait_for(lambda: signals_for(cloud, "dep-d2"), timeout=20, what="d2, posted while running")
        wait_for(lambda: len(listings(cloud)) >= 6, timeout=20, what="a few more polls")
    finally:
        code = daemon.stop()
    assert code == 0, daemon.stderr
    assert len(signals_for(cloud, "dep-d1")) == 1 and len(signals_for(cloud, "dep-d2")) == 1
    assert all(r.status == 200 for r in listings(cloud)), daemon.stderr
    from_start = [r for r in listings(cloud) if not r.query.get("marker")]
    assert len(from_start) == 1, "only the first poll reads the queue from its start"
