"""Metadata sources: cfn, heat, request (TempURL), local and heat_local behind one face.

Unit tests run against small in-test HTTP handlers; the contract tests at the
end run the same sources against the loopback cfn, Keystone, Heat and Swift
servers, which check signatures and tokens the way the real services do.
"""
from __future__ import annotations

import json
import os
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest

from stoker import httpclient
from stoker.sources import Fetched, SourceError, make_source
from tests.loopback import signing

pytestmark = pytest.mark.contract

TLS = httpclient.TLSOptions()
SECRET = "cfn-secret-KEY-0123"
PASSWORD = "heat-pa55word-xyz"
TEMPURL_SIG = "0123456789abcdef0123456789abcdef01234567"
DOC = {"os-collect-config": {"collectors": ["cfn"]}, "deployments": [{"id": "d1", "name": "10_a"}],
       "user": {"sub": {"key": 1}}}


# ------------------------------------------------------------------ a tiny scriptable server

@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Answer:
    status: int = 200
    body: bytes | int = b""  # an int: that many filler bytes, streamed
    headers: dict[str, str] = field(default_factory=dict)


class FakeServer:
    """Routes every request to ``self.route(seen) -> Answer`` and records it."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.route: Callable[[Seen], Answer] = lambda seen: Answer(404)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self._serve()

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._serve()

            def _serve(self) -> None:
                split = urllib.parse.urlsplit(self.path)
                seen = Seen(self.command, split.path, dict(urllib.parse.parse_qsl(split.query)),
                            dict(self.headers.items()))
                outer.seen.append(seen)
                answer = outer.route(seen)
                size = answer.body if isinstance(answer.body, int) else len(answer.body)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                try:
                    self._write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: what a size limit does

            def _write(self, body: bytes | int) -> None:
                if isinstance(body, bytes):
                    self.wfile.write(body)
                    return
                chunk = b" " * (1 << 20)
                for start in range(0, body, len(chunk)):
                    self.wfile.write(chunk[: body - start])

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.netloc = f"127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.close()


def raised(call: Callable[[], Any]) -> SourceError:
    """The SourceError ``call`` raises, after checking that no secret made it into its text."""
    with pytest.raises(SourceError) as info:
        call()
    text = str(info.value) + repr(info.value)
    for secret in (SECRET, PASSWORD, TEMPURL_SIG):
        assert secret not in text
    return info.value


# ------------------------------------------------------------------ the factory

@pytest.mark.parametrize("kind, missing", [
    ("cfn", "metadata_url, access_key_id, secret_access_key, stack_name, path"),
    ("heat", "auth_url, user_id, password, project_id, stack_id, resource_name"),
    ("request", "metadata_url")])
def test_null_section_left_by_a_transport_switch_is_a_clear_error(kind, missing):
    section = dict.fromkeys(missing.split(", "))
    error = raised(lambda: make_source(kind, section, timeout=5, tls=TLS))
    assert str(error) == f"{kind} settings incomplete: {missing} missing"
    assert not error.transient


def test_missing_settings_and_unknown_kind_are_permanent_errors():
    assert "cfn settings incomplete: metadata_url" in str(raised(lambda: make_source("cfn", None, timeout=5, tls=TLS)))
    assert not raised(lambda: make_source("ec2", {}, timeout=5, tls=TLS)).transient
    assert "mapping" in str(raised(lambda: make_source("request", ["x"], timeout=5, tls=TLS)))  # type: ignore


def test_section_timeout_and_ca_certificate_override_the_agent_defaults():
    source = make_source("request", {"metadata_url": "https://h/o", "timeout": "7", "ca_certificate": "/ca.pem"},
                         timeout=30, tls=TLS)
    assert source.timeout == 7.0 and source.tls.ca_file == "/ca.pem"


def test_tempurl_is_an_alias_of_request():
    assert make_source("tempurl", {"metadata_url": "http://h/o"}, timeout=5, tls=TLS).kind == "request"


# ------------------------------------------------------------------ cfn

def cfn_xml(metadata_text: str | None) -> bytes:
    inner = "" if metadata_text is None else f"<Metadata>{metadata_text}</Metadata>"
    return (f"<DescribeStackResourceResponse><DescribeStackResourceResult><StackResourceDetail>"
            f"<LogicalResourceId>server</LogicalResourceId>{inner}"
            f"</StackResourceDetail></DescribeStackResourceResult></DescribeStackResourceResponse>").encode()


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cfn_source(server: FakeServer, path: str = "server.Metadata", url_suffix: str = "/v1/"):
    return make_source("cfn", {"metadata_url": server.url + url_suffix, "access_key_id": "AKID",
                               "secret_access_key": SECRET, "stack_name": "st", "path": path},
                       timeout=5, tls=TLS)


def verifying(answer: Callable[[Seen], Answer]) -> Callable[[Seen], Answer]:
    """A route that checks the v2 signature independently before answering (403 otherwise)."""
    def route(seen: Seen) -> Answer:
        host = seen.headers.get("Host", "")
        if not signing.v2_signature_matches(SECRET, seen.method, host, seen.path, seen.query):
            return Answer(403, b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>")
        return answer(seen)
    return route


def test_cfn_sends_a_signed_describe_stack_resource_and_returns_the_metadata(server):
    server.route = verifying(lambda seen: Answer(200, cfn_xml(escape(json.dumps(DOC)))))
    fetched = cfn_source(server, url_suffix="/v1").fetch({})  # a missing slash is added
    assert json.loads(fetched.content) == DOC
    seen = server.seen[0]
    assert seen.path == "/v1/"
    assert seen.query["Action"] == "DescribeStackResource"
    assert seen.query["StackName"] == "st" and seen.query["LogicalResourceId"] == "server"
    assert seen.query["AWSAccessKeyId"] == "AKID" and "Timestamp" not in seen.query


def test_cfn_walks_a_deeper_path_into_the_json(server):
    server.route = verifying(lambda seen: Answer(200, cfn_xml(escape(json.dumps(DOC)))))
    assert json.loads(cfn_source(server, "server.Metadata.user.sub").fetch({}).content) == {"key": 1}
    assert server.seen[0].query["LogicalResourceId"] == "server"
    assert "user.nope" in str(raised(lambda: cfn_source(server, "server.Metadata.user.nope").fetch({})))


def test_cfn_empty_metadata_element_is_an_empty_document(server):
    server.route = lambda seen: Answer(200, cfn_xml(""))
    assert cfn_source(server).fetch({}) == Fetched(b"{}", {})


def test_cfn_answer_without_metadata_element_is_an_error(server):
    server.route = lambda seen: Answer(200, cfn_xml(None))
    assert "no Metadata element" in str(raised(lambda: cfn_source(server).fetch({})))


def test_cfn_403_names_signature_credentials_and_policy(server):
    server.route = verifying(lambda seen: Answer(200, cfn_xml("{}")))
    source = make_source("cfn", {"metadata_url": server.url + "/v1/", "access_key_id": "AKID",
                                 "secret_access_key": "wrong-secret", "stack_name": "st",
                                 "path": "server.Metadata"}, timeout=5, tls=TLS)
    error = raised(lambda: source.fetch({}))
    assert "403" in str(error) and "signature" in str(error) and "policy" in str(error)
    assert not error.transient and "wrong-secret" not in str(error)


def test_cfn_404_names_the_stack_and_resource(server):
    server.route = lambda seen: Answer(404, b"<ErrorResponse/>")
    error = raised(lambda: cfn_source(server).fetch({}))
    assert "unknown stack 'st' or resource 'server'" in str(error) and not error.transient


def test_cfn_server_error_is_transient(server):
    server.route = lambda seen: Answer(500, b"boom")
    assert raised(lambda: cfn_source(server).fetch({})).transient


def test_cfn_invalid_json_metadata_is_a_clear_error(server):
    server.route = lambda seen: Answer(200, cfn_xml("{not json"))
    assert "not valid JSON" in str(raised(lambda: cfn_source(server).fetch({})))


def test_cfn_non_object_metadata_is_refused(server):
    server.route = lambda seen: Answer(200, cfn_xml("[1, 2]"))
    assert "not a JSON object" in str(raised(lambda: cfn_source(server).fetch({})))


def test_cfn_refuses_xml_with_entity_declarations(server):
    bomb = b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaa">]><m><Metadata>&a;</Metadata></m>'
    server.route = lambda seen: Answer(200, bomb)
    assert "DOCTYPE" in str(raised(lambda: cfn_source(server).fetch({})))


def test_cfn_malformed_xml_is_a_clear_error(server):
    server.route = lambda seen: Answer(200, b"<html><body>proxy error")
    assert "not valid XML" in str(raised(lambda: cfn_source(server).fetch({})))


def test_a_50_megabyte_answer_is_refused_without_crashing(server):
    server.route = lambda seen: Answer(200, 50 * 1024 * 1024)
    error = raised(lambda: cfn_source(server).fetch({}))
    assert "larger than" in str(error) and not error.transient


def test_unreachable_server_is_transient_and_shows_no_signature():
    source = make_source("cfn", {"metadata_url": "http://127.0.0.1:9/v1/", "access_key_id": "AKID",
                                 "secret_access_key": SECRET, "stack_name": "st", "path": "server.Metadata"},
                         timeout=2, tls=TLS)
    error = raised(lambda: source.fetch({}))
    assert error.transient
    signature = urllib.parse.parse_qs(urllib.parse.urlsplit(source.signed_url()).query)["Signature"][0]
    assert signature not in str(error) and urllib.parse.quote(signature, safe="") not in str(error)


# ------------------------------------------------------------------ heat

class HeatAPI:
    """Keystone and Heat on one fake server; ``revoked`` tokens get 401 from the Heat side."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.logins = 0
        self.revoked: set[str] = set()
        self.metadata: Any = DOC
        self.status = 200
        server.route = self.route

    def route(self, seen: Seen) -> Answer:
        if seen.method == "POST" and seen.path == "/identity/v3/auth/tokens":
            self.logins += 1
            catalog = [{"type": "orchestration", "endpoints": [
                {"interface": "public", "region_id": "R1", "url": f"{self.server.url}/heat/v1/pid"}]}]
            body = {"token": {"expires_at": "2999-01-01T00:00:00Z", "catalog": catalog}}
            return Answer(201, json.dumps(body).encode(), {"X-Subject-Token": f"tok{self.logins}"})
        token = seen.headers.get("X-Auth-Token")
        if token is None or token in self.revoked:
            return Answer(401, b'{"error": "unauthorized"}')
        if seen.path == "/heat/v1/pid/stacks/st/sid/resources/server/metadata" and self.status == 200:
            return Answer(200, json.dumps({"metadata": self.metadata}).encode())
        return Answer(self.status if self.status != 200 else 404, b'{"error": "x"}')


