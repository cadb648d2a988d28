"""Contract tests of hooks/json-file: values written as JSON at absolute paths, all or nothing."""
from __future__ import annotations

import json
import os

import pytest

from tests.fakes.hookrunner import assert_fails_saying, make_item, mode_of, run_hook

pytestmark = pytest.mark.contract


def write(config) -> dict:
    """Run the json-file hook with ``config`` (target path -> value); its payload."""
    return run_hook("json-file", make_item("json-file", config, {}), {})


def test_each_value_is_written_as_json_to_its_path(tmp_path):
    listing, mapping = tmp_path / "foo", tmp_path / "deep" / "er" / "bar.json"
    payload = write({str(listing): ["bar", "bar2"], str(mapping): {"debug": True, "port": 8080, "none": None}})
    assert payload["deploy_status_code"] == 0, payload
    assert json.loads(listing.read_text()) == ["bar", "bar2"]
    assert json.loads(mapping.read_text()) == {"debug": True, "port": 8080, "none": None}
    assert payload["deploy_stdout"] == ""
    assert listing.read_text() == '[\n    "bar",\n    "bar2"\n]'  # upstream's layout, byte for byte


def test_new_files_are_readable_config_and_existing_files_keep_their_mode(tmp_path):
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    old.write_text("stale, longer than what replaces it")
    old.chmod(0o600)
    payload = write({str(new): 1, str(old): 2})
    assert payload["deploy_status_code"] == 0, payload
    assert (mode_of(new), mode_of(old)) == (0o644, 0o600)
    assert json.loads(old.read_text()) == 2  # replaced whole: no stale bytes


def test_config_may_be_a_json_string(tmp_path):
    target = tmp_path / "from-string"
    assert write(json.dumps({str(target): {"a": 1}}))["deploy_status_code"] == 0
    assert json.loads(target.read_text()) == {"a": 1}


def test_a_relative_path_fails_and_nothing_is_written(tmp_path):
    good = tmp_path / "good"
    payload = write({str(good): 1, "relative/path": 2})
    assert_fails_saying(payload, "'relative/path' is not an absolute path")
    assert not good.exists()


def test_a_directory_as_target_fails_naming_it(tmp_path):
    payload = write({str(tmp_path): 1})
    assert payload["deploy_status_code"] == 1 and f"{tmp_path} is a directory" in payload["deploy_stderr"]


def test_an_empty_or_non_object_config_is_a_clear_failure():
    for config in ({}, [], "not json", ""):
        payload = write(config)
        assert payload["deploy_status_code"] == 1, config
        assert "json-file config must be a JSON object" in payload["deploy_stderr"], payload


def test_an_unwritable_target_is_a_failure_with_the_reason_on_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    payload = write({str(blocker / "under-a-file.json"): 1})
    assert payload["deploy_status_code"] == 1
    assert payload["deploy_stderr"] == (f"stoker: hook json-file failed: cannot create directory {blocker}: "
                                        "it exists and is not a directory\n")
    assert os.path.isfile(blocker)
