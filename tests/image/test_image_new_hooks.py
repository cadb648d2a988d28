"""The hiera, apply-config and salt hooks inside the built image, with the tools their elements installed.

Each runs under the image's system python, chrooted into the pristine tree, and writes
only under the image's /tmp (as the json-file probe does): hiera's files read back by the
image's puppet, a template rendered by the image's os-apply-config (Debian's), a state
applied by the salt-call the heat-config-salt element installed from the wheelhouse.
"""
from __future__ import annotations

import json

import pytest

from .conftest import hook_elements

pytestmark = pytest.mark.image

HOOKS_DIR = "/usr/libexec/heat-config/hooks"


def run_hook(tree, group: str, config, env: dict[str, str], inputs: dict | None = None,
             outputs: list[str] | None = None) -> dict:
    item = {"id": f"7e0c5a1d-{group}", "name": f"probe_{group.replace('-', '_')}", "group": group,
            "config": config, "options": None,
            "inputs": [{"name": k, "value": v, "type": "String"} for k, v in (inputs or {}).items()],
            "outputs": [{"name": name} for name in outputs or []]}
    result = tree.run([f"{HOOKS_DIR}/{group}"], input=json.dumps(item), env=env, check=True)
    payload = json.loads(result.stdout)
    assert payload["deploy_status_code"] == 0, payload
    return payload


def needs(element: str):
    return pytest.mark.skipif(element not in hook_elements(), reason=f"no {element} element")


@needs("heat-config-hiera")
def test_hiera_data_written_by_the_hook_is_looked_up_by_the_images_puppet(pristine_tree):
    env = {"HEAT_HIERA_CONFIG": "/tmp/hiera-probe/hiera.yaml", "HEAT_PUPPET_HIERA_DATADIR": "/tmp/hiera-probe/data"}
    run_hook(pristine_tree, "hiera", {"hierarchy": ["common"], "datafiles": {"common": {"probe::word": "found"}}}, env)
    result = pristine_tree.run(["puppet", "apply", "--color", "false", "--hiera_config", env["HEAT_HIERA_CONFIG"],
                                "-e", "notice(\"hiera says ${lookup('probe::word')}\")"], check=True)
    assert "hiera says found" in result.stdout
    assert (pristine_tree / "/etc/puppet").is_dir()


@needs("heat-config-apply-config")
def test_apply_config_renders_a_template_with_the_images_os_apply_config(pristine_tree):
    template = pristine_tree / "/tmp/oac-probe/templates/tmp/oac-probe/out/app.conf"
    template.parent.mkdir(parents=True)
    template.write_text("port={{app.port}}\n")
    env = {"OS_CONFIG_APPLIER_TEMPLATES": "/tmp/oac-probe/templates", "HEAT_APPLY_CONFIG_WORKING": "/tmp/oac-probe/w"}
    run_hook(pristine_tree, "apply-config", {"app": {"port": 8443}}, env)
    assert (pristine_tree / "/tmp/oac-probe/out/app.conf").read_text() == "port=8443\n"
    assert (pristine_tree / "/usr/libexec/os-apply-config/templates").is_dir()


@needs("heat-config-salt")
def test_salt_applies_a_state_with_the_salt_call_the_element_installed(pristine_tree):
    minion = pristine_tree / "/tmp/salt-probe/conf/minion"
    minion.parent.mkdir(parents=True)
    minion.write_text("root_dir: /tmp/salt-probe/root\n")
    env = {"SALT_MINION_CONFIG": "/tmp/salt-probe/conf/minion", "HEAT_SALT_WORKING": "/tmp/salt-probe/w",
           "HEAT_SALT_OUTPUTS": "/tmp/salt-probe/o"}
    state = ("probe:\n  file.managed:\n    - name: /tmp/salt-probe/out.txt\n"
             "    - contents: \"salt says {{ pillar['word'] }}\"\n"
             "result:\n  file.managed:\n    - name: \"{{ pillar['heat_outputs_path'] }}.result\"\n"
             "    - contents: done\n")
    with pristine_tree.mounted():  # salt reads /proc (its grains), as on a booted server
        payload = run_hook(pristine_tree, "salt", state, env, inputs={"word": "hello"}, outputs=["result"])
    assert (pristine_tree / "/tmp/salt-probe/out.txt").read_text().rstrip("\n") == "salt says hello"
    assert payload["result"].rstrip("\n") == "done"
    assert (pristine_tree / "/usr/local/bin/salt-call").is_symlink()
