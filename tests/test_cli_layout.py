"""The shape of the ``stoker`` command (docs/architecture.md, "Modules"): one module per command,
one exit-code table, and nothing in the agent importing the CLI."""
import re
import subprocess
import sys

import pytest

from stoker import cli, exitcodes
from tests.agent_helpers import REPO

pytestmark = pytest.mark.unit

AGENT_MODULES = ("stoker.daemon", "stoker.poller", "stoker.session", "stoker.status", "stoker.deployer")


def test_the_agent_runs_without_loading_any_command_module():
    """The daemon and the pieces it uses never reach back into the CLI."""
    code = (f"import sys, {', '.join(AGENT_MODULES)}\n"
            "print(','.join(m for m in sys.modules if m == 'stoker.cli' or m.startswith('stoker.cli.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "", f"CLI modules loaded by the agent: {out.stdout}"


def test_the_command_line_loads_no_other_commands_machinery_until_that_command_runs():
    """``stoker run`` stays resident: the bug report, plan preview and SVG code (tarfile, difflib,
    tempfile, html) are imported by their own command only, not by building the parser."""
    heavy = ("stoker.bugreport", "stoker.preview", "stoker.timeline", "stoker.timeline_svg",
             "tarfile", "difflib", "tempfile", "html")
    code = ("import sys, stoker.cli\nstoker.cli.build_parser()\n"
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "", f"loaded by the command line before any command ran: {out.stdout}"


def test_every_command_is_a_module_and_help_lists_them_in_the_documented_order():
    names = [module.__name__.rsplit(".", 1)[1] for module in cli.COMMANDS]
    assert names == ["apply", "plan", "status", "analyze", "collect_logs", "rerun", "run", "dispatch"]
    assert all(callable(m.register) and callable(m.command) for m in cli.COMMANDS)


def test_the_exit_code_table_is_the_one_readme_documents():
    """README.md, "Commands": the codes images and scripts test."""
    readme = (REPO / "README.md").read_text()
    documented = {int(code) for code in re.findall(r"^\| ([0-9]) \|", readme, re.MULTILINE)}
    table = {value for name, value in vars(exitcodes).items() if name.isupper()}
    assert table == documented == set(range(8))
