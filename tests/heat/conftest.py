"""Make the real-Heat fixtures available to the tests in this directory."""
from .fixtures import heat_admin, heat_client, heat_harness  # noqa: F401
