"""Fast checks of the harness's pure parts (no services needed)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse

import pytest

from . import configs, layout, transports
from .layout import Layout

pytestmark = pytest.mark.unit


def test_default_ports_are_the_usual_ones(tmp_path) -> None:
    lay = Layout(tmp_path)
    assert (lay.port("keystone"), lay.port("heat_api"), lay.port("heat_cfn"),
            lay.port("swift_proxy")) == (5000, 8004, 8000, 8080)


def test_base_port_moves_every_port(tmp_path) -> None:
    lay = Layout(tmp_path, base_port=20000)
    ports = [lay.port(n) for n in ("keystone", "heat_api", "heat_cfn", "swift_proxy",
                                   "swift_object", "swift_container", "swift_account",
                                   "compute", "zaqar")]
    assert ports == list(range(20000, 20000 + layout.PORT_COUNT))
    assert "127.0.0.1:20002" in configs.heat_conf(lay)
    assert "bind_port = 20007" in configs.compute_conf(lay)


def test_configs_point_only_into_the_harness_and_loopback(tmp_path) -> None:
    lay = Layout(tmp_path / "h", base_port=21000)
    text = (configs.heat_conf(lay) + configs.keystone_conf(lay) + configs.proxy_conf(lay)
            + configs.compute_conf(lay) + configs.zaqar_conf(lay))
    for line in text.splitlines():
        if "http" in line:
            assert "http://127.0.0.1:21" in line, line
        if "= /" in line:
            assert str(tmp_path) in line, line


def test_zaqar_keeps_its_redis_on_the_harness_socket_not_a_tcp_port(tmp_path) -> None:
    lay = Layout(tmp_path)
    redis = configs.redis_conf(lay)
    assert "port 0\n" in redis
    assert f"unixsocket {tmp_path}/run/redis.sock\n" in redis
    assert f"uri = redis://{tmp_path}/run/redis.sock?" in configs.zaqar_conf(lay)


def test_auth_encryption_key_is_32_characters() -> None:
    assert len(layout.AUTH_ENCRYPTION_KEY) == 32


def test_aws_v2_signature_matches_spec() -> None:
    url = transports.aws_v2_query("http://127.0.0.1:8000/v1/",
                                  {"Action": "DescribeStackResource", "StackName": "s t"},
                                  "AK", "SECRET")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    signature = query.pop("Signature")
    canonical = "&".join(f"{k}={urllib.parse.quote(v, safe='-_.~')}"
                         for k, v in sorted(query.items()))
    to_sign = f"GET\n127.0.0.1:8000\n/v1/\n{canonical}"
    expected = base64.b64encode(hmac.new(b"SECRET", to_sign.encode(),
                                         hashlib.sha256).digest()).decode()
    assert signature == expected
    assert "Timestamp" not in query


def test_v3_url_normalises_auth_urls() -> None:
    for url in ("http://h:5000", "http://h:5000/", "http://h:5000/v2.0",
                "http://h:5000/v3/"):
        assert transports.v3_url(url) == "http://h:5000/v3"
