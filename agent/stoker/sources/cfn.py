"""POLL_SERVER_CFN: the server's metadata from heat-api-cfn's DescribeStackResource (docs/protocol.md, "cfn").

``path`` is ``<LogicalResourceId>.<element>[.<key>...]``: the first part names
the resource, the second the XML element holding the JSON (``Metadata``), and
any further parts walk into that JSON, whose value becomes the document.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any, Mapping

from .. import awssig, httpclient, redaction
from . import Fetched, SourceError, encode, http_get, json_object, require, status_error

KIND = "cfn"
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_POLICY_HINT = ("bad signature or credentials (access_key_id/secret_access_key), or heat-api-cfn's "
                "policy refuses cloudformation:DescribeStackResource to stack users (a known Heat "
                "bug: allow it with 'role:reader or role:heat_stack_user')")


class CfnSource:
    """Signed DescribeStackResource requests for one stack resource."""

    kind = KIND
    required = ("metadata_url", "access_key_id", "secret_access_key", "stack_name", "path")
    local = False

    def __init__(self, settings: Mapping[str, Any], *, timeout: float, tls: httpclient.TLSOptions) -> None:
        found = require(KIND, settings, *self.required)
        redaction.remember(found["secret_access_key"])
        self.url = _with_slash(found["metadata_url"])
        self.access_key_id = found["access_key_id"]
        self._secret = found["secret_access_key"]
        self.stack_name = found["stack_name"]
        self.resource, self.element, self.keys = parse_path(found["path"])
        self.timeout, self.tls = timeout, tls

    def fetch(self, validators: dict[str, str]) -> Fetched:
        """One signed request; heat-api-cfn sends no validators, so every answer is content."""
        response = http_get(KIND, self.signed_url(), timeout=self.timeout, tls=self.tls)
        if response.status != 200:
            raise self._error(response)
        text = element_text(response.body, self.element)
        document = walk(json_object(KIND, text, f"the {self.element} of {self.resource}"), self.keys)
        return Fetched(encode(document), {})

    def signed_url(self) -> str:
        params = {"Action": "DescribeStackResource", "StackName": self.stack_name,
                  "LogicalResourceId": self.resource}
        return awssig.signed_url("GET", self.url, params, self.access_key_id, self._secret)

    def _error(self, response: httpclient.Response) -> SourceError:
        where = f"heat-api-cfn at {redaction.redact_url(self.url)}"
        if response.status == 403:
            return status_error(KIND, where, response, f"access denied: {_POLICY_HINT}")
        if response.status == 404:
            return status_error(KIND, where, response,
                                f"unknown stack {self.stack_name!r} or resource {self.resource!r}")
        return status_error(KIND, where, response)


def _with_slash(url: str) -> str:
    """heat-api-cfn's API root is ``/v1/``; Heat writes the slash but hand-written configs may not."""
    url = url.strip()
    return url if url.endswith("/") or "?" in url else url + "/"


def parse_path(path: str) -> tuple[str, str, list[str]]:
    """``server.Metadata.a.b`` -> (``server``, ``Metadata``, [``a``, ``b``]); the element defaults to Metadata."""
    parts = [part for part in path.strip().split(".")]
    if not parts[0] or any(not part for part in parts):
        raise SourceError(f"cfn settings: path {path!r} is not <Resource>.Metadata[.key...]", transient=False)
    element = parts[1] if len(parts) > 1 else "Metadata"
    return parts[0], element, parts[2:]


def element_text(body: bytes, name: str) -> str:
    """The text of the first element called ``name`` (any namespace); DTDs are refused outright.

    Refusing DOCTYPE and ENTITY declarations before parsing closes the entity
    expansion attacks that xml.etree alone does not guard against.
    """
    if _DECLARATION.search(body):
        raise SourceError("cfn: the answer contains a DOCTYPE or ENTITY declaration; refused", transient=False)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as err:
        raise SourceError(f"cfn: the answer is not valid XML: {err}", transient=False) from None
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.rpartition("}")[2] == name:
            return element.text or ""
    raise SourceError(f"cfn: the answer has no {name} element", transient=False)


def walk(document: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """Follow the dotted keys of ``path`` beyond the element; the result must be an object."""
    value: Any = document
    for depth, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            raise SourceError(f"cfn: the metadata has no key {'.'.join(keys[: depth + 1])!r}", transient=False)
        value = value[key]
    if not isinstance(value, dict):
        raise SourceError(f"cfn: the metadata at {'.'.join(keys)!r} is not a JSON object", transient=False)
    return value