def heat_source(server: FakeServer):
    return make_source("heat", {"auth_url": server.url + "/identity/v2.0", "user_id": "uid",
                                "password": PASSWORD, "project_id": "pid", "stack_id": "st/sid",
                                "resource_name": "server", "region_name": "R1"}, timeout=5, tls=TLS)


def test_heat_returns_the_resource_metadata(server):
    HeatAPI(server)
    assert json.loads(heat_source(server).fetch({}).content) == DOC


def test_heat_reuses_one_token_across_polls(server):
    api = HeatAPI(server)
    source = heat_source(server)
    for _ in range(4):
        source.fetch({})
    assert api.logins == 1


def test_heat_logs_in_again_once_after_a_401(server):
    api = HeatAPI(server)
    source = heat_source(server)
    source.fetch({})
    api.revoked.add("tok1")
    assert json.loads(source.fetch({}).content) == DOC
    assert api.logins == 2


def test_heat_persistent_401_is_an_error_without_secrets(server):
    api = HeatAPI(server)
    api.revoked.update({"tok1", "tok2"})
    error = raised(lambda: heat_source(server).fetch({}))
    assert "401" in str(error) and "tok1" not in str(error) and "tok2" not in str(error)
    assert api.logins == 2


def test_heat_404_and_5xx(server):
    api = HeatAPI(server)
    api.status = 404
    assert "unknown stack or resource" in str(raised(lambda: heat_source(server).fetch({})))
    api.status = 503
    assert raised(lambda: heat_source(server).fetch({})).transient


