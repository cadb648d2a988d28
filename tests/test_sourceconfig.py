"""How the agent learns where to poll (docs/protocol.md, "Where to poll"): precedence, null leftovers, persistence."""
import json
from pathlib import Path

import pytest

from stoker import config, sourceconfig

pytestmark = pytest.mark.unit

CFN = {"metadata_url": "http://127.0.0.1:8000/v1/", "access_key_id": "AK", "secret_access_key": "SK",
       "stack_name": "st", "path": "server.Metadata"}
NULL_CFN = {key: None for key in CFN}
REQUEST = {"metadata_url": "http://127.0.0.1:8080/v1/AUTH_a/c/o?temp_url_sig=abc&temp_url_expires=9"}


def settings_in(tmp_path: Path, **extra) -> config.Settings:
    return config.Settings(state_dir=tmp_path / "state", cfn_init_data=tmp_path / "cfn-init-data",
                           os_collect_config=tmp_path / "occ.conf",
                           cfn_metadata_server=tmp_path / "cfn-metadata-server", **extra)


def test_choose_skips_a_transport_section_left_behind_with_null_values():
    chosen = sourceconfig.choose({"collectors": ["cfn", "request", "local"], "cfn": NULL_CFN,
                               "request": REQUEST}, "test")
    assert chosen is not None and chosen.kind == "request"


def test_choose_returns_none_when_every_section_is_incomplete():
    assert sourceconfig.choose({"collectors": ["cfn"], "cfn": NULL_CFN}, "test") is None


def test_choose_follows_heats_collector_order():
    chosen = sourceconfig.choose({"collectors": ["cfn", "request"], "cfn": CFN, "request": REQUEST}, "t")
    assert chosen.kind == "cfn"


def test_choose_reads_polling_hints_written_by_heat():
    chosen = sourceconfig.choose({"request": REQUEST, "polling_interval": "5", "splay": 2}, "t")
    assert (chosen.polling_interval, chosen.splay) == (5.0, 2.0)


def test_cfn_metadata_server_file_supplies_a_missing_cfn_url(tmp_path):
    (tmp_path / "server").write_text("http://127.0.0.1:8000\n")
    section = dict(CFN, metadata_url=None)
    chosen = sourceconfig.choose({"cfn": section}, "t", tmp_path / "server")
    assert chosen.settings["metadata_url"] == "http://127.0.0.1:8000/v1/"


def test_first_boot_bootstraps_from_cfn_init_data(tmp_path):
    settings = settings_in(tmp_path)
    settings.cfn_init_data.write_text(json.dumps({"os-collect-config": {"collectors": ["cfn"], "cfn": CFN}}))
    chosen = sourceconfig.initial(settings)
    assert chosen.kind == "cfn" and chosen.origin == str(settings.cfn_init_data)


def test_learned_settings_win_over_the_bootstrap_file_after_a_restart(tmp_path):
    settings = settings_in(tmp_path)
    settings.cfn_init_data.write_text(json.dumps({"os-collect-config": {"cfn": CFN}}))
    sourceconfig.remember(settings, {"collectors": ["cfn", "request"], "cfn": NULL_CFN, "request": REQUEST})
    assert sourceconfig.initial(settings).kind == "request"


def test_upstream_os_collect_config_conf_is_read_for_classic_images(tmp_path):
    settings = settings_in(tmp_path)
    settings.os_collect_config.write_text(
        "[DEFAULT]\ncollectors =\n    request\n\n[request]\nmetadata_url = %s\n" % REQUEST["metadata_url"])
    chosen = sourceconfig.initial(settings)
    assert chosen.kind == "request" and chosen.settings["metadata_url"] == REQUEST["metadata_url"]


def test_no_transport_anywhere_gives_none(tmp_path):
    assert sourceconfig.initial(settings_in(tmp_path)) is None


def test_choosing_remembers_secrets_for_redaction():
    from stoker import redaction

    sourceconfig.choose({"cfn": dict(CFN, secret_access_key="very-secret-key-123")}, "t")
    assert "very-secret-key-123" not in redaction.redact("key is very-secret-key-123")


def test_heats_bare_local_collector_is_not_chosen_without_a_section():
    assert sourceconfig.choose({"collectors": ["local"]}, "t") is None


def test_a_local_section_written_in_the_config_file_is_chosen(tmp_path):
    settings = settings_in(tmp_path, transports={"local": {"path": str(tmp_path / "data")}},
                           collectors=("local",))
    chosen = sourceconfig.initial(settings)
    assert chosen.kind == "local" and chosen.settings["path"] == str(tmp_path / "data")
