"""A loopback heat-api-cfn: DescribeStackResource (metadata) and pre-signed signal URLs.

What it checks, as heat-api-cfn (with Keystone's ec2tokens) does:
- AWS signature version 2 on every request (docs/protocol.md, "cfn"): the string to sign uses the method,
  the Host header exactly as sent, the raw path and the canonical query. Unknown access key
  or wrong signature: 403 with an <ErrorResponse> XML body.
- Signal URLs carry a Timestamp; one older than `auth_ttl` (default 15 minutes) is refused
  with 403, as Keystone refuses it.
- Credentials can be bound to a stack (metadata reads) or to one deployment resource
  (signals), like the per-server and per-deployment users Heat creates.
- Bodies over `max_json_body_size` (Heat's 1 MiB) get 413.

Test API: `add_credentials`, `set_metadata`, `make_signal_url`, `metadata_url`,
`signed_metadata_url`, plus the shared records/faults/hooks of `LoopbackServer`.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from .base import LoopbackServer, Request, Response
from .signing import parse_v2_timestamp, signed_v2_url, v2_signature_matches, v2_timestamp

HEAT_MAX_JSON_BODY = 1024 * 1024
DEFAULT_AUTH_TTL = 15 * 60
SIGNAL_PREFIX = "/v1/signal/"
DESCRIBE_PATHS = ("/v1/", "/v1")


@dataclass
class Credential:
    access: str
    secret: str
    stack: str | None = None  # only this stack's metadata
    resource: str | None = None  # only signals for this resource


@dataclass
class Stack:
    name: str
    id: str
    tenant: str
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    signal_targets: set[str] = field(default_factory=set)

    @property
    def arn(self) -> str:
        return f"arn:openstack:heat::{self.tenant}:stacks/{self.name}/{self.id}"


class CfnError(Exception):
    """An error heat-api-cfn would answer with an <ErrorResponse> body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        root = ET.Element("ErrorResponse")
        error = ET.SubElement(root, "Error")
        for tag, text in (("Message", self.message), ("Code", self.code), ("Type", "Sender")):
            ET.SubElement(error, tag).text = text
        return Response(self.status, ET.tostring(root, encoding="utf-8"),
                        {"Content-Type": "application/xml"})


SIGNATURE_ERROR = (403, "SignatureDoesNotMatch",
                   "The request signature we calculated does not match the signature you provided")
UNKNOWN_KEY = (403, "InvalidClientTokenId",
               "The X.509 certificate or AWS Access Key ID provided does not exist in our records")
ACCESS_DENIED = (403, "AccessDenied", "User is not authorized to perform action")
EXPIRED = (403, "SignatureDoesNotMatch", "Signature expired: the request Timestamp is too old")


