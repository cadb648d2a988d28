"""What a hook imports at start: paid by every deployment, so kept to what each hook needs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.contract

REPO = Path(__file__).resolve().parent.parent


def test_a_hook_starts_without_openssl_tempfile_or_dataclasses():
    """Each deployment starts a hook: what hookkit imports is paid every time (bench: the script hook alone)."""
    code = ("import sys; sys.path.insert(0, 'hooks'); import hookkit\n"
            "print(','.join(m for m in ('hashlib', '_hashlib', 'tempfile', 'dataclasses', 'shlex', 'traceback', 'typing') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"imported at start-up: {out.stdout}"
