"""Create the Keystone users, projects, roles, domain and endpoints Heat and Swift need.

Talks to the running Keystone's REST API as the bootstrap admin. Every step first looks
the object up by name, so running setup twice changes nothing.
"""
from __future__ import annotations

from . import layout as L
from .layout import Layout
from .rest import expect

STACK_ROLES = ("heat_stack_owner", "heat_stack_user")
# Service users of the `service` project: each service checks its callers' tokens as itself.
SERVICE_USERS = ("heat", "swift", "nova", "zaqar")


class Admin:
    """A Keystone admin session: a token and idempotent `ensure_*` helpers."""

    def __init__(self, lay: Layout) -> None:
        self.lay = lay
        self.base = lay.keystone_url
        self.token = password_token(self.base, "admin", L.ADMIN_PASSWORD, "admin")

    def _find(self, kind: str, **query: str) -> dict | None:
        """The first `kind` object matching the query, or None."""
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        found = expect("GET", f"{self.base}/{kind}?{qs}", token=self.token).json()[kind]
        return found[0] if found else None

    def ensure(self, kind: str, body: dict, **query: str) -> str:
        """The id of a `kind` object matching `query`, created from `body` if missing."""
        found = self._find(kind, **query)
        if found:
            return found["id"]
        single = kind[:-1]
        resp = expect("POST", f"{self.base}/{kind}", token=self.token, body={single: body})
        return resp.json()[single]["id"]

    def project(self, name: str, domain: str = "default") -> str:
        return self.ensure("projects", {"name": name, "domain_id": domain},
                           name=name, domain_id=domain)

    def user(self, name: str, password: str, domain: str = "default") -> str:
        return self.ensure("users", {"name": name, "password": password, "domain_id": domain},
                           name=name, domain_id=domain)

    def role(self, name: str) -> str:
        return self.ensure("roles", {"name": name}, name=name)

    def grant(self, role: str, user: str, project: str | None = None,
              domain: str | None = None) -> None:
        """Give `user` the role on a project or a domain (PUT is idempotent)."""
        target = f"projects/{project}" if project else f"domains/{domain}"
        expect("PUT", f"{self.base}/{target}/users/{user}/roles/{self.role(role)}",
               token=self.token)

    def endpoint(self, service_type: str, name: str, url: str) -> None:
        """A service with public and internal endpoints in RegionOne."""
        service = self.ensure("services", {"type": service_type, "name": name},
                              type=service_type)
        for interface in ("public", "internal"):
            self.ensure("endpoints", {"service_id": service, "interface": interface,
                                      "url": url, "region_id": "RegionOne"},
                        service_id=service, interface=interface)


def password_token(base: str, user: str, password: str, project: str) -> str:
    """A project-scoped token for a user of the Default domain."""
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
    return expect("POST", f"{base}/auth/tokens", body=body).headers["X-Subject-Token"]


def configure_keystone(lay: Layout) -> None:
    """Users, roles, endpoints and the heat domain Heat needs after `keystone-manage bootstrap`, plus a demo user."""
    adm = Admin(lay)
    service = adm.project("service")
    for name in SERVICE_USERS:
        adm.grant("admin", adm.user(name, L.SERVICE_PASSWORD), project=service)
    for role in STACK_ROLES:
        adm.role(role)
    demo = adm.project("demo")
    demo_user = adm.user("demo", L.DEMO_PASSWORD)
    for role in ("member", "heat_stack_owner"):
        adm.grant(role, demo_user, project=demo)
    admin_project = adm.project("admin")
    adm.grant("heat_stack_owner", adm.user("admin", L.ADMIN_PASSWORD), project=admin_project)
    adm.endpoint("orchestration", "heat", lay.url("heat_api") + "/v1/%(tenant_id)s")
    adm.endpoint("cloudformation", "heat-cfn", lay.url("heat_cfn") + "/v1")
    adm.endpoint("object-store", "swift", lay.url("swift_proxy") + "/v1/AUTH_%(tenant_id)s")
    adm.endpoint("compute", "nova", lay.url("compute") + "/v2.1")
    adm.endpoint("messaging", "zaqar", lay.url("zaqar"))
    heat_domain = adm.ensure("domains", {"name": "heat", "description": "Heat stack users"},
                             name="heat")
    domain_admin = adm.user("heat_domain_admin", L.SERVICE_PASSWORD, domain=heat_domain)
    adm.grant("admin", domain_admin, domain=heat_domain)
