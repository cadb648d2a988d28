"""Heat engine, heat-api and heat-api-cfn in one process: `python heat_all.py HEAT_CONF`.

Why one process: with `transport_url = fake://` (no message broker) RPC only reaches
servers in the same process. Heat 27 ships no `heat-all`, and oslo.service's launcher
forks a child even for one worker, which would split the engine from the APIs; so the
engine service is started directly and the two paste apps are served by threaded WSGI
servers here. Runs with the Heat venv's python; ports come from HEAT_API_PORT and
HEAT_CFN_PORT.
"""
from __future__ import annotations

import os
import signal
import socketserver
import sys
import threading
from wsgiref import simple_server

from oslo_service import backend

backend.init_backend(backend.BackendType.THREADING)

from oslo_config import cfg  # noqa: E402
from oslo_log import log as logging  # noqa: E402

import sqlite_tuning  # noqa: E402

HOST = "127.0.0.1"


class ThreadingWSGIServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    """A WSGI server with one thread per request (signals and polls overlap)."""

    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(simple_server.WSGIRequestHandler):
    """Log requests through oslo.log's stream rather than bare stderr writes."""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib name)
        sys.stderr.write("wsgi %s %s\n" % (self.address_string(), format % args))


def configure(conf_file: str) -> None:
    """Parse heat.conf once for the engine and both APIs."""
    from heat.common import config, messaging
    from heat import version

    logging.register_options(cfg.CONF)
    cfg.CONF(args=[], project="heat", prog="heat-all",
             version=version.version_info.version_string(),
             default_config_files=[conf_file])
    logging.setup(cfg.CONF, "heat-all")
    config.set_config_defaults()
    messaging.setup()
    # These imports register auth_encryption_key and friends, which the sanity check below needs.
    from heat.engine import service, template  # noqa: F401
    config.startup_sanity_check()


def start_engine():
    """Create and start the engine service in this process; return it."""
    from heat.engine import service
    from heat.rpc import api as rpc_api

    engine = service.EngineService(cfg.CONF.host, rpc_api.ENGINE_TOPIC)
    engine.start()
    return engine


def serve(app_name: str, port: int) -> ThreadingWSGIServer:
    """Load one paste app and serve it on a daemon thread."""
    from heat.common import config

    app = config.load_paste_app(app_name)
    server = simple_server.make_server(HOST, port, app, ThreadingWSGIServer, QuietHandler)
    threading.Thread(target=server.serve_forever, name=app_name, daemon=True).start()
    return server


def main() -> None:
    sqlite_tuning.install()
    configure(sys.argv[1])
    engine = start_engine()
    servers = [serve("heat-api", int(os.environ["HEAT_API_PORT"])),
               serve("heat-api-cfn", int(os.environ["HEAT_CFN_PORT"]))]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("heat-all ready", flush=True)
    while not stop.wait(1):
        pass
    for server in servers:
        server.shutdown()
    engine.stop()
    os._exit(0)


if __name__ == "__main__":
    main()
