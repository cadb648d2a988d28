"""The Zaqar WSGI application, as gunicorn loads it (`zaqar_app:application`).

`zaqar.transport.wsgi.app` reads its configuration only from the standard places
(/etc/zaqar/...), while the harness keeps everything under its own directory. So this
builds the same application (Zaqar's bootstrap with the WSGI transport) from the file
named by ZAQAR_CONFIG_FILE, set by the harness. Runs with the Zaqar venv's python.
"""
import os

from oslo_config import cfg
from oslo_log import log

from zaqar import bootstrap


def build():
    """Parse the harness's zaqar.conf and return Zaqar's WSGI app (auth middleware included)."""
    conf = cfg.CONF
    log.register_options(conf)
    conf(project="zaqar", prog="zaqar-queues", args=[],
         default_config_files=[os.environ["ZAQAR_CONFIG_FILE"]])
    log.setup(conf, "zaqar")
    return bootstrap.Bootstrap(conf).transport.app


application = build()
