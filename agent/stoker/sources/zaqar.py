"""ZAQAR_MESSAGE: the server's metadata as the newest message Heat posted to its Zaqar queue (docs/protocol.md, "Zaqar").

Heat posts the whole metadata document as a message body each time it
changes; the newest such message is the current document. The queue is only
*listed*, never popped or claimed: a crash between reading and deploying must
not lose the document, and the journal already stops re-runs. The listing
pages by marker; the last marker is kept in memory, so an unchanged poll is
one GET answered with an empty page, and after a restart the first poll reads
the whole queue again and takes the newest document in it.
"""
from __future__ import annotations

import logging
import urllib.parse
import uuid
from typing import Any, Mapping

from .. import httpclient, keystone
from . import Fetched, SourceError, encode, json_object, require, token_get, token_status_error

KIND = "zaqar"
PAGE_LIMIT = 20   # Zaqar's largest page (max_messages_per_page)
MAX_PAGES = 100   # per poll; the rest is read from the marker on the next poll
LOG = logging.getLogger("stoker.sources.zaqar")


class ZaqarSource:
    """Non-destructive listings of one Zaqar queue, from the last marker seen, with one reused token."""

    kind = KIND
    required = (*keystone.CREDENTIALS, "queue_id")
    local = False

    def __init__(self, settings: Mapping[str, Any], *, timeout: float, tls: httpclient.TLSOptions) -> None:
        found = require(KIND, settings, *self.required)
        self.session = keystone.session_from(settings, timeout=timeout, tls=tls)
        self.queue_id, self.project_id = found["queue_id"], found["project_id"]
        self.client_id = str(uuid.uuid4())  # Zaqar requires one; stable so its logs show one reader
        self.marker: str | None = None  # where the last complete read ended

    def fetch(self, validators: dict[str, str]) -> Fetched:
        """The newest object posted since the last poll, or Fetched(None) when nothing new came.

        The marker advances only when the whole read succeeded, so a failure
        half-way makes the next poll read the same messages again.
        """
        newest: dict[str, Any] | None = None
        marker = self.marker
        for _ in range(MAX_PAGES):
            messages, following = self._page(marker)
            if not messages:
                break
            found = _newest_object(messages, self.queue_id)
            newest = found if found is not None else newest
            if following is None or following == marker:
                break  # no way forward: read again from here next time
            marker = following
        self.marker = marker
        return Fetched(None if newest is None else encode(newest), {})

    def _page(self, marker: str | None) -> tuple[list[Any], str | None]:
        """One page of messages after ``marker`` and the marker of its ``next`` link."""
        headers = {"Client-ID": self.client_id, "X-Project-Id": self.project_id}
        response = token_get(KIND, self.session, "messaging", lambda endpoint: self._url(endpoint, marker),
                             headers=headers)
        if response.status == 204:  # older Zaqar APIs answer an empty listing this way
            return [], None
        if response.status != 200:
            raise self._error(response)
        answer = json_object(KIND, response.body, "the message listing")
        messages = answer.get("messages") or []
        if not isinstance(messages, list):
            raise SourceError(f"zaqar: the message listing's messages is {type(messages).__name__}, "
                              "not a list", transient=False)
        return messages, next_marker(answer.get("links"))

    def _url(self, endpoint: str, marker: str | None) -> str:
        """The listing URL, built on the catalog endpoint (a ``next`` href may lack its path prefix)."""
        query = {"echo": "true", "limit": str(PAGE_LIMIT)}
        if marker:
            query["marker"] = marker
        queue = urllib.parse.quote(self.queue_id, safe="")
        return f"{endpoint.rstrip('/')}/v2/queues/{queue}/messages?{urllib.parse.urlencode(query)}"

    def _error(self, response: httpclient.Response) -> SourceError:
        return token_status_error(KIND, f"zaqar queue {self.queue_id}", response,
                                  forbidden="the stack user may not read this queue",
                                  missing="no such queue")


def next_marker(links: Any) -> str | None:
    """The ``marker`` query value of the ``rel: next`` link, if there is one."""
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("rel") == "next" and isinstance(link.get("href"), str):
            values = urllib.parse.parse_qs(urllib.parse.urlsplit(link["href"]).query).get("marker")
            return values[-1] if values else None
    return None


def _newest_object(messages: list[Any], queue: str) -> dict[str, Any] | None:
    """The body of the newest message that can be metadata; other bodies are skipped with a warning."""
    for message in reversed(messages):
        body = message.get("body") if isinstance(message, dict) else None
        if isinstance(body, dict):
            return body
        LOG.warning("zaqar queue %s: skipping message %s, whose body is %s, not a JSON object",
                    queue, message.get("id") if isinstance(message, dict) else "?", type(body).__name__)
    return None