def test_heat_null_metadata_is_an_empty_document(server):
    HeatAPI(server).metadata = None
    assert heat_source(server).fetch({}).content == b"{}"


def test_heat_keystone_refusal_is_a_source_error_without_the_password(server):
    server.route = lambda seen: Answer(401, json.dumps({"error": {"message": PASSWORD}}).encode())
    error = raised(lambda: heat_source(server).fetch({}))
    assert "keystone" in str(error) and not error.transient


# ------------------------------------------------------------------ request (TempURL)

def tempurl_source(server: FakeServer, path: str = "/v1/AUTH_p/c/o"):
    url = f"{server.url}{path}?temp_url_sig={TEMPURL_SIG}&temp_url_expires=2145916800"
    return make_source("request", {"metadata_url": url}, timeout=5, tls=TLS)


def swift_route(body: bytes, etag: str = "abc", modified: str = "Tue, 01 Jan 2030 00:00:00 GMT"):
    def route(seen: Seen) -> Answer:
        if seen.query.get("temp_url_sig") != TEMPURL_SIG:
            return Answer(401, b"<html>Unauthorized</html>")
        if seen.headers.get("If-None-Match") == etag:
            return Answer(304)
        return Answer(200, body, {"ETag": etag, "Last-Modified": modified})
    return route


