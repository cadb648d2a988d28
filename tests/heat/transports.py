"""Read server metadata and send signals the way an agent inside the server does.

Uses only what the metadata itself carries (the stack user's credentials, TempURLs,
pre-signed URLs), never the test's own token: that is what proves the agent's view works.
Covers the transports of docs/protocol.md, "Transports" (cfn, heat, request) and its
"Signals" (CFN_SIGNAL, TEMP_URL_SIGNAL, HEAT_SIGNAL).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Any

from .client import catalog_url, keystone_login
from .rest import Response, expect


def agent_metadata(metadata: dict) -> dict:
    """Fetch the server metadata through the transport its os-collect-config names."""
    occ = metadata["os-collect-config"]
    for name in occ.get("collectors", []):
        section = occ.get(name) or {}
        if name == "request" and section.get("metadata_url"):
            return expect("GET", section["metadata_url"]).json()
        if name == "cfn" and section.get("metadata_url"):
            return cfn_metadata(section)
        if name == "heat" and section.get("user_id"):
            return heat_metadata(section)
    raise LookupError(f"no usable transport in {sorted(occ)}")


def aws_v2_query(url: str, params: dict[str, str], access: str, secret: str,
                 method: str = "GET") -> str:
    """Sign query parameters with AWS signature version 2; return the full URL."""
    parts = urllib.parse.urlsplit(url)
    params = {**params, "AWSAccessKeyId": access, "SignatureVersion": "2",
              "SignatureMethod": "HmacSHA256"}
    quote = lambda s: urllib.parse.quote(str(s), safe="-_.~")  # noqa: E731
    canonical = "&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}\n{parts.netloc}\n{parts.path or '/'}\n{canonical}"
    digest = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).digest()
    signature = quote(base64.b64encode(digest).decode())
    return f"{url.split('?')[0]}?{canonical}&Signature={signature}"


def cfn_metadata(section: dict) -> dict:
    """DescribeStackResource on heat-api-cfn, signed with the stack user's EC2 keys."""
    resource, *rest = section["path"].split(".")
    url = aws_v2_query(section["metadata_url"],
                       {"Action": "DescribeStackResource", "StackName": section["stack_name"],
                        "LogicalResourceId": resource},
                       section["access_key_id"], section["secret_access_key"])
    root = ET.fromstring(expect("GET", url).body)
    text = root.findtext(".//Metadata") or "{}"
    doc: Any = json.loads(text)
    for key in rest[1:]:  # rest[0] is "Metadata"
        doc = doc[key]
    return doc


def v3_url(auth_url: str) -> str:
    """Keystone's v3 base from whatever auth_url Heat wrote (docs/protocol.md, "Heat")."""
    url = auth_url.rstrip("/").removesuffix("/v2.0")
    return url if url.endswith("/v3") else url + "/v3"


def heat_metadata(section: dict) -> dict:
    """GET the server resource's metadata with the stack user's Keystone password."""
    token, body = keystone_login(v3_url(section["auth_url"]), {
        "identity": {"methods": ["password"], "password": {"user": {
            "id": section["user_id"], "password": section["password"]}}},
        "scope": {"project": {"id": section["project_id"]}}})
    heat = catalog_url(body, "orchestration")
    path = f"stacks/{section['stack_id']}/resources/{section['resource_name']}/metadata"
    return expect("GET", f"{heat}/{path}", token=token).json()["metadata"]


def inputs(item: dict) -> dict[str, Any]:
    """A deployment item's inputs as {name: value}."""
    return {i["name"]: i.get("value") for i in item.get("inputs", [])}


def send_signal(item: dict, payload: dict) -> Response:
    """Signal a deployment item's result through its deploy_signal_transport."""
    ins = inputs(item)
    transport = ins.get("deploy_signal_transport")
    if transport in ("CFN_SIGNAL", "TEMP_URL_SIGNAL"):
        verb = ins.get("deploy_signal_verb") or ("PUT" if transport == "TEMP_URL_SIGNAL"
                                                else "POST")
        return expect(verb, ins["deploy_signal_id"], body=payload)
    if transport == "HEAT_SIGNAL":
        token, body = keystone_login(v3_url(ins["deploy_auth_url"]), {
            "identity": {"methods": ["password"], "password": {"user": {
                "id": ins["deploy_user_id"], "password": ins["deploy_password"]}}},
            "scope": {"project": {"id": ins["deploy_project_id"]}}})
        heat = catalog_url(body, "orchestration")
        path = (f"stacks/{ins['deploy_stack_id']}/resources/"
                f"{ins['deploy_resource_name']}/signal")
        return expect("POST", f"{heat}/{path}", token=token, body=payload)
    raise ValueError(f"cannot signal transport {transport!r}")
