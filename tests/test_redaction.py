"""redaction: signatures, tokens, passwords and remembered secret inputs masked in everything stoker prints."""
from __future__ import annotations

import pytest

from stoker import redaction

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("text, secret", [
    ("POST http://h:8000/v1/signal/arn?Timestamp=1&AWSAccessKeyId=AKID123&Signature=c2ln%3D", "c2ln%3D"),
    ("POST http://h:8000/v1/signal/arn?Timestamp=1&AWSAccessKeyId=AKID123&Signature=c2ln%3D", "AKID123"),
    ("PUT https://swift/v1/AUTH_a/c/o?temp_url_sig=deadbeef99&temp_url_expires=1", "deadbeef99"),
    ("GET https://swift/v1/AUTH_a/c/o?TEMP_URL_SIG=cafebabe77", "cafebabe77"),
    ('{"deploy_password": "pw-in-json", "x": 1}', "pw-in-json"),
    ('{"secret_access_key": "sak-value"}', "sak-value"),
    ('{"auth": {"token": "tok-value"}}', "tok-value"),
    ("X-Auth-Token: gAAAAAtokenvalue", "gAAAAAtokenvalue"),
])
def test_redact_masks_signed_parameters_and_secret_fields(text, secret):
    cleaned = redaction.redact(text)
    assert secret not in cleaned and redaction.MASK in cleaned, cleaned


def test_redact_keeps_what_is_not_secret():
    text = "GET http://h:8000/v1/?Action=DescribeStackResource&StackName=teststack&SignatureVersion=2"
    assert redaction.redact(text) == text
    assert redaction.redact('{"name": "deploy_action", "value": "CREATE"}') == \
        '{"name": "deploy_action", "value": "CREATE"}'


def test_redact_masks_remembered_secrets_wherever_they_appear():
    redaction.remember_secret_fields([{"name": "db_password", "value": "Remembered-Unit-Pw"},
                                      {"name": "deploy_signal_id", "value": "http://x/?a=RememberedUrl"},
                                      {"name": "harmless", "value": "not-a-secret-value"}])
    text = "echo Remembered-Unit-Pw; curl http://x/?a=RememberedUrl; echo not-a-secret-value"
    cleaned = redaction.redact(text)
    assert "Remembered-Unit-Pw" not in cleaned and "RememberedUrl" not in cleaned
    assert "not-a-secret-value" in cleaned


def test_redact_value_masks_secret_named_keys_in_structures():
    value = {"deploy_password": "p1", "nested": [{"api_token": "t1", "name": "ok"}],
             "url": "http://h/?Signature=s1", "count": 3}
    assert redaction.redact_value(value) == {"deploy_password": "***", "nested": [{"api_token": "***", "name": "ok"}],
                                             "url": "http://h/?Signature=***", "count": 3}


def test_redact_url_masks_user_info():
    assert redaction.redact_url("https://user:pw@host/path?sig=abc") == "https://***@host/path?sig=***"
