"""AWS signature version 2 as heat-api-cfn checks it (docs/protocol.md, "cfn")."""
from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse

import pytest

from stoker import awssig
from tests.loopback import signing

pytestmark = pytest.mark.unit

PARAMS = {"Action": "DescribeStackResource", "StackName": "my stack~x", "LogicalResourceId": "server"}
# Computed outside Python: printf '<the string below>' | openssl dgst -sha256 -hmac 'secret/key+1' -binary | base64
KNOWN_STRING = ("GET\n127.0.0.1:8000\n/v1/\nAWSAccessKeyId=AKID%2Fexample&Action=DescribeStackResource"
                "&LogicalResourceId=server&SignatureMethod=HmacSHA256&SignatureVersion=2"
                "&StackName=my%20stack~x")
KNOWN_SIGNATURE = "W1LDbTy/PaZICnhmmReEV+e7h9p5VxFHwogHeik9IkQ="


def test_percent_encoding_leaves_only_unreserved_characters():
    assert awssig.percent_encode("aZ09-_.~") == "aZ09-_.~"
    assert awssig.percent_encode("a b/+=&*") == "a%20b%2F%2B%3D%26%2A"
    assert awssig.percent_encode("é") == "%C3%A9"


def test_canonical_query_sorts_by_byte_order_and_drops_signature():
    query = awssig.canonical_query({"b": "1", "B": "2", "a": "3", "Signature": "x"})
    assert query == "B=2&a=3&b=1"


def test_string_to_sign_keeps_the_port_as_the_url_has_it():
    assert awssig.string_to_sign("get", "http://h:8000/v1/", {"A": "1"}) == "GET\nh:8000\n/v1/\nA=1"
    assert awssig.string_to_sign("GET", "https://h/v1/", {}) == "GET\nh\n/v1/\n"
    assert awssig.string_to_sign("GET", "http://h", {}) == "GET\nh\n/\n"


def test_signed_params_match_a_vector_computed_by_openssl():
    signed = awssig.signed_params("GET", "http://127.0.0.1:8000/v1/", PARAMS, "AKID/example", "secret/key+1")
    assert awssig.string_to_sign("GET", "http://127.0.0.1:8000/v1/", signed) == KNOWN_STRING
    assert signed["Signature"] == KNOWN_SIGNATURE


def test_signature_is_base64_hmac_sha256_of_the_string():
    expected = base64.b64encode(hmac.new(b"k", b"text", hashlib.sha256).digest()).decode()
    assert awssig.signature("k", "text") == expected


def test_signed_url_is_accepted_by_the_loopback_verifier():
    url = awssig.signed_url("GET", "http://127.0.0.1:8000/v1/", PARAMS, "AK", "s3cr3t")
    split = urllib.parse.urlsplit(url)
    params = dict(urllib.parse.parse_qsl(split.query))
    assert "Timestamp" not in params
    assert params["SignatureVersion"] == "2" and params["SignatureMethod"] == "HmacSHA256"
    assert signing.v2_signature_matches("s3cr3t", "GET", split.netloc, split.path, params)
    assert not signing.v2_signature_matches("other", "GET", split.netloc, split.path, params)


def test_signed_url_signs_parameters_already_in_the_url():
    url = awssig.signed_url("GET", "http://127.0.0.1:8000/v1/?ContentType=JSON", PARAMS, "AK", "s")
    split = urllib.parse.urlsplit(url)
    params = dict(urllib.parse.parse_qsl(split.query))
    assert params["ContentType"] == "JSON"
    assert signing.v2_signature_matches("s", "GET", split.netloc, split.path, params)
