"""A small compute (Nova) API for the harness: `python compute_api.py COMPUTE_CONF`.

Why it exists: before Heat waits for a deployment's DELETE signal it asks Nova whether the
deployment's server still exists (GET /servers/<id>); without a compute endpoint in the
catalog the stack delete fails with EndpointNotFound, and with one that does not know the
server Heat stops waiting at once. This endpoint answers as Nova would for a server Heat
booted: the servers it knows are the `OS::Heat::DeployedServer` resources in Heat's own
database, while they exist, visible to their stack's project (an admin sees every one).
A server whose resource is deleted is a 404, as in Nova.

What it speaks (what novaclient asks for when Heat calls it, see docs/protocol.md):
  GET /                         the version list
  GET /v2.1                     the current version (novaclient's microversion discovery)
  GET /v2.1/servers[/detail]    the project's servers
  GET /v2.1/servers/<id>        one server, or 404 itemNotFound
Every /v2.1 request needs a valid Keystone token (X-Auth-Token), checked against Keystone
with the service user's own token. Anything else (creating servers, actions) is refused
with 501: this endpoint only tells whether a server exists.
Standard library only, so it runs under any Python; the config file is INI (configs.py).
"""
from __future__ import annotations

import configparser
import hashlib
import json
import re
import signal
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MIN_VERSION = "2.1"
MAX_VERSION = "2.96"  # the newest microversion novaclient of Heat 27 speaks
DEPLOYED_SERVER = "OS::Heat::DeployedServer"
TOKEN_CACHE_SECONDS = 30.0
SERVER_PATH = re.compile(r"^/v2\.1/servers/([^/]+)$")


