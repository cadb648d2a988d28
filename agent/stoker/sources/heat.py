"""POLL_SERVER_HEAT: the server's metadata from Heat's native API with a Keystone token (docs/protocol.md, "Heat")."""
from __future__ import annotations

import urllib.parse
from typing import Any, Mapping

from .. import httpclient, keystone
from . import Fetched, SourceError, encode, json_object, require, token_get, token_status_error

KIND = "heat"


class HeatSource:
    """GET .../stacks/<name>/<id>/resources/<resource>/metadata, reusing one token across polls."""

    kind = KIND
    required = (*keystone.CREDENTIALS, "stack_id", "resource_name")
    local = False

    def __init__(self, settings: Mapping[str, Any], *, timeout: float, tls: httpclient.TLSOptions) -> None:
        found = require(KIND, settings, *self.required)
        self.session = keystone.session_from(settings, timeout=timeout, tls=tls)
        self.stack_id, self.resource_name = found["stack_id"], found["resource_name"]

    def fetch(self, validators: dict[str, str]) -> Fetched:
        """The metadata, with one fresh login when Heat refuses the token (``keystone.token_request``)."""
        response = token_get(KIND, self.session, "orchestration", self._url)
        if response.status != 200:
            raise self._error(response)
        return Fetched(encode(self._metadata(response.body)), {})

    def _url(self, endpoint: str) -> str:
        stack = urllib.parse.quote(self.stack_id, safe="/")  # keeps the name/uuid slash
        resource = urllib.parse.quote(self.resource_name, safe="")
        return f"{endpoint.rstrip('/')}/stacks/{stack}/resources/{resource}/metadata"

    def _metadata(self, body: bytes) -> dict[str, Any]:
        answer = json_object(KIND, body, "the metadata answer")
        if "metadata" not in answer:
            raise SourceError("heat: the metadata answer has no 'metadata' key", transient=False)
        metadata = answer["metadata"]
        if metadata is None:
            return {}
        if not isinstance(metadata, dict):
            raise SourceError(f"heat: the metadata answer's metadata is {type(metadata).__name__}, "
                              "not an object", transient=False)
        return metadata

    def _error(self, response: httpclient.Response) -> SourceError:
        return token_status_error(KIND, f"heat resource {self.stack_id}/{self.resource_name}", response,
                                  forbidden="the stack user may not read this resource",
                                  missing="unknown stack or resource")
