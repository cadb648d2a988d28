"""The config file: [DEFAULT] keys, transport sections, hook environment, errors that name the key."""
import pytest

from stoker import config

pytestmark = pytest.mark.unit


def write(tmp_path, text):
    path = tmp_path / "stoker.conf"
    path.write_text(text)
    return str(path)


def test_transport_sections_hold_only_their_own_keys(tmp_path):
    path = write(tmp_path, "[DEFAULT]\nstate_dir = /tmp/s\npolling_interval = 7\n\n"
                           "[request]\nmetadata_url = http://127.0.0.1:1/o\n")
    settings = config.load(path, env={})
    assert settings.transports == {"request": {"metadata_url": "http://127.0.0.1:1/o"}}
    assert settings.polling_interval == 7.0


def test_hook_environment_keeps_the_case_of_variable_names(tmp_path):
    path = write(tmp_path, "[DEFAULT]\nsplay = 1\n[hook_environment]\nHEAT_PUPPET_CMD = /opt/puppet\n")
    assert config.load(path, env={}).hook_environment == {"HEAT_PUPPET_CMD": "/opt/puppet"}


def test_upstream_env_vars_override_the_file_and_hooks_dirs_come_first(tmp_path):
    path = write(tmp_path, "[DEFAULT]\ndeployed_dir = /from/file\nhooks_dir = /a:/b\n")
    settings = config.load(path, env={"HEAT_CONFIG_DEPLOYED": "/from/env", "HEAT_CONFIG_HOOKS": "/first"})
    assert str(settings.deployed_dir) == "/from/env"
    assert [str(p) for p in settings.hooks_dirs] == ["/first", "/a", "/b"]


@pytest.mark.parametrize("text, words", [
    ("[DEFAULT]\nhook_timeout = soon\n", "hook_timeout must be a number"),
    ("[DEFAULT]\nno_such_key = 1\n", "unknown key 'no_such_key'"),
    ("[DEFAULT]\n[nonsense]\nx = 1\n", "unknown section(s) nonsense"),
])
def test_bad_config_files_are_refused_with_the_key_named(tmp_path, text, words):
    with pytest.raises(config.ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        config.load(write(tmp_path, text), env={})


def test_a_named_config_file_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.load(str(tmp_path / "missing.conf"), env={})


def test_a_relative_state_or_deployed_directory_is_made_absolute(tmp_path, monkeypatch):
    """Hooks run from "/", so a relative ``--state-dir state`` would point them at /state."""
    monkeypatch.chdir(tmp_path)
    settings = config.load(write(tmp_path, "[DEFAULT]\ndeployed_dir = deployed\n"), env={},
                           overrides={"state_dir": "state"})
    assert settings.state_dir == tmp_path / "state" and settings.deployed_dir == tmp_path / "deployed"