class Keystone:
    """Checks request tokens with Keystone, holding the service user's token for it."""

    def __init__(self, section: configparser.SectionProxy) -> None:
        self.url = section["auth_url"].rstrip("/")
        self.auth = {"identity": {"methods": ["password"], "password": {"user": {
            "name": section["username"], "domain": {"name": section["user_domain_name"]},
            "password": section["password"]}}},
            "scope": {"project": {"name": section["project_name"],
                                  "domain": {"name": section["project_domain_name"]}}}}
        self.lock = threading.Lock()
        self.service_token = ""
        self.service_expires = 0.0
        self.checked: dict[str, tuple[float, dict | None]] = {}

    def _service_token(self) -> str:
        """The service user's token, renewed a few minutes before it expires."""
        with self.lock:
            if time.time() < self.service_expires:
                return self.service_token
            body = json.dumps({"auth": self.auth}).encode()
            req = urllib.request.Request(f"{self.url}/auth/tokens", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                self.service_token = resp.headers["X-Subject-Token"]
            self.service_expires = time.time() + 600
            return self.service_token

    def check(self, token: str) -> dict | None:
        """The token's body (project, roles) when Keystone vouches for it, else None."""
        key = hashlib.sha256(token.encode()).hexdigest()  # never keep the token itself
        now = time.monotonic()
        cached = self.checked.get(key)
        if cached and cached[0] > now:
            return cached[1]
        req = urllib.request.Request(f"{self.url}/auth/tokens", method="GET", headers={
            "X-Auth-Token": self._service_token(), "X-Subject-Token": token})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                found = json.load(resp)["token"]
        except urllib.error.HTTPError as err:
            if err.code not in (401, 404):
                raise
            found = None
        if len(self.checked) > 1000:  # forget expired answers now and then
            self.checked = {k: v for k, v in self.checked.items() if v[0] > now}
        self.checked[key] = (now + TOKEN_CACHE_SECONDS, found)
        return found


class HeatServers:
    """The DeployedServers in Heat's database, read-only."""

    def __init__(self, database: str) -> None:
        self.database = database

    def _rows(self, server_id: str | None) -> list[sqlite3.Row]:
        conn = sqlite3.connect(self.database, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            sql = ("SELECT r.nova_instance AS id, r.name, r.action, r.status, r.created_at,"
                   " r.updated_at, r.current_template_id, s.raw_template_id, s.tenant,"
                   " s.username, rpd.data AS properties, r.properties_data_encrypted"
                   " FROM resource r JOIN stack s ON s.id = r.stack_id"
                   " LEFT JOIN resource_properties_data rpd ON rpd.id = r.rsrc_prop_data_id"
                   " WHERE s.deleted_at IS NULL AND r.nova_instance IS NOT NULL"
                   " AND NOT (r.action = 'DELETE' AND r.status = 'COMPLETE')")
            args: tuple = ()
            if server_id is not None:
                sql += " AND r.nova_instance = ?"
                args = (server_id,)
            rows = conn.execute(sql, args).fetchall()
            return [row for row in rows if self._is_deployed_server(conn, row)]
        finally:
            conn.close()

    @staticmethod
    def _is_deployed_server(conn: sqlite3.Connection, row: sqlite3.Row) -> bool:
        """True when the resource's template declares it an OS::Heat::DeployedServer."""
        template_id = row["current_template_id"] or row["raw_template_id"]
        found = conn.execute("SELECT template FROM raw_template WHERE id = ?",
                             (template_id,)).fetchone()
        if not found:
            return False
        try:
            template = json.loads(found[0])
        except (TypeError, ValueError):
            return False
        resources = template.get("resources") or template.get("Resources") or {}
        definition = resources.get(row["name"]) or {}
        return (definition.get("type") or definition.get("Type")) == DEPLOYED_SERVER

    def visible(self, project: str | None, server_id: str | None = None) -> list[dict]:
        """Servers (as Nova shows them) of one project, or of every project for None."""
        return [server_view(row) for row in self._rows(server_id)
                if project is None or row["tenant"] == project]


def server_view(row: sqlite3.Row) -> dict:
    """A Nova server document for one DeployedServer resource."""
    name = row["name"]
    if row["properties"] and not row["properties_data_encrypted"]:
        try:
            name = json.loads(row["properties"]).get("name") or name
        except ValueError:
            pass
    suspended = row["action"] == "SUSPEND" and row["status"] == "COMPLETE"
    return {
        "id": row["id"], "name": name, "tenant_id": row["tenant"], "user_id": row["username"],
        "status": "SUSPENDED" if suspended else "ACTIVE",
        "OS-EXT-STS:vm_state": "suspended" if suspended else "active",
        "OS-EXT-STS:task_state": None, "OS-EXT-STS:power_state": 1,
        "created": iso(row["created_at"]), "updated": iso(row["updated_at"] or row["created_at"]),
        "metadata": {}, "addresses": {}, "image": "", "flavor": {}, "hostId": "",
        "accessIPv4": "", "accessIPv6": "", "key_name": None, "config_drive": "",
        "progress": 0, "security_groups": [], "locked": False, "tags": [],
        "description": None,
    }


def iso(stamp: str | None) -> str | None:
    """Heat's '2026-01-01 10:00:00.123' as Nova's '2026-01-01T10:00:00Z'."""
    return stamp.split(".")[0].replace(" ", "T") + "Z" if stamp else None


class Handler(BaseHTTPRequestHandler):
    """One request; the server object carries the Keystone checker and the database."""

    server: "ComputeServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib name)
        sys.stderr.write("compute %s\n" % (format % args))

    def _send(self, status: int, body: dict | None, version: str | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if version:
            self.send_header("OpenStack-API-Version", f"compute {version}")
            self.send_header("X-OpenStack-Nova-API-Version", version)
            self.send_header("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, kind: str, message: str, version: str | None = None) -> None:
        self._send(status, {kind: {"code": status, "message": message}}, version)

    def _version_doc(self) -> dict:
        base = f"http://{self.headers.get('Host', 'localhost')}"
        return {"id": "v2.1", "status": "CURRENT", "version": MAX_VERSION,
                "min_version": MIN_VERSION, "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": f"{base}/v2.1/"}]}

    def _microversion(self) -> str:
        """The microversion asked for (either header), else the minimum, as Nova does."""
        wanted = self.headers.get("OpenStack-API-Version", "")
        if wanted.startswith("compute "):
            return wanted.split(" ", 1)[1].strip()
        return self.headers.get("X-OpenStack-Nova-API-Version") or MIN_VERSION

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "":
            self._send(200, {"versions": [self._version_doc()]})
            return
        if not path.startswith("/v2.1"):
            self._error(404, "itemNotFound", "The resource could not be found.")
            return
        version = self._microversion()
        if version == "latest":
            version = MAX_VERSION
        token = self.server.keystone.check(self.headers.get("X-Auth-Token", ""))
        if token is None:
            self._error(401, "unauthorized", "The request you have made requires "
                        "authentication.", version)
            return
        if path == "/v2.1":
            self._send(200, {"version": self._version_doc()}, version)
            return
        roles = {role["name"] for role in token.get("roles", [])}
        project = None if "admin" in roles else (token.get("project") or {}).get("id")
        self._servers(path, project, version)

    def _servers(self, path: str, project: str | None, version: str) -> None:
        db = self.server.heat
        if path in ("/v2.1/servers", "/v2.1/servers/detail"):
            found = db.visible(project)
            if path.endswith("/servers"):
                found = [{"id": s["id"], "name": s["name"]} for s in found]
            self._send(200, {"servers": found}, version)
            return
        match = SERVER_PATH.match(path)
        if not match:
            self._error(404, "itemNotFound", "The resource could not be found.", version)
            return
        found = db.visible(project, match.group(1))
        if not found:
            self._error(404, "itemNotFound",
                        f"Instance {match.group(1)} could not be found.", version)
            return
        self._send(200, {"server": found[0]}, version)

    def _refuse(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._error(501, "notImplemented", "This compute endpoint only shows servers.")

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815 (stdlib names)


class ComputeServer(ThreadingHTTPServer):
    """The HTTP server with what the handlers need."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, keystone: Keystone, heat: HeatServers) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.keystone = keystone
        self.heat = heat


def main() -> None:
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(sys.argv[1])
    server = ComputeServer(conf.getint("DEFAULT", "bind_port"),
                           Keystone(conf["keystone_authtoken"]),
                           HeatServers(conf["DEFAULT"]["heat_database"]))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print("compute API ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
