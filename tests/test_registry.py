"""The one table of metadata transports (agent/stoker/sources/registry.py) and those who read it.

Each source module declares its own kind, required keys and whether it is a
local source; the registry repeats them as plain data so that reading it
imports no source module. These tests keep the two in step and check that
config, transport and make_source all follow the table.
"""
from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from stoker import config, httpclient, keystone, sourceconfig
from stoker.sources import SourceError, make_source, registry

pytestmark = pytest.mark.unit

TLS = httpclient.TLSOptions()


@pytest.mark.parametrize("entry", registry.ENTRIES, ids=lambda entry: entry.kind)
def test_each_source_class_declares_what_its_registry_line_says(entry):
    module = importlib.import_module(f"stoker.sources.{entry.module}")
    factory = getattr(module, entry.factory)
    assert (factory.kind, tuple(factory.required), factory.local) == (entry.kind, entry.required, entry.local)


def test_the_registry_and_keystone_agree_on_the_login_keys():
    assert registry.CREDENTIALS == keystone.CREDENTIALS


def test_reading_the_registry_imports_no_source_module():
    """The idle agent loads only the module of the transport it polls (docs/architecture.md, "Modules")."""
    code = ("import sys, stoker.config, stoker.sourceconfig, stoker.sources\n"
            "print(','.join(sorted(m for m in sys.modules if m.startswith('stoker.sources.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "stoker.sources.registry"


def test_config_accepts_a_section_for_every_registered_kind_and_no_other(tmp_path):
    text = "".join(f"[{kind}]\nsome_key = 1\n" for kind in registry.KINDS)
    path = tmp_path / "stoker.conf"
    path.write_text(text)
    assert set(config.load(str(path), env={}).transports) == set(registry.KINDS)
    path.write_text(text + "[ec2]\nx = 1\n")
    with pytest.raises(config.ConfigError, match="unknown section"):
        config.load(str(path), env={})


@pytest.mark.parametrize("entry", [e for e in registry.ENTRIES if e.required], ids=lambda e: e.kind)
def test_a_section_missing_any_required_key_is_not_chosen(entry):
    complete = {key: f"value-of-{key}" for key in entry.required}
    assert sourceconfig.choose({"collectors": [entry.kind], entry.kind: complete}, "t").kind == entry.kind
    for key in entry.required:
        section = dict(complete, **{key: None})
        assert sourceconfig.choose({"collectors": [entry.kind], entry.kind: section}, "t") is None, key


def test_without_collectors_the_default_ones_are_tried_in_registry_order():
    sections = {kind: {key: "x" for key in registry.BY_KIND[kind].required} for kind in registry.KINDS}
    assert sourceconfig.choose(sections, "t").kind == registry.DEFAULT_COLLECTORS[0]
    assert sourceconfig.choose({"heat_local": {}}, "t") is None, "heat_local is never a default collector"


def test_make_source_knows_every_kind_and_alias_and_names_them_for_an_unknown_one(tmp_path):
    assert make_source("local", {"path": str(tmp_path)}, timeout=5, tls=TLS).kind == "local"
    for alias, kind in registry.ALIASES.items():
        assert registry.entry(alias) is registry.BY_KIND[kind]
    with pytest.raises(SourceError) as raised:
        make_source("ec2", {}, timeout=5, tls=TLS)
    assert all(kind in str(raised.value) for kind in registry.KINDS)