def test_tempurl_returns_the_body_and_its_validators(server):
    server.route = swift_route(json.dumps(DOC).encode())
    fetched = tempurl_source(server).fetch({})
    assert json.loads(fetched.content) == DOC
    assert fetched.validators == {"ETag": "abc", "Last-Modified": "Tue, 01 Jan 2030 00:00:00 GMT"}


def test_tempurl_sends_validators_and_answers_unchanged_on_304(server):
    server.route = swift_route(json.dumps(DOC).encode())
    source = tempurl_source(server)
    first = source.fetch({})
    second = source.fetch(first.validators)
    assert second == Fetched(None, first.validators)
    headers = server.seen[1].headers
    assert headers["If-None-Match"] == "abc" and headers["If-Modified-Since"] == first.validators["Last-Modified"]
    assert "If-None-Match" not in server.seen[0].headers


def test_tempurl_refuses_a_body_that_is_not_a_json_object(server):
    server.route = swift_route(b"[1]")
    assert "not a JSON object" in str(raised(lambda: tempurl_source(server).fetch({})))
    server.route = swift_route(b"{oops")
    assert "not valid JSON" in str(raised(lambda: tempurl_source(server).fetch({})))


def test_tempurl_refusal_never_shows_the_signature(server):
    server.route = lambda seen: Answer(401, f"bad sig {TEMPURL_SIG}".encode())
    error = raised(lambda: tempurl_source(server).fetch({}))
    assert "expired" in str(error) and not error.transient


def test_tempurl_unreachable_never_shows_the_signature():
    source = make_source("request", {"metadata_url": f"http://127.0.0.1:9/o?temp_url_sig={TEMPURL_SIG}"
                                                     "&temp_url_expires=1"}, timeout=2, tls=TLS)
    assert raised(lambda: source.fetch({})).transient


def test_tempurl_server_error_is_transient(server):
    server.route = lambda seen: Answer(503, b"busy")
    assert raised(lambda: tempurl_source(server).fetch({})).transient


# ------------------------------------------------------------------ local and heat_local

def write(path: Path, value: Any, mode: int = 0o600) -> Path:
    path.write_text(json.dumps(value))
    path.chmod(mode)
    return path


def local_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "local-data"
    directory.mkdir(mode=0o700)
    return directory


def test_local_merges_json_files_in_name_order(tmp_path):
    directory = local_dir(tmp_path)
    write(directory / "20-b.json", {"a": {"y": 2}, "list": [2], "b": True})
    write(directory / "10-a.json", {"a": {"x": 1}, "list": [1]})
    (directory / "ignored.txt").write_text("not json")
    fetched = make_source("local", {"path": str(directory)}, timeout=5, tls=TLS).fetch({})
    assert json.loads(fetched.content) == {"a": {"x": 1, "y": 2}, "list": [2], "b": True}


def test_local_unchanged_files_give_no_content(tmp_path):
    directory = local_dir(tmp_path)
    path = write(directory / "a.json", {"v": 1})
    source = make_source("local", {"path": str(directory)}, timeout=5, tls=TLS)
    first = source.fetch({})
    assert source.fetch(first.validators) == Fetched(None, first.validators)
    write(path, {"v": 22})
    assert json.loads(source.fetch(first.validators).content) == {"v": 22}


def test_local_refuses_world_writable_directory_and_file(tmp_path):
    directory = local_dir(tmp_path)
    path = write(directory / "a.json", {"v": 1}, mode=0o666)
    source = make_source("local", {"path": str(directory)}, timeout=5, tls=TLS)
    assert "world-writable" in str(raised(lambda: source.fetch({})))
    path.chmod(0o600)
    directory.chmod(0o777)
    error = raised(lambda: source.fetch({}))
    assert "world-writable" in str(error) and not error.transient


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_local_refuses_a_file_owned_by_another_user(tmp_path):
    directory = local_dir(tmp_path)
    path = write(directory / "a.json", {"v": 1})
    os.chown(path, 65534, 65534)
    source = make_source("local", {"path": str(directory)}, timeout=5, tls=TLS)
    assert "owned by uid 65534" in str(raised(lambda: source.fetch({})))


