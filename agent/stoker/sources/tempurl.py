"""POLL_TEMP_URL (``request``): the metadata object Heat keeps in Swift, read by TempURL (docs/protocol.md, "Swift TempURL").

Swift honours conditional requests, so an unchanged poll is a 304 with no
body: the validators (``ETag``, ``Last-Modified``) of the last answer are sent
back as ``If-None-Match`` / ``If-Modified-Since``. The URL is opaque and its
``temp_url_sig`` is a secret; it is registered with the redactor and only the
redacted URL ever appears in a message.
"""
from __future__ import annotations

import urllib.parse
from typing import Any, Mapping

from .. import httpclient, redaction
from . import Fetched, SourceError, http_get, json_object, require, status_error

KIND = "request"
_CONDITIONS = (("ETag", "If-None-Match"), ("Last-Modified", "If-Modified-Since"))


class TempURLSource:
    """Conditional GETs of one Swift TempURL."""

    kind = KIND
    required = ("metadata_url",)
    local = False

    def __init__(self, settings: Mapping[str, Any], *, timeout: float, tls: httpclient.TLSOptions) -> None:
        self.url = require(KIND, settings, *self.required)["metadata_url"].strip()
        for name, value in urllib.parse.parse_qsl(urllib.parse.urlsplit(self.url).query):
            if name == "temp_url_sig":
                redaction.remember(value)
        self.timeout, self.tls = timeout, tls

    def fetch(self, validators: dict[str, str]) -> Fetched:
        """Fetched(None) on 304 (nothing parsed); the new body and validators on 200."""
        headers = {request: validators[answer] for answer, request in _CONDITIONS if validators.get(answer)}
        response = http_get(KIND, self.url, headers=headers, timeout=self.timeout, tls=self.tls)
        if response.status == 304:
            return Fetched(None, dict(validators))
        if response.status != 200:
            raise self._error(response)
        json_object(KIND, response.body, "the metadata object")
        content = response.body if response.body.strip() else b"{}"
        new = {answer: value for answer, _ in _CONDITIONS if (value := response.header(answer))}
        return Fetched(content, new)

    def _error(self, response: httpclient.Response) -> SourceError:
        where = f"swift TempURL {redaction.redact_url(self.url)}"
        if response.status in (401, 403):
            return status_error(KIND, where, response, "refused: the TempURL expired or its signature "
                                "no longer matches the account's key")
        if response.status == 404:
            return status_error(KIND, where, response, "no such object (the container may have been deleted)")
        return status_error(KIND, where, response)
