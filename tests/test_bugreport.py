"""The bug-report bundle's masking in process: inputs by name, keys by name, broken files as text."""
from __future__ import annotations

import pytest

from stoker import bugreport, redaction

pytestmark = pytest.mark.unit


def test_secret_named_inputs_and_keys_are_masked_and_the_rest_kept():
    item = {"id": "d1", "inputs": [{"name": "db_password", "value": "pw"},  # too short to be remembered
                                   {"name": "greeting", "value": "hello"},
                                   {"name": "deploy_signal_id", "value": "http://h/x?Signature=abc"}],
            "secret_access_key": "k", "options": {"api_token": "t", "port": 80}}
    masked = bugreport.mask_value(item)
    values = {i["name"]: i["value"] for i in masked["inputs"]}
    assert values == {"db_password": "***", "greeting": "hello", "deploy_signal_id": "***"}
    assert masked["secret_access_key"] == "***" and masked["options"] == {"api_token": "***", "port": 80}


def test_learned_secrets_are_masked_wherever_they_appear():
    redaction.remember("LearnedSecretValue42")
    assert bugreport.mask_text("the hook said LearnedSecretValue42 twice") == "the hook said *** twice"


@pytest.mark.parametrize("text, hidden", [
    ('{"key": "x", "deploy_password": "never-closed', "never-closed"),
    ("[heat]\npassword = hunter2hunter\nuser_id = u1\n", "hunter2hunter"),
    ("  secret_access_key: abcdefgh\n", "abcdefgh"),
    ("GET /v1/signal?Timestamp=1&Signature=sIgNaTuRe", "sIgNaTuRe"),
    ("PUT /v1/AUTH_p/c/o?temp_url_sig=deadbeef&temp_url_expires=1", "deadbeef"),
])
def test_files_that_do_not_parse_are_masked_as_text(text, hidden):
    masked = bugreport.mask_text(text)
    assert hidden not in masked and "***" in masked


def test_ini_masking_keeps_the_layout_and_the_ids():
    masked = bugreport.mask_ini("[heat]\n# comment\nuser_id = u1\npassword = pw12345\n")
    assert masked == "[heat]\n# comment\nuser_id = u1\npassword = ***\n"
