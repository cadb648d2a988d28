"""All five loopback servers wired together as one small cloud, with one project, user and stack.

Tests of the agent need more than a server each: a Keystone whose catalog points at the
Heat, Zaqar, Swift and cfn servers, a user with a role on the project, EC2 keys for the cfn
API, a Swift account key, and one stack shared by cfn and Heat. `Cloud` sets that up once and
offers what Heat itself would produce: the `os-collect-config` section for each metadata
transport (docs/protocol.md, "Where to poll"), the `deploy_*` inputs for each signal
transport (docs/protocol.md, "Deployments"), and `publish()` to put a new metadata document
where every transport will find it.
"""
from __future__ import annotations

import uuid
from typing import Any

from .base import LoopbackServer, Signal, SignalHook
from .cfn import Credential, CfnServer
from .heat import HeatServer
from .keystone import KeystoneServer, Project, User
from .swift import SwiftServer
from .tokens import TokenStore
from .zaqar import ZaqarServer

METADATA_TRANSPORTS = ("POLL_SERVER_CFN", "POLL_SERVER_HEAT", "POLL_TEMP_URL", "ZAQAR_MESSAGE")
SIGNAL_TRANSPORTS = ("CFN_SIGNAL", "TEMP_URL_SIGNAL", "HEAT_SIGNAL", "ZAQAR_SIGNAL", "NO_SIGNAL")
SECTION_FOR = {"POLL_SERVER_CFN": "cfn", "POLL_SERVER_HEAT": "heat", "POLL_TEMP_URL": "request",
               "ZAQAR_MESSAGE": "zaqar"}
SECTION_KEYS = {
    "cfn": ("metadata_url", "access_key_id", "secret_access_key", "stack_name", "path"),
    "heat": ("user_id", "password", "auth_url", "project_id", "stack_id", "resource_name", "region_name"),
    "request": ("metadata_url",),
    "zaqar": ("user_id", "password", "auth_url", "project_id", "queue_id", "region_name"),
}
METADATA_CONTAINER = "heat-metadata"
SIGNAL_CONTAINER = "heat-signals"


