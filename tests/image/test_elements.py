"""Fast checks of the elements themselves, without building an image.

A build costs minutes; a wrong option should cost seconds. These run the elements'
host-side scripts (extra-data.d) with the variables a builder would set, render the
classic chain's os-apply-config templates, and hold the scripts to diskimage-builder's
conventions. They need neither root nor diskimage-builder, so they run in every tier.
"""
from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.contract

REPO = Path(__file__).resolve().parents[2]
ELEMENTS = REPO / "elements"
HOOK_DIRS = ("root.d", "extra-data.d", "pre-install.d", "install.d", "post-install.d",
             "finalise.d", "cleanup.d", "block-device.d")
CLASSIC = ELEMENTS / "heat-config" / "heat-config-lib" / "classic"


def element_scripts() -> list[Path]:
    scripts = [p for d in HOOK_DIRS for p in ELEMENTS.glob(f"*/{d}/*")]
    scripts += [ELEMENTS / "heat-config" / "heat-config-lib" / "install-hook"]
    return sorted(scripts)


def run_script(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run an element script as diskimage-builder would: environment.d values plus the builder's."""
    base = {"PATH": os.environ["PATH"], "DIB_HEAT_CONFIG_AGENT": "stoker", "DIB_STOKER_VENV": "/opt/stoker",
            "DIB_STOKER_PIP_SPEC": "stoker", "DIB_STOKER_PIP_ARGS": "", "DIB_STOKER_WHEELHOUSE": "",
            "DIB_STOKER_CONF": "", "DIB_HEAT_CONFIG_CHEF_PACKAGE": "", "DIB_HEAT_CONFIG_CHEF_INSTALL": ""}
    return subprocess.run([str(script)], env={**base, **env}, capture_output=True, text=True, timeout=60)


def test_every_element_has_a_readme_and_known_dependencies():
    ours = {p.name for p in ELEMENTS.iterdir() if p.is_dir()}
    assert {"heat-config", "heat-config-script", "heat-config-puppet", "heat-config-chef"} <= ours
    # Elements diskimage-builder itself provides, that ours depend on.
    from_dib = {"package-installs", "pkg-map"}
    for element in ours:
        assert (ELEMENTS / element / "README.rst").is_file(), element
        deps = (ELEMENTS / element / "element-deps")
        for dep in deps.read_text().split() if deps.exists() else []:
            assert dep in ours | from_dib, f"{element} depends on unknown element {dep}"


@pytest.mark.parametrize("script", element_scripts(), ids=lambda p: str(p.relative_to(ELEMENTS)))
def test_scripts_follow_diskimage_builder_conventions(script):
    text = script.read_text()
    assert os.access(script, os.X_OK), "not executable: dib-run-parts would skip it"
    assert text.startswith("#!/bin/bash\n")
    assert "set -eu\n" in text and "set -o pipefail\n" in text
    assert '"${DIB_DEBUG_TRACE:-0}" -gt 0' in text, "no set -x under DIB_DEBUG_TRACE"
    assert re.fullmatch(r"(\d\d-[a-z0-9-]+|install-hook)", script.name), "dib-run-parts names are NN-name"
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_nothing_machine_specific_is_written_into_the_elements_or_tests():
    """Mirrors and this machine's paths are read at run time, never committed."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    uris = re.findall(r"^URIs:\s*(\S+)", sources.read_text(), re.M) if sources.exists() else []
    hosts = {re.sub(r"^\w+://([^/:]+).*", r"\1", uri) for uri in uris}
    for top in (ELEMENTS, REPO / "tests" / "image", REPO / "tests" / "setup.d"):
        for path in (p for p in top.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            text = path.read_text(errors="replace")
            for host in hosts:
                assert host not in text, f"{path} names the mirror host {host}"
            assert str(REPO) not in text, f"{path} names this checkout's absolute path"


def test_package_installs_conditions_name_variables_environment_d_defaults():
    """package-installs raises on a ``when:`` variable that is unset, so each needs a default."""
    defaults = "".join(p.read_text() for p in ELEMENTS.glob("*/environment.d/*"))
    for spec in ELEMENTS.glob("*/package-installs.yaml"):
        for variable in re.findall(r"when:\s*([A-Z_][A-Z0-9_]*)", spec.read_text()):
            assert f"export {variable}=" in defaults, f"{spec}: {variable} has no default"


# ------------------------------------------------------------- heat-config extra-data.d

HEAT_CONFIG_EXTRA = ELEMENTS / "heat-config" / "extra-data.d" / "50-heat-config"


def test_unknown_agent_mode_fails_the_build_at_once(tmp_path):
    result = run_script(HEAT_CONFIG_EXTRA, {"TMP_HOOKS_PATH": str(tmp_path), "DIB_HEAT_CONFIG_AGENT": "oscc"})
    assert result.returncode != 0
    assert "DIB_HEAT_CONFIG_AGENT must be 'stoker' or 'classic'" in result.stderr


def test_wheelhouse_without_a_stoker_wheel_fails_and_says_how_to_make_one(tmp_path):
    (tmp_path / "wh").mkdir()
    result = run_script(HEAT_CONFIG_EXTRA, {"TMP_HOOKS_PATH": str(tmp_path / "hooks"),
                                            "DIB_STOKER_WHEELHOUSE": str(tmp_path / "wh")})
    assert result.returncode != 0
    assert "holds no stoker-*.whl" in result.stderr and "pip wheel --no-deps" in result.stderr


def test_wheelhouse_and_config_are_copied_for_the_chroot(tmp_path):
    (tmp_path / "wh").mkdir()
    (tmp_path / "wh" / "stoker-0.1.0-py3-none-any.whl").write_bytes(b"PK")
    (tmp_path / "my.conf").write_text("[DEFAULT]\npolling_interval = 10\n")
    result = run_script(HEAT_CONFIG_EXTRA, {"TMP_HOOKS_PATH": str(tmp_path / "hooks"),
                                            "DIB_STOKER_WHEELHOUSE": str(tmp_path / "wh"),
                                            "DIB_STOKER_CONF": str(tmp_path / "my.conf")})
    assert result.returncode == 0, result.stderr
    copied = tmp_path / "hooks" / "heat-config-host"
    assert (copied / "wheelhouse" / "stoker-0.1.0-py3-none-any.whl").read_bytes() == b"PK"
    assert "polling_interval = 10" in (copied / "stoker.conf").read_text()


# ------------------------------------------------------------- heat-config-chef extra-data.d

CHEF_EXTRA = ELEMENTS / "heat-config-chef" / "extra-data.d" / "50-heat-config-chef"


def test_chef_element_refuses_to_build_without_being_told_where_chef_comes_from(tmp_path):
    result = run_script(CHEF_EXTRA, {"TMP_HOOKS_PATH": str(tmp_path)})
    assert result.returncode != 0
    assert "nothing says how to install chef-solo" in result.stderr
    assert "DIB_HEAT_CONFIG_CHEF_PACKAGE" in result.stderr and "DIB_HEAT_CONFIG_CHEF_INSTALL" in result.stderr


def test_chef_package_that_is_not_there_fails_clearly(tmp_path):
    missing = tmp_path / "cinc_18.0.0_amd64.deb"
    result = run_script(CHEF_EXTRA, {"TMP_HOOKS_PATH": str(tmp_path), "DIB_HEAT_CONFIG_CHEF_PACKAGE": str(missing)})
    assert result.returncode != 0
    assert f"DIB_HEAT_CONFIG_CHEF_PACKAGE={missing}: no such file on the build host" in result.stderr


def test_chef_package_must_be_a_package(tmp_path):
    tarball = tmp_path / "chef.tar.gz"
    tarball.write_bytes(b"x")
    result = run_script(CHEF_EXTRA, {"TMP_HOOKS_PATH": str(tmp_path), "DIB_HEAT_CONFIG_CHEF_PACKAGE": str(tarball)})
    assert result.returncode != 0 and "neither a .deb nor a .rpm" in result.stderr


def test_chef_package_is_copied_and_none_means_hook_only(tmp_path):
    deb = tmp_path / "cinc_18.0.0_amd64.deb"
    deb.write_bytes(b"!<arch>\n")
    result = run_script(CHEF_EXTRA, {"TMP_HOOKS_PATH": str(tmp_path / "h"), "DIB_HEAT_CONFIG_CHEF_PACKAGE": str(deb)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "h" / "heat-config-chef-host" / deb.name).read_bytes() == b"!<arch>\n"
    result = run_script(CHEF_EXTRA, {"TMP_HOOKS_PATH": str(tmp_path / "n"), "DIB_HEAT_CONFIG_CHEF_PACKAGE": "none"})
    assert result.returncode == 0, result.stderr
    both = run_script(CHEF_EXTRA, {"TMP_HOOKS_PATH": str(tmp_path / "b"), "DIB_HEAT_CONFIG_CHEF_PACKAGE": str(deb),
                                   "DIB_HEAT_CONFIG_CHEF_INSTALL": "true"})
    assert both.returncode != 0 and "not both" in both.stderr


# ------------------------------------------------------------- heat-config-salt extra-data.d

SALT_EXTRA = ELEMENTS / "heat-config-salt" / "extra-data.d" / "50-heat-config-salt"


def test_salt_element_without_a_wheelhouse_copies_nothing_and_installs_from_the_index(tmp_path):
    result = run_script(SALT_EXTRA, {"TMP_HOOKS_PATH": str(tmp_path), "DIB_HEAT_CONFIG_SALT_WHEELHOUSE": ""})
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "heat-config-salt-wheelhouse").exists()


def test_salt_wheelhouse_that_is_missing_or_has_no_salt_wheel_fails_and_says_how_to_make_one(tmp_path):
    missing = run_script(SALT_EXTRA, {"TMP_HOOKS_PATH": str(tmp_path),
                                      "DIB_HEAT_CONFIG_SALT_WHEELHOUSE": str(tmp_path / "nope")})
    assert missing.returncode != 0 and "no such directory on the build host" in missing.stderr
    (tmp_path / "wh").mkdir()
    (tmp_path / "wh" / "PyYAML-6.0-cp311-cp311-linux_x86_64.whl").write_bytes(b"PK")
    empty = run_script(SALT_EXTRA, {"TMP_HOOKS_PATH": str(tmp_path), "DIB_HEAT_CONFIG_SALT_WHEELHOUSE": str(tmp_path / "wh")})
    assert empty.returncode != 0 and "holds no salt wheel" in empty.stderr and "pip wheel -w" in empty.stderr


def test_salt_wheelhouse_is_copied_for_the_chroot(tmp_path):
    (tmp_path / "wh").mkdir()
    for name in ("salt-3008.4-py3-none-any.whl", "PyYAML-6.0-cp311-cp311-linux_x86_64.whl"):
        (tmp_path / "wh" / name).write_bytes(b"PK")
    result = run_script(SALT_EXTRA, {"TMP_HOOKS_PATH": str(tmp_path / "h"),
                                     "DIB_HEAT_CONFIG_SALT_WHEELHOUSE": str(tmp_path / "wh")})
    assert result.returncode == 0, result.stderr
    copied = sorted(p.name for p in (tmp_path / "h" / "heat-config-salt-wheelhouse").iterdir())
    assert copied == ["PyYAML-6.0-cp311-cp311-linux_x86_64.whl", "salt-3008.4-py3-none-any.whl"]


# ------------------------------------------------------------- the classic chain's templates

def render(template: str, document: dict) -> str:
    """Run an executable os-apply-config template the way os-apply-config does (JSON on stdin)."""
    result = subprocess.run([str(CLASSIC / "templates" / template)], input=json.dumps(document),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_collector_config_follows_heats_transport_and_drops_null_sections():
    document = {"os-collect-config": {
        "collectors": ["ec2", "cfn", "local"], "polling_interval": 10,
        "cfn": {"metadata_url": "http://127.0.0.1:8000/v1/", "access_key_id": "AK", "secret_access_key": "SK",
                "stack_name": "st", "path": "server.Metadata"},
        "heat": {"auth_url": None, "user_id": None, "password": None, "project_id": None},
        "request": {"metadata_url": None}}}
    text = render("os-collect-config.conf", document)
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(text)
    assert parser["DEFAULT"]["command"] == "os-refresh-config"
    assert parser["DEFAULT"]["polling_interval"] == "10"
    assert re.findall(r"^collectors = (\S+)$", text, re.M) == ["ec2", "cfn", "local"]
    assert parser["cfn"]["metadata_url"] == "http://127.0.0.1:8000/v1/"
    assert parser["cfn"]["secret_access_key"] == "SK" and parser["cfn"]["path"] == "server.Metadata"
    assert not parser.has_section("heat") and not parser.has_section("request")
    assert "None" not in text


def test_collector_config_without_heats_key_keeps_reading_the_bootstrap():
    text = render("os-collect-config.conf", {"deployments": []})
    assert re.findall(r"^collectors = (\S+)$", text, re.M) == ["heat_local"]


def test_heat_config_file_is_the_deployment_list_and_private():
    items = [{"id": "a", "group": "script"}, {"id": "b", "group": "puppet"}]
    assert json.loads(render("heat-config", {"deployments": items, "os-collect-config": {}})) == items
    assert json.loads(render("heat-config", {})) == []
    assert (CLASSIC / "templates" / "heat-config.oac").read_text().strip() == "mode: 0600"
    assert (CLASSIC / "templates" / "os-collect-config.conf.oac").read_text().strip() == "mode: 0600"


# ------------------------------------------------------------------ metrics_file (install.d/63-stoker-metrics)

METRICS_SCRIPT = ELEMENTS / "heat-config" / "install.d" / "63-stoker-metrics"


def _configure_metrics(tmp_path: Path, conf_text: str, setting: str | None, collector_exists: bool):
    conf, collector = tmp_path / "stoker.conf", tmp_path / "node-exporter"
    conf.write_text(conf_text)
    if collector_exists:
        collector.mkdir()
    env = {"STOKER_CONF": str(conf), "STOKER_COLLECTOR_DIR": str(collector)}
    if setting is not None:
        env["DIB_STOKER_METRICS_FILE"] = setting
    result = run_script(METRICS_SCRIPT, env)
    from stoker import config
    return result, config.load(str(conf), env={}), collector


@pytest.mark.parametrize("conf_text", ["[DEFAULT]\n", "[DEFAULT]\nmetrics_file =\nstate_dir = /var/lib/stoker\n",
                                       "# no DEFAULT section\n[cfn]\nstack_name = s\n"])
def test_metrics_go_to_node_exporters_directory_when_the_image_has_it(tmp_path, conf_text):
    result, settings, collector = _configure_metrics(tmp_path, conf_text, None, collector_exists=True)
    assert result.returncode == 0, result.stderr
    assert settings.metrics_file == collector / "stoker.prom"


def test_no_metrics_without_node_exporter_or_when_turned_off(tmp_path):
    result, settings, _ = _configure_metrics(tmp_path, "[DEFAULT]\n", None, collector_exists=False)
    assert result.returncode == 0 and settings.metrics_file is None
    (tmp_path / "off").mkdir()
    result, settings, _ = _configure_metrics(tmp_path / "off", "[DEFAULT]\n", "off", collector_exists=True)
    assert result.returncode == 0 and settings.metrics_file is None


def test_a_metrics_file_the_builder_set_wins_and_a_path_is_always_set(tmp_path):
    _, settings, _ = _configure_metrics(tmp_path, "[DEFAULT]\nmetrics_file = /srv/m.prom\n", None, True)
    assert settings.metrics_file == Path("/srv/m.prom")
    (tmp_path / "b").mkdir()
    _, settings, _ = _configure_metrics(tmp_path / "b", "[DEFAULT]\n", "/run/stoker.prom", False)
    assert settings.metrics_file == Path("/run/stoker.prom")
    (tmp_path / "c").mkdir()
    result, _, _ = _configure_metrics(tmp_path / "c", "[DEFAULT]\n", "relative.prom", False)
    assert result.returncode != 0 and "absolute path" in result.stderr