class CfnServer(LoopbackServer):
    name = "cfn"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, auth_ttl: float = DEFAULT_AUTH_TTL,
                 max_json_body_size: int = HEAT_MAX_JSON_BODY, tenant: str | None = None) -> None:
        super().__init__(host, port)
        self.auth_ttl = auth_ttl
        self.max_json_body_size = max_json_body_size
        self.tenant = tenant or uuid.uuid4().hex
        # The base URL the agent reaches this server at, when that is not where it listens:
        # a VM whose metadata address is forwarded here (the VM tier) signs and posts to
        # that address, and the Host header it signs is the forwarded one.
        self.advertised_url: str | None = None
        self._credentials: dict[str, Credential] = {}
        self._stacks: dict[str, Stack] = {}
        self._data_lock = threading.Lock()

    # -- test API ----------------------------------------------------------------------
    def add_credentials(self, access: str | None = None, secret: str | None = None,
                        stack: str | None = None, resource: str | None = None) -> Credential:
        """Register an EC2 key pair (random when not given), optionally bound to a stack/resource."""
        cred = Credential(access or secrets.token_hex(16), secret or secrets.token_hex(16),
                          stack, resource)
        with self._data_lock:
            self._credentials[cred.access] = cred
        return cred

    def add_stack(self, name: str, stack_id: str | None = None) -> Stack:
        with self._data_lock:
            stack = self._stacks.get(name)
            if stack is None:
                stack = self._stacks[name] = Stack(name, stack_id or str(uuid.uuid4()), self.tenant)
            return stack

    def set_metadata(self, stack: str, resource: str, metadata: dict[str, Any]) -> None:
        """Publish `metadata` as `resource`'s metadata (what Heat does on each deployment)."""
        target = self.add_stack(stack)
        with self._data_lock:
            target.resources[resource] = json.loads(json.dumps(metadata))

    def get_metadata(self, stack: str, resource: str) -> dict[str, Any] | None:
        with self._data_lock:
            found = self._stacks.get(stack)
            return None if found is None else found.resources.get(resource)

    def metadata_url(self) -> str:
        """The `metadata_url` Heat writes into os-collect-config's cfn section."""
        return f"{self.agent_url}/v1/"

    @property
    def agent_url(self) -> str:
        """The base URL as the agent sees it (``advertised_url`` if set, else where it listens)."""
        return self.advertised_url or self.url

    def signed_metadata_url(self, stack: str, resource: str, cred: Credential,
                            content_type_json: bool = False) -> str:
        """A DescribeStackResource URL signed as an agent would sign it."""
        params = {"Action": "DescribeStackResource", "StackName": stack, "LogicalResourceId": resource}
        if content_type_json:
            params["ContentType"] = "JSON"
        return signed_v2_url(self.metadata_url(), "GET", params, cred.access, cred.secret)

    def make_signal_url(self, stack: str, resource: str, cred: Credential | None = None,
                        timestamp: float | None = None) -> str:
        """A pre-signed POST URL for `resource`, shaped like Heat's `deploy_signal_id`.

        Without `cred` a new key pair bound to the resource is made, as Heat makes one
        per deployment. `timestamp` (epoch seconds) lets a test build an expired URL.
        """
        target = self.add_stack(stack)
        with self._data_lock:
            target.signal_targets.add(resource)
        cred = cred or self.add_credentials(stack=stack, resource=resource)
        path = SIGNAL_PREFIX + urllib.parse.quote(f"{target.arn}/resources/{resource}", safe="")
        params = {"Timestamp": v2_timestamp(timestamp)}
        return signed_v2_url(self.agent_url + path, "POST", params, cred.access, cred.secret)

    # -- protocol ----------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        try:
            if request.path in DESCRIBE_PATHS and request.method in ("GET", "HEAD"):
                return self._describe(request)
            if request.path.startswith(SIGNAL_PREFIX) and request.method == "POST":
                return self._signal(request)
            raise CfnError(404, "NotFound", "The resource could not be found.")
        except CfnError as error:
            return error.response()

    def fault_response(self, status: int) -> Response:
        return CfnError(status, "ServiceUnavailable" if status == 503 else "InternalFailure",
                        "Injected failure").response()

    def _authenticate(self, request: Request) -> Credential:
        params = request.query
        access = params.get("AWSAccessKeyId")
        if not access or "Signature" not in params:
            raise CfnError(403, "MissingAuthenticationToken", "Request is missing a signature")
        if params.get("SignatureVersion") != "2":
            raise CfnError(*SIGNATURE_ERROR)
        with self._data_lock:
            cred = self._credentials.get(access)
        if cred is None:
            raise CfnError(*UNKNOWN_KEY)
        host = request.header("Host", "") or ""
        if not v2_signature_matches(cred.secret, request.method, host, request.path, params):
            raise CfnError(*SIGNATURE_ERROR)
        return cred

    def _describe(self, request: Request) -> Response:
        cred = self._authenticate(request)
        params = request.query
        if params.get("Action") != "DescribeStackResource":
            raise CfnError(400, "InvalidAction", "The action or operation requested is invalid")
        stack = self._find_stack(params.get("StackName", ""))
        if cred.stack is not None and cred.stack != stack.name:
            raise CfnError(*ACCESS_DENIED)
        resource = params.get("LogicalResourceId", "")
        with self._data_lock:
            metadata = stack.resources.get(resource)
        if metadata is None:
            raise CfnError(404, "ResourceNotFound", f"The Resource ({resource}) could not be found.")
        detail = self._detail(stack, resource)
        if params.get("ContentType") == "JSON":
            return Response.json(200, _wrap({**detail, "Metadata": metadata}))
        return Response(200, _describe_xml(detail, metadata), {"Content-Type": "application/xml"})

    def _find_stack(self, name_or_id: str) -> Stack:
        with self._data_lock:
            for stack in self._stacks.values():
                if name_or_id in (stack.name, stack.id, stack.arn):
                    return stack
        raise CfnError(404, "StackNotFound", f"The Stack ({name_or_id}) could not be found.")

    def _detail(self, stack: Stack, resource: str) -> dict[str, Any]:
        return {"Description": "", "LastUpdatedTimestamp": v2_timestamp(),
                "LogicalResourceId": resource, "PhysicalResourceId": str(uuid.uuid5(uuid.NAMESPACE_URL, stack.id + resource)),
                "ResourceStatus": "CREATE_COMPLETE", "ResourceStatusReason": "state changed",
                "ResourceType": "OS::Nova::Server", "StackId": stack.arn, "StackName": stack.name}

    def _signal(self, request: Request) -> Response:
        cred = self._authenticate(request)
        self._check_timestamp(request.query.get("Timestamp"))
        stack, resource = self._signal_target(request.path)
        if cred.resource is not None and (cred.stack, cred.resource) != (stack.name, resource):
            raise CfnError(*ACCESS_DENIED)
        if len(request.body) > self.max_json_body_size:
            return Response.text(413, "Request Entity Too Large\n")
        if request.body:
            try:
                request.json()
            except ValueError:
                raise CfnError(400, "InvalidParameterValue", "Malformed JSON body") from None
        self.record_signal(request, stack.name, resource)
        return Response(200, b"", {"Content-Type": "text/plain; charset=UTF-8"})

    def _check_timestamp(self, text: str | None) -> None:
        if text is None:
            return
        try:
            issued = parse_v2_timestamp(text)
        except ValueError:
            raise CfnError(400, "InvalidParameterValue", "Malformed Timestamp") from None
        if time.time() - issued > self.auth_ttl:
            raise CfnError(*EXPIRED)

    def _signal_target(self, path: str) -> tuple[Stack, str]:
        arn = urllib.parse.unquote(path[len(SIGNAL_PREFIX):])
        head, sep, resource = arn.partition("/resources/")
        parts = head.split(":stacks/", 1)
        if not sep or len(parts) != 2 or "/" not in parts[1]:
            raise CfnError(404, "NotFound", "The resource could not be found.")
        stack_name, stack_id = parts[1].split("/", 1)
        stack = self._find_stack(stack_id)
        with self._data_lock:
            known = resource in stack.signal_targets or resource in stack.resources
        if stack.name != stack_name or not known:
            raise CfnError(404, "ResourceNotFound", f"The Resource ({resource}) could not be found.")
        return stack, resource

    def admin(self, request: Request, parts: list[str]) -> Response | None:
        """PUT /_test/metadata/<stack>/<resource> (JSON body), POST /_test/credentials,
        POST /_test/signal-url {"stack", "resource", "timestamp"?} -> {"url"}."""
        route = (request.method, parts[0])
        if route == ("PUT", "metadata") and len(parts) == 3:
            self.set_metadata(parts[1], parts[2], request.json())
            return Response.json(200, {})
        if route == ("GET", "metadata") and len(parts) == 3:
            return Response.json(200, self.get_metadata(parts[1], parts[2]))
        if route == ("POST", "credentials"):
            data = request.json() if request.body else {}
            cred = self.add_credentials(data.get("access"), data.get("secret"), data.get("stack"),
                                        data.get("resource"))
            return Response.json(201, cred.__dict__)
        if route == ("POST", "signal-url"):
            data = request.json()
            url = self.make_signal_url(data["stack"], data["resource"], timestamp=data.get("timestamp"))
            return Response.json(201, {"url": url})
        return super().admin(request, parts)


def _wrap(detail: dict[str, Any]) -> dict[str, Any]:
    return {"DescribeStackResourceResponse": {"DescribeStackResourceResult": {"StackResourceDetail": detail}}}


def _describe_xml(detail: dict[str, Any], metadata: dict[str, Any]) -> bytes:
    """The XML body; Metadata's text is the JSON document, empty when it is {}."""
    root = ET.Element("DescribeStackResourceResponse")
    result = ET.SubElement(ET.SubElement(root, "DescribeStackResourceResult"), "StackResourceDetail")
    for key, value in sorted({**detail, "Metadata": metadata}.items()):
        element = ET.SubElement(result, key)
        if key == "Metadata":
            element.text = json.dumps(metadata) if metadata else None
        else:
            element.text = str(value)
    return ET.tostring(root, encoding="utf-8")