def test_local_missing_directory_is_an_empty_document(tmp_path):
    source = make_source("local", {"path": str(tmp_path / "none")}, timeout=5, tls=TLS)
    assert source.fetch({}).content == b"{}"


def test_heat_local_reads_the_bootstrap_file(tmp_path):
    path = write(tmp_path / "cfn-init-data", DOC)
    source = make_source("heat_local", {"path": str(path)}, timeout=5, tls=TLS)
    first = source.fetch({})
    assert json.loads(first.content) == DOC
    assert source.fetch(first.validators).content is None


def test_heat_local_without_any_file_is_a_transient_error(tmp_path):
    source = make_source("heat_local", {"path": [str(tmp_path / "a"), str(tmp_path / "b")]}, timeout=5, tls=TLS)
    assert raised(lambda: source.fetch({})).transient


def test_heat_local_defaults_to_cfn_init_data():
    assert [str(p) for p in make_source("heat_local", None, timeout=5, tls=TLS).paths] == \
        ["/var/lib/heat-cfntools/cfn-init-data"]


def test_heat_local_invalid_json_is_a_clear_error(tmp_path):
    path = tmp_path / "cfn-init-data"
    path.write_text("{broken")
    assert "not valid JSON" in str(raised(lambda: make_source("heat_local", {"path": str(path)},
                                                              timeout=5, tls=TLS).fetch({})))


# ------------------------------------------------------------------ contract: loopback servers

@pytest.fixture
def cloud():
    from tests.loopback.cloud import Cloud

    with Cloud() as running:
        running.publish(DOC)
        yield running


def loopback_source(cloud, transport: str):
    section = cloud.os_collect_config(transport, null_others=True)
    kind = {"POLL_SERVER_CFN": "cfn", "POLL_SERVER_HEAT": "heat", "POLL_TEMP_URL": "request"}[transport]
    return make_source(kind, section[kind], timeout=10, tls=TLS)


@pytest.mark.parametrize("transport", ["POLL_SERVER_CFN", "POLL_SERVER_HEAT", "POLL_TEMP_URL"])
def test_loopback_every_transport_reads_the_published_metadata(cloud, transport):
    assert json.loads(loopback_source(cloud, transport).fetch({}).content) == DOC


def test_loopback_cfn_signature_is_accepted_and_a_wrong_secret_is_refused(cloud):
    section = dict(cloud.collect_section("POLL_SERVER_CFN"), secret_access_key="not-the-secret")
    error = raised(lambda: make_source("cfn", section, timeout=10, tls=TLS).fetch({}))
    assert "403" in str(error) and not error.transient
    unknown = dict(cloud.collect_section("POLL_SERVER_CFN"), path="nosuch.Metadata")
    assert "unknown stack" in str(raised(lambda: make_source("cfn", unknown, timeout=10, tls=TLS).fetch({})))


def test_loopback_cfn_empty_metadata_and_server_fault(cloud):
    cloud.publish({})
    source = loopback_source(cloud, "POLL_SERVER_CFN")
    assert source.fetch({}).content == b"{}"
    cloud.cfn.fail_next(503)
    assert raised(lambda: source.fetch({})).transient


def test_loopback_heat_reuses_the_token_and_recovers_from_revocation(cloud):
    source = loopback_source(cloud, "POLL_SERVER_HEAT")
    for _ in range(3):
        source.fetch({})
    assert len(cloud.keystone.requests_matching("POST", "/v3/auth/tokens")) == 1
    cloud.tokens.revoke_all()
    assert json.loads(source.fetch({}).content) == DOC
    assert len(cloud.keystone.requests_matching("POST", "/v3/auth/tokens")) == 2


def test_loopback_swift_answers_304_when_unchanged_and_200_after_a_publish(cloud):
    source = loopback_source(cloud, "POLL_TEMP_URL")
    first = source.fetch({})
    assert source.fetch(first.validators).content is None
    cloud.publish({"deployments": []})
    third = source.fetch(first.validators)
    assert json.loads(third.content) == {"deployments": []} and third.validators != first.validators


def test_loopback_expired_tempurl_is_refused_without_showing_the_signature(cloud):
    url = cloud.swift.temp_url("GET", cloud.project.id, "heat-metadata", cloud.server_resource, expires=1)
    signature = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["temp_url_sig"][0]
    error = raised(lambda: make_source("request", {"metadata_url": url}, timeout=10, tls=TLS).fetch({}))
    assert signature not in str(error) and not error.transient
