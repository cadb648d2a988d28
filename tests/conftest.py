"""Fixtures every test tier can use (the loopback Heat, Keystone, Swift and Zaqar servers),
and the rule that every test belongs to a tier (docs/architecture.md, "Test tiers")."""
import pytest

from tests.loopback.fixtures import *  # noqa: F401,F403

TIERS = ("unit", "contract", "faults", "image", "vm", "realheat", "conformance")


def pytest_collection_modifyitems(config, items):
    """Refuse to run when a collected test has no tier marker, so `-m unit` and the rest miss nothing."""
    untiered = [item.nodeid for item in items if not any(item.get_closest_marker(tier) for tier in TIERS)]
    if untiered:
        listed = "\n  ".join(untiered[:20]) + ("\n  ..." if len(untiered) > 20 else "")
        raise pytest.UsageError(
            f"{len(untiered)} test(s) have no tier marker (one of {', '.join(TIERS)}); add "
            f"`pytestmark = pytest.mark.unit` (in-process) or `pytest.mark.contract` (runs processes or "
            f"servers) to the module:\n  {listed}")
