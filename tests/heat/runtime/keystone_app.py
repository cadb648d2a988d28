"""The Keystone WSGI application, as gunicorn loads it (`keystone_app:application`).

Keystone 30 ships no `keystone-wsgi-public` script; `keystone.wsgi.api` builds the app at
import time and lets oslo.config parse `sys.argv`, which under gunicorn holds gunicorn's
own arguments. Hide them before the import. The config file comes from
`OS_KEYSTONE_CONFIG_FILES`, set by the harness.
"""
import sys

import sqlite_tuning

sys.argv = sys.argv[:1]
sqlite_tuning.install()

from keystone.wsgi.api import application  # noqa: E402,F401  (import has side effects)