class Cloud:
    """Keystone + Heat + heat-api-cfn + Swift + Zaqar on 127.0.0.1, sharing one token store."""

    def __init__(self, host: str = "127.0.0.1", ports: dict[str, int] | None = None,
                 token_lifetime: float = 3600.0, auth_ttl: float = 900.0,
                 region: str = "RegionOne", stack_name: str = "stoker-stack",
                 server_resource: str = "server") -> None:
        ports = ports or {}
        self.tokens = TokenStore()
        self.region = region
        self.keystone = KeystoneServer(host, ports.get("keystone", 0), self.tokens, token_lifetime)
        self.heat = HeatServer(host, ports.get("heat", 0), self.tokens)
        self.cfn = CfnServer(host, ports.get("cfn", 0), auth_ttl=auth_ttl)
        self.swift = SwiftServer(host, ports.get("swift", 0))
        self.zaqar = ZaqarServer(host, ports.get("zaqar", 0), self.tokens)
        self.stack_name = stack_name
        self.stack_id = str(uuid.uuid4())
        self.server_resource = server_resource
        self.project: Project
        self.user: User
        self.ec2: Credential
        self.swift_key = ""

    @property
    def servers(self) -> dict[str, LoopbackServer]:
        return {"keystone": self.keystone, "heat": self.heat, "cfn": self.cfn,
                "swift": self.swift, "zaqar": self.zaqar}

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> "Cloud":
        started: list[LoopbackServer] = []
        try:
            for server in self.servers.values():
                started.append(server.start())
        except Exception:
            for server in started:
                server.stop()
            raise
        self._provision()
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def __enter__(self) -> "Cloud":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _provision(self) -> None:
        self.project = self.keystone.add_project("stoker-test")
        self.user = self.keystone.add_user("stoker-agent", projects=[self.project.id])
        self.heat.auth_uri = self.keystone.auth_url
        self.cfn.tenant = self.project.id
        self.cfn.add_stack(self.stack_name, self.stack_id)
        self.heat.add_stack(self.project.id, self.stack_name, self.stack_id)
        self.ec2 = self.cfn.add_credentials(stack=self.stack_name)
        _, self.swift_key = self.swift.add_account(self.project.id)
        self.swift.create_container(self.project.id, METADATA_CONTAINER)
        self.swift.create_container(self.project.id, SIGNAL_CONTAINER)
        self._catalog()

    def _catalog(self) -> None:
        ks = self.keystone
        ks.add_service("identity", "keystone", ks.auth_url, region_id=self.region)
        ks.add_service("orchestration", "heat", self.heat.orchestration_url(), region_id=self.region)
        ks.add_service("cloudformation", "heat-cfn", f"{self.cfn.url}/v1", region_id=self.region)
        ks.add_service("object-store", "swift", f"{self.swift.url}/v1/AUTH_%(tenant_id)s",
                       region_id=self.region)
        ks.add_service("messaging", "zaqar", self.zaqar.messaging_url(), region_id=self.region)

    # -- what Heat would write -------------------------------------------------------------
    @property
    def metadata_queue(self) -> str:
        return f"{self.server_resource}-metadata"

    def publish(self, metadata: dict[str, Any], resource: str | None = None) -> None:
        """Make `metadata` the server's metadata on every metadata transport at once."""
        name = resource or self.server_resource
        self.cfn.set_metadata(self.stack_name, name, metadata)
        self.heat.set_metadata(self.project.id, self.stack_name, name, metadata)
        self.swift.put_object(self.project.id, METADATA_CONTAINER, name, metadata)
        self.zaqar.post_message(self.project.id, f"{name}-metadata", metadata)

    def collect_section(self, transport: str) -> dict[str, Any]:
        """The transport section of `os-collect-config` for POLL_SERVER_CFN, ... (docs/protocol.md, "Where to poll")."""
        section = SECTION_FOR[transport]
        if section == "cfn":
            return {"metadata_url": self.cfn.metadata_url(), "access_key_id": self.ec2.access,
                    "secret_access_key": self.ec2.secret, "stack_name": self.stack_name,
                    "path": f"{self.server_resource}.Metadata"}
        if section == "request":
            return {"metadata_url": self.swift.temp_url("GET", self.project.id, METADATA_CONTAINER,
                                                        self.server_resource)}
        common = {"user_id": self.user.id, "password": self.user.password,
                  "auth_url": self.keystone.auth_url, "project_id": self.project.id,
                  "region_name": self.region}
        if section == "heat":
            return {**common, "stack_id": f"{self.stack_name}/{self.stack_id}",
                    "resource_name": self.server_resource}
        return {**common, "queue_id": self.metadata_queue}

    def os_collect_config(self, transport: str = "POLL_SERVER_CFN",
                          null_others: bool = False) -> dict[str, Any]:
        """The whole `os-collect-config` key; `null_others` adds the other sections with nulls,
        as Heat leaves them after a transport switch."""
        active = SECTION_FOR[transport]
        result: dict[str, Any] = {"collectors": ["ec2", active, "local"],
                                  active: self.collect_section(transport)}
        if null_others:
            for section, keys in SECTION_KEYS.items():
                result.setdefault(section, dict.fromkeys(keys))
        return result

    def signal_inputs(self, transport: str, resource: str, action: str = "CREATE") -> list[dict[str, Any]]:
        """The `deploy_*` inputs Heat appends to a deployment item (docs/protocol.md, "Deployments"), with the
        signal target registered on the matching server so signals are accepted."""
        values: dict[str, Any] = {
            "deploy_server_id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.stack_id + self.server_resource)),
            "deploy_action": action, "deploy_stack_id": f"{self.stack_name}/{self.stack_id}",
            "deploy_resource_name": resource, "deploy_signal_transport": transport}
        values.update(self._signal_values(transport, resource))
        return [{"name": k, "value": v, "type": "String", "description": k} for k, v in values.items()]

    def _signal_values(self, transport: str, resource: str) -> dict[str, Any]:
        if transport == "CFN_SIGNAL":
            return {"deploy_signal_id": self.cfn.make_signal_url(self.stack_name, resource),
                    "deploy_signal_verb": "POST"}
        if transport == "TEMP_URL_SIGNAL":
            url = self.swift.make_signal_url(self.project.id, SIGNAL_CONTAINER,
                                             f"{resource}-{uuid.uuid4()}", self.stack_name, resource)
            return {"deploy_signal_id": url, "deploy_signal_verb": "PUT"}
        if transport not in ("HEAT_SIGNAL", "ZAQAR_SIGNAL"):
            return {}
        self.heat.add_resource(self.project.id, self.stack_name, resource)
        values = {"deploy_auth_url": self.keystone.auth_url, "deploy_username": self.user.name,
                  "deploy_user_id": self.user.id, "deploy_password": self.user.password,
                  "deploy_project_id": self.project.id, "deploy_region_name": self.region}
        if transport == "ZAQAR_SIGNAL":
            queue = f"{resource}-signal"
            self.zaqar.register_signal_queue(self.project.id, queue, self.stack_name, resource)
            values["deploy_queue_id"] = queue
        return values

    # -- what came back ------------------------------------------------------------------
    @property
    def signals(self) -> list[Signal]:
        """Signals received on every transport, oldest first."""
        found = [s for server in self.servers.values() for s in server.signals]
        return sorted(found, key=lambda s: s.monotonic)

    def on_signal(self, hook: SignalHook) -> None:
        for server in self.servers.values():
            server.on_signal(hook)

    def state(self) -> dict[str, Any]:
        """Ports and credentials, as the CLI writes them for other processes."""
        return {
            "servers": {name: {"url": s.url, "port": s.port} for name, s in self.servers.items()},
            "auth_url": self.keystone.auth_url, "region": self.region,
            "project": {"id": self.project.id, "name": self.project.name},
            "user": {"id": self.user.id, "name": self.user.name, "password": self.user.password},
            "ec2": {"access": self.ec2.access, "secret": self.ec2.secret},
            "swift": {"account": self.project.id, "key": self.swift_key,
                      "metadata_container": METADATA_CONTAINER, "signal_container": SIGNAL_CONTAINER},
            "stack": {"name": self.stack_name, "id": self.stack_id},
            "server_resource": self.server_resource,
            "os_collect_config": {t: self.collect_section(t) for t in METADATA_TRANSPORTS},
        }
