"""The loopback servers answer like the real services and check signatures and tokens for real.

Everything here talks to the servers over HTTP with urllib only, the way an agent would.
"""
from __future__ import annotations

import email.utils
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.loopback import Cloud
from tests.loopback.cfn import CfnServer
from tests.loopback.client import LoopbackClient
from tests.loopback.fixtures import *  # noqa: F401,F403 (the fixtures under test)
from tests.loopback.heat import HeatServer
from tests.loopback.keystone import KeystoneServer
from tests.loopback.signing import v2_signature
from tests.loopback.swift import SwiftServer
from tests.loopback.zaqar import ZaqarServer

pytestmark = pytest.mark.contract

REPO = Path(__file__).resolve().parent.parent


def call(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """One request; HTTP errors come back as a status instead of an exception."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def with_query(url: str, **changes: str) -> str:
    split = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(split.query))
    query.update(changes)
    return urllib.parse.urlunsplit(split._replace(query=urllib.parse.urlencode(query)))


def xml_metadata(body: bytes) -> str | None:
    return ET.fromstring(body).find("./DescribeStackResourceResult/StackResourceDetail/Metadata").text


# -- heat-api-cfn ---------------------------------------------------------------------------

@pytest.fixture
def cfn_stack(cfn_server: CfnServer):
    cred = cfn_server.add_credentials()
    cfn_server.set_metadata("mystack", "server", {"deployments": [{"id": "a"}]})
    return cfn_server, cred


def test_cfn_signed_describe_returns_metadata_as_json_text_in_xml(cfn_stack) -> None:
    server, cred = cfn_stack
    status, headers, body = call("GET", server.signed_metadata_url("mystack", "server", cred))
    assert status == 200
    assert headers["Content-Type"] == "application/xml"
    assert json.loads(xml_metadata(body)) == {"deployments": [{"id": "a"}]}


def test_cfn_content_type_json_returns_heat_json_shape(cfn_stack) -> None:
    server, cred = cfn_stack
    status, _, body = call("GET", server.signed_metadata_url("mystack", "server", cred, True))
    detail = json.loads(body)["DescribeStackResourceResponse"]["DescribeStackResourceResult"][
        "StackResourceDetail"]
    assert status == 200
    assert detail["Metadata"] == {"deployments": [{"id": "a"}]}
    assert detail["LogicalResourceId"] == "server"


def test_cfn_empty_metadata_is_an_empty_element(cfn_stack) -> None:
    server, cred = cfn_stack
    server.set_metadata("mystack", "server", {})
    _, _, body = call("GET", server.signed_metadata_url("mystack", "server", cred))
    assert xml_metadata(body) is None


def test_cfn_wrong_signature_is_403_with_error_response_xml(cfn_stack) -> None:
    server, cred = cfn_stack
    url = with_query(server.signed_metadata_url("mystack", "server", cred), Signature="AAAA")
    status, _, body = call("GET", url)
    assert status == 403
    assert ET.fromstring(body).find("./Error/Code").text == "SignatureDoesNotMatch"


def test_cfn_unknown_access_key_is_403(cfn_stack) -> None:
    server, _ = cfn_stack
    stranger = server.add_credentials()
    url = server.signed_metadata_url("mystack", "server", stranger)
    server.add_credentials(access="someone-else")
    status, _, body = call("GET", with_query(url, AWSAccessKeyId="nobody"))
    assert status == 403
    assert ET.fromstring(body).find("./Error/Code").text == "InvalidClientTokenId"


def test_cfn_signature_covers_the_host_header_as_sent(cfn_stack) -> None:
    server, cred = cfn_stack
    url = server.signed_metadata_url("mystack", "server", cred)
    status, _, _ = call("GET", url, headers={"Host": f"localhost:{server.port}"})
    assert status == 403


def test_cfn_unsigned_extra_parameter_is_403(cfn_stack) -> None:
    server, cred = cfn_stack
    url = server.signed_metadata_url("mystack", "server", cred) + "&ContentType=JSON"
    assert call("GET", url)[0] == 403


def test_cfn_signature_follows_spec_string_to_sign(cfn_stack) -> None:
    server, cred = cfn_stack
    params = {"Action": "DescribeStackResource", "StackName": "mystack",
              "LogicalResourceId": "server", "AWSAccessKeyId": cred.access,
              "SignatureVersion": "2", "SignatureMethod": "HmacSHA256"}
    params["Signature"] = v2_signature(cred.secret, "GET", server.netloc, "/v1/", params)
    status, _, _ = call("GET", f"{server.url}/v1/?{urllib.parse.urlencode(params)}")
    assert status == 200


def test_cfn_unknown_stack_or_resource_is_404(cfn_stack) -> None:
    server, cred = cfn_stack
    assert call("GET", server.signed_metadata_url("nostack", "server", cred))[0] == 404
    assert call("GET", server.signed_metadata_url("mystack", "nothing", cred))[0] == 404


def test_cfn_credentials_bound_to_another_stack_are_denied(cfn_stack) -> None:
    server, _ = cfn_stack
    other = server.add_credentials(stack="otherstack")
    assert call("GET", server.signed_metadata_url("mystack", "server", other))[0] == 403


def test_cfn_presigned_signal_is_accepted_with_empty_200_and_recorded(cfn_server: CfnServer) -> None:
    url = cfn_server.make_signal_url("mystack", "deployment1")
    status, _, body = call("POST", url, {"deploy_status_code": 0},
                           {"Content-Type": "application/json"})
    assert (status, body) == (200, b"")
    [received] = cfn_server.signals
    assert (received.resource, received.payload) == ("deployment1", {"deploy_status_code": 0})


def test_cfn_signal_with_tampered_signature_is_403(cfn_server: CfnServer) -> None:
    url = with_query(cfn_server.make_signal_url("mystack", "d1"), Signature="bogus")
    assert call("POST", url, {})[0] == 403
    assert cfn_server.signals == []


def test_cfn_signal_url_older_than_auth_ttl_is_403(cfn_server: CfnServer) -> None:
    cfn_server.auth_ttl = 60
    url = cfn_server.make_signal_url("mystack", "d1", timestamp=time.time() - 120)
    assert call("POST", url, {})[0] == 403


def test_cfn_signal_over_heat_body_limit_is_413(cfn_server: CfnServer) -> None:
    url = cfn_server.make_signal_url("mystack", "d1")
    big = {"deploy_stdout": "x" * (1024 * 1024)}
    assert call("POST", url, big)[0] == 413


def test_signal_hook_runs_before_the_answer(cfn_server: CfnServer) -> None:
    cred = cfn_server.add_credentials()
    cfn_server.set_metadata("s", "server", {"deployments": [1]})
    cfn_server.on_signal(lambda sig: cfn_server.set_metadata("s", "server", {"deployments": [1, 2]}))
    call("POST", cfn_server.make_signal_url("s", "d1"), {})
    _, _, body = call("GET", cfn_server.signed_metadata_url("s", "server", cred))
    assert json.loads(xml_metadata(body)) == {"deployments": [1, 2]}


# -- Swift TempURL ----------------------------------------------------------------------------

@pytest.fixture
def swift_object(swift_server: SwiftServer):
    account, _ = swift_server.add_account()
    swift_server.put_object(account, "c", "meta", {"deployments": []})
    return swift_server, account


def test_swift_tempurl_get_returns_object_with_quoted_etag_and_last_modified(swift_object) -> None:
    server, account = swift_object
    status, headers, body = call("GET", server.temp_url("GET", account, "c", "meta"))
    assert status == 200
    assert json.loads(body) == {"deployments": []}
    assert headers["Etag"] == f'"{server.get_object(account, "c", "meta").etag}"'
    assert email.utils.parsedate_to_datetime(headers["Last-Modified"])


def test_swift_if_none_match_with_current_etag_is_304(swift_object) -> None:
    server, account = swift_object
    url = server.temp_url("GET", account, "c", "meta")
    etag = call("GET", url)[1]["Etag"]
    status, _, body = call("GET", url, headers={"If-None-Match": etag})
    assert (status, body) == (304, b"")


def test_swift_changed_object_is_200_despite_old_etag(swift_object) -> None:
    server, account = swift_object
    url = server.temp_url("GET", account, "c", "meta")
    etag = call("GET", url)[1]["Etag"]
    server.put_object(account, "c", "meta", {"deployments": [{"id": "new"}]})
    assert call("GET", url, headers={"If-None-Match": etag})[0] == 200


def test_swift_if_modified_since_last_modified_is_304(swift_object) -> None:
    server, account = swift_object
    url = server.temp_url("GET", account, "c", "meta")
    last_modified = call("GET", url)[1]["Last-Modified"]
    assert call("GET", url, headers={"If-Modified-Since": last_modified})[0] == 304
    older = email.utils.formatdate(time.time() - 3600, usegmt=True)
    assert call("GET", url, headers={"If-Modified-Since": older})[0] == 200


def test_swift_head_is_accepted_with_get_or_put_signature(swift_object) -> None:
    server, account = swift_object
    for method in ("GET", "PUT", "HEAD"):
        status, headers, body = call("HEAD", server.temp_url(method, account, "c", "meta"))
        assert (status, body) == (200, b""), method
        assert "Etag" in headers


def test_swift_put_signature_does_not_authorise_get(swift_object) -> None:
    server, account = swift_object
    status, headers, _ = call("GET", server.temp_url("PUT", account, "c", "meta"))
    assert status == 401
    assert headers["Www-Authenticate"].startswith("Swift realm=")


def test_swift_wrong_or_expired_tempurl_is_401(swift_object) -> None:
    server, account = swift_object
    url = server.temp_url("GET", account, "c", "meta")
    assert call("GET", with_query(url, temp_url_sig="0" * 64))[0] == 401
    expired = server.temp_url("GET", account, "c", "meta", expires=int(time.time()) - 1)
    assert call("GET", expired)[0] == 401
    assert call("GET", url.split("?")[0])[0] == 401


def test_swift_sha1_tempurl_is_accepted(swift_object) -> None:
    server, account = swift_object
    assert call("GET", server.temp_url("GET", account, "c", "meta", digest="sha1"))[0] == 200


def test_swift_put_stores_the_body_answers_201_and_records_a_signal(swift_server: SwiftServer) -> None:
    account, _ = swift_server.add_account()
    url = swift_server.make_signal_url(account, "signals", "obj-1", "mystack", "deployment1")
    status, headers, _ = call("PUT", url, b'{"deploy_status_code": 0}')
    assert status == 201 and "Etag" in headers
    assert swift_server.get_object(account, "signals", "obj-1").body == b'{"deploy_status_code": 0}'
    assert swift_server.signals[0].resource == "deployment1"


def test_swift_put_into_missing_container_is_404(swift_server: SwiftServer) -> None:
    account, _ = swift_server.add_account()
    assert call("PUT", swift_server.temp_url("PUT", account, "nope", "o"), b"x")[0] == 404


def test_swift_missing_object_is_404(swift_object) -> None:
    server, account = swift_object
    assert call("GET", server.temp_url("GET", account, "c", "absent"))[0] == 404


# -- Keystone ---------------------------------------------------------------------------------

def password_auth(user: dict[str, Any], password: str, project_id: str | None) -> dict[str, Any]:
    auth: dict[str, Any] = {"identity": {"methods": ["password"],
                                         "password": {"user": {**user, "password": password}}}}
    if project_id:
        auth["scope"] = {"project": {"id": project_id}}
    return {"auth": auth}


@pytest.fixture
def keystone_user(keystone_server: KeystoneServer):
    project = keystone_server.add_project("p")
    user = keystone_server.add_user("agent", "pw", projects=[project.id])
    keystone_server.add_service("orchestration", "heat", "http://127.0.0.1:1/v1/%(tenant_id)s")
    return keystone_server, user, project


def test_keystone_password_auth_by_id_gives_201_token_and_catalog(keystone_user) -> None:
    server, user, project = keystone_user
    status, headers, body = call("POST", f"{server.auth_url}/auth/tokens",
                                 password_auth({"id": user.id}, "pw", project.id),
                                 {"Content-Type": "application/json"})
    token = json.loads(body)["token"]
    assert status == 201 and headers["X-Subject-Token"]
    assert token["project"]["id"] == project.id and token["user"]["id"] == user.id
    assert token["methods"] == ["password"] and token["expires_at"] > token["issued_at"]
    [endpoint] = [e for e in token["catalog"][0]["endpoints"] if e["interface"] == "public"]
    assert endpoint["url"] == f"http://127.0.0.1:1/v1/{project.id}"
    assert endpoint["region_id"] == "RegionOne"


def test_keystone_password_auth_by_name_and_domain(keystone_user) -> None:
    server, _, project = keystone_user
    body = password_auth({"name": "agent", "domain": {"id": "default"}}, "pw", project.id)
    assert call("POST", f"{server.auth_url}/auth/tokens", body)[0] == 201


def test_keystone_bad_password_is_401_with_keystone_error_body(keystone_user) -> None:
    server, user, project = keystone_user
    status, headers, body = call("POST", f"{server.auth_url}/auth/tokens",
                                 password_auth({"id": user.id}, "wrong", project.id))
    assert status == 401
    assert json.loads(body)["error"]["code"] == 401
    assert headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_keystone_scope_to_project_without_role_is_401(keystone_user) -> None:
    server, user, _ = keystone_user
    other = server.add_project("other")
    assert call("POST", f"{server.auth_url}/auth/tokens",
                password_auth({"id": user.id}, "pw", other.id))[0] == 401


def test_keystone_token_lifetime_is_configurable(keystone_user) -> None:
    server, user, project = keystone_user
    server.token_lifetime = 5
    _, headers, _ = call("POST", f"{server.auth_url}/auth/tokens",
                         password_auth({"id": user.id}, "pw", project.id))
    token = server.tokens.validate(headers["X-Subject-Token"])
    assert token is not None and 4 <= token.expires_at - token.issued_at <= 6


def test_keystone_serves_a_v3_version_document(keystone_server: KeystoneServer) -> None:
    status, _, body = call("GET", keystone_server.auth_url)
    assert status == 200 and json.loads(body)["version"]["id"].startswith("v3")


# -- Heat native API --------------------------------------------------------------------------

@pytest.fixture
def heat_token(heat_server: HeatServer, loopback_tokens):
    stack = heat_server.set_metadata("proj", "mystack", "server", {"deployments": []})
    heat_server.add_resource("proj", "mystack", "deployment1")
    token = loopback_tokens.issue("u", "agent", "default", "proj", "p", 600)
    base = f"{heat_server.url}/v1/proj/stacks/mystack/{stack.id}/resources"
    return heat_server, token.id, base


def test_heat_metadata_with_valid_token(heat_token) -> None:
    _, token, base = heat_token
    status, _, body = call("GET", f"{base}/server/metadata", headers={"X-Auth-Token": token})
    assert (status, json.loads(body)) == (200, {"metadata": {"deployments": []}})


def test_heat_without_or_with_bad_or_expired_token_is_401(heat_token, loopback_tokens) -> None:
    _, token, base = heat_token
    assert call("GET", f"{base}/server/metadata")[0] == 401
    assert call("GET", f"{base}/server/metadata", headers={"X-Auth-Token": "nope"})[0] == 401
    loopback_tokens.expire_all()
    assert call("GET", f"{base}/server/metadata", headers={"X-Auth-Token": token})[0] == 401


def test_heat_token_for_another_project_is_403(heat_token, loopback_tokens) -> None:
    _, _, base = heat_token
    other = loopback_tokens.issue("u", "agent", "default", "other", "o", 600)
    assert call("GET", f"{base}/server/metadata", headers={"X-Auth-Token": other.id})[0] == 403


def test_heat_unknown_stack_or_resource_is_404(heat_token) -> None:
    server, token, base = heat_token
    headers = {"X-Auth-Token": token}
    assert call("GET", f"{base}/nothing/metadata", headers=headers)[0] == 404
    wrong = f"{server.url}/v1/proj/stacks/mystack/{uuid.uuid4()}/resources/server/metadata"
    assert call("GET", wrong, headers=headers)[0] == 404


def test_heat_signal_answers_200_null_and_records_payload(heat_token) -> None:
    server, token, base = heat_token
    status, _, body = call("POST", f"{base}/deployment1/signal", {"deploy_status_code": 0},
                           {"X-Auth-Token": token, "Content-Type": "application/json"})
    assert (status, body) == (200, b"null")
    assert server.signals[0].resource == "deployment1"


def test_heat_stack_name_without_id_redirects_to_full_path(heat_token) -> None:
    server, token, _ = heat_token
    url = f"{server.url}/v1/proj/stacks/mystack/resources/server/metadata"
    status, _, body = call("GET", url, headers={"X-Auth-Token": token})
    assert status == 200 and json.loads(body)["metadata"] == {"deployments": []}
    assert [r.status for r in server.requests] == [302, 200]


# -- Zaqar ------------------------------------------------------------------------------------

@pytest.fixture
def zaqar_token(zaqar_server: ZaqarServer, loopback_tokens):
    token = loopback_tokens.issue("u", "agent", "default", "proj", "p", 600)
    headers = {"X-Auth-Token": token.id, "Client-ID": str(uuid.uuid4()), "X-Project-Id": "proj",
               "Content-Type": "application/json"}
    return zaqar_server, headers, f"{zaqar_server.url}/v2/queues/q1/messages"


def test_zaqar_post_messages_is_201_with_resources_and_recorded(zaqar_token) -> None:
    server, headers, url = zaqar_token
    status, _, body = call("POST", url, {"messages": [{"body": {"deploy_status_code": 0},
                                                       "ttl": 600}]}, headers)
    assert status == 201 and len(json.loads(body)["resources"]) == 1
    assert server.signals[0].payload == {"deploy_status_code": 0}
    assert server.messages("proj", "q1")[0].body == {"deploy_status_code": 0}


def test_zaqar_requires_token_and_client_id_and_valid_ttl(zaqar_token) -> None:
    _, headers, url = zaqar_token
    good = {"messages": [{"body": 1, "ttl": 600}]}
    assert call("POST", url, good, {k: v for k, v in headers.items() if k != "X-Auth-Token"})[0] == 401
    assert call("POST", url, good, {k: v for k, v in headers.items() if k != "Client-ID"})[0] == 400
    assert call("POST", url, {"messages": [{"body": 1, "ttl": 5}]}, headers)[0] == 400


def test_zaqar_post_over_the_size_limit_is_400(zaqar_token) -> None:
    _, headers, url = zaqar_token
    assert call("POST", url, {"messages": [{"body": "x" * 300000}]}, headers)[0] == 400


def test_zaqar_pop_returns_and_removes_messages(zaqar_token) -> None:
    server, headers, url = zaqar_token
    server.post_message("proj", "q1", {"deployments": []})
    status, _, body = call("DELETE", url + "?pop=1", headers=headers)
    assert status == 200 and json.loads(body)["messages"][0]["body"] == {"deployments": []}
    assert server.messages("proj", "q1") == []


# -- shared behaviour: records and faults ------------------------------------------------------

def test_requests_are_recorded_with_status_and_bytes(swift_object) -> None:
    server, account = swift_object
    call("GET", server.temp_url("GET", account, "c", "meta"))
    [request] = server.requests
    assert (request.method, request.status) == ("GET", 200)
    assert request.bytes_in > 0 and request.bytes_out > len(b'{"deployments": []}')


def test_injected_status_applies_to_next_k_requests_only(swift_object) -> None:
    server, account = swift_object
    url = server.temp_url("GET", account, "c", "meta")
    server.fail_next(503, count=2)
    assert [call("GET", url)[0] for _ in range(3)] == [503, 503, 200]


def test_injected_fault_matches_only_its_method_and_path(swift_object) -> None:
    server, account = swift_object
    server.fail_next(500, count=None, method="PUT")
    assert call("GET", server.temp_url("GET", account, "c", "meta"))[0] == 200
    assert call("PUT", server.temp_url("PUT", account, "c", "meta"), b"x")[0] == 500
    server.faults.clear()
    assert call("PUT", server.temp_url("PUT", account, "c", "meta"), b"x")[0] == 201


def test_injected_reset_drops_the_connection(swift_object) -> None:
    server, account = swift_object
    server.reset_next()
    with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):
        call("GET", server.temp_url("GET", account, "c", "meta"))
    assert call("GET", server.temp_url("GET", account, "c", "meta"))[0] == 200


def test_injected_delay_slows_the_answer(swift_object) -> None:
    server, account = swift_object
    server.delay_next(0.5)
    start = time.monotonic()
    assert call("GET", server.temp_url("GET", account, "c", "meta"))[0] == 200
    assert time.monotonic() - start >= 0.5


def test_faults_can_be_injected_through_the_admin_route(swift_object) -> None:
    server, account = swift_object
    assert call("POST", f"{server.url}/_test/faults", {"status": 502, "count": 1})[0] == 201
    assert call("GET", server.temp_url("GET", account, "c", "meta"))[0] == 502
    assert len(server.requests) == 1  # admin calls are not recorded


# -- the wired cloud and the CLI ---------------------------------------------------------------

def test_cloud_catalog_leads_from_keystone_to_heat_metadata(cloud: Cloud) -> None:
    cloud.publish({"deployments": [{"id": "x"}]})
    section = cloud.collect_section("POLL_SERVER_HEAT")
    _, headers, body = call("POST", f"{section['auth_url']}/auth/tokens",
                            password_auth({"id": section["user_id"]}, section["password"],
                                          section["project_id"]))
    [heat] = [s for s in json.loads(body)["token"]["catalog"] if s["type"] == "orchestration"]
    [public] = [e for e in heat["endpoints"] if e["interface"] == "public"]
    url = f"{public['url']}/stacks/{section['stack_id']}/resources/{section['resource_name']}/metadata"
    status, _, body = call("GET", url, headers={"X-Auth-Token": headers["X-Subject-Token"]})
    assert (status, json.loads(body)["metadata"]) == (200, {"deployments": [{"id": "x"}]})


@pytest.mark.parametrize("transport", ["CFN_SIGNAL", "TEMP_URL_SIGNAL"])
def test_cloud_signal_inputs_give_urls_the_servers_accept(cloud: Cloud, transport: str) -> None:
    inputs = {i["name"]: i["value"] for i in cloud.signal_inputs(transport, "dep1")}
    status, _, _ = call(inputs["deploy_signal_verb"], inputs["deploy_signal_id"], {"ok": 1})
    assert status in (200, 201)
    assert [(s.resource, s.payload) for s in cloud.signals] == [("dep1", {"ok": 1})]


def test_cli_serves_until_sigterm_and_is_driven_through_admin_routes(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "tests.loopback", "--state-dir", str(tmp_path)],
                               cwd=REPO, stdout=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        client = LoopbackClient.from_state_dir(tmp_path, wait=20)
        client.publish({"deployments": [{"id": "cli"}]})
        metadata_url = client.state["os_collect_config"]["POLL_TEMP_URL"]["metadata_url"]
        assert json.loads(call("GET", metadata_url)[2]) == {"deployments": [{"id": "cli"}]}
        assert call("POST", client.cfn_signal_url("dep1"), {"deploy_status_code": 0})[0] == 200
        assert [s["resource"] for s in client.signals()] == ["dep1"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert not (tmp_path / "loopback.json").exists()
