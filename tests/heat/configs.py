"""The config files of Keystone, Heat, Swift, Zaqar and Redis, rendered for one harness Layout.

Only the settings that a loopback, sqlite, broker-less Heat needs (heat-api-cfn's EC2 auth,
the policy fix for cfn polling, an all-in-one Swift, a Zaqar on Redis, heat.conf's
essentials); everything else keeps the upstream default so that the harness behaves like a
stock install. Every path points into the harness directory: nothing goes to /etc.
"""
from __future__ import annotations

import getpass
from pathlib import Path

from . import layout as L
from .layout import Layout

Sections = dict[str, dict[str, object]]


def render_ini(sections: Sections) -> str:
    """INI text from {section: {key: value}}; lists become comma-separated."""
    out = []
    for name, values in sections.items():
        out.append(f"[{name}]")
        for key, value in values.items():
            if isinstance(value, (list, tuple)):
                value = ", ".join(str(v) for v in value)
            out.append(f"{key} = {value}")
        out.append("")
    return "\n".join(out)


def sqlite_url(path: Path) -> str:
    """A sqlite URL that waits up to 30 s for a lock instead of failing at once."""
    return f"sqlite:///{path}?timeout=30"


def keystone_conf(lay: Layout) -> str:
    """Fernet tokens, sqlite, key repositories inside the harness; a cache, as production has.

    Every deployment guide turns Keystone's cache on; without it each token check walks
    the database (roles, catalog, revocations) and a fleet of a few dozen servers keeps
    Keystone busier than Heat. The harness runs one Keystone worker, so the in-process
    dictionary backend is coherent (Keystone invalidates it on its own writes).
    """
    keys = lay.etc / "keystone"
    return render_ini({
        "DEFAULT": {"use_stderr": "true"},
        "cache": {"enabled": "true", "backend": "oslo_cache.dict"},
        "database": {"connection": sqlite_url(lay.var / "keystone.db")},
        "token": {"provider": "fernet"},
        "fernet_tokens": {"key_repository": keys / "fernet-keys"},
        "fernet_receipts": {"key_repository": keys / "fernet-keys"},
        "credential": {"key_repository": keys / "credential-keys"},
    })


def _password_auth(lay: Layout, user: str = "heat") -> dict[str, object]:
    """keystoneauth password options for a service user of the `service` project."""
    return {
        "auth_type": "password", "auth_url": lay.keystone_url,
        "username": user, "password": L.SERVICE_PASSWORD,
        "user_domain_name": "Default", "project_name": "service",
        "project_domain_name": "Default",
    }


def heat_conf(lay: Layout) -> str:
    """heat.conf: fake RPC in one process, loopback URLs, sqlite, the cfn policy fix."""
    cfn = lay.url("heat_cfn")
    authtoken = _password_auth(lay)
    authtoken["www_authenticate_uri"] = lay.keystone_url
    trustee = _password_auth(lay)
    for key in ("project_name", "project_domain_name"):
        trustee.pop(key)
    ec2 = _password_auth(lay)
    ec2["endpoint_override"] = lay.url("keystone")  # Heat appends /v3/ec2tokens
    return render_ini({
        "DEFAULT": {
            "transport_url": "fake://", "num_engine_workers": 1, "host": "stoker-harness",
            "use_stderr": "true", "auth_encryption_key": L.AUTH_ENCRYPTION_KEY,
            "heat_metadata_server_url": cfn,
            "heat_waitcondition_server_url": f"{cfn}/v1/waitcondition",
            "stack_user_domain_name": "heat", "stack_domain_admin": "heat_domain_admin",
            "stack_domain_admin_password": L.SERVICE_PASSWORD,
            "region_name_for_services": "RegionOne",
        },
        "database": {"connection": sqlite_url(lay.var / "heat.db")},
        "keystone_authtoken": authtoken,
        "trustee": trustee,
        "clients_keystone": {"auth_uri": lay.url("keystone")},
        "ec2authtoken": ec2,
        "oslo_messaging_notifications": {"driver": "noop"},
        "oslo_policy": {"policy_file": lay.etc / "heat" / "policy.yaml"},
        "paste_deploy": {"api_paste_config": lay.heat_venv / "etc/heat/api-paste.ini"},
    })


# Upstream bug (README.md, "Troubleshooting"): heat-api-cfn checks this rule with an empty target,
# so the shipped default never lets a stack user read its server's metadata.
HEAT_POLICY = '"cloudformation:DescribeStackResource": "role:reader or role:heat_stack_user"\n'

SWIFT_RING_PORTS = {"object": "swift_object", "container": "swift_container",
                    "account": "swift_account"}


def swift_conf() -> str:
    """swift.conf: hash salts and the one storage policy."""
    return render_ini({
        "swift-hash": {"swift_hash_path_suffix": "stoker-harness",
                       "swift_hash_path_prefix": "stoker"},
        "storage-policy:0": {"name": "Policy-0", "default": "yes"},
    })


def _swift_default(lay: Layout, port: str) -> dict[str, object]:
    """The [DEFAULT] every Swift server needs to run unprivileged from the harness."""
    return {
        "bind_ip": L.HOST, "bind_port": lay.port(port), "workers": 0,
        "user": getpass.getuser(), "swift_dir": lay.etc / "swift",
        "devices": lay.var / "swift", "mount_check": "false",
        "log_name": port, "log_level": "INFO",
    }


def swift_storage_conf(lay: Layout, kind: str) -> str:
    """object-, container- or account-server.conf."""
    return render_ini({
        "DEFAULT": _swift_default(lay, SWIFT_RING_PORTS[kind]),
        "pipeline:main": {"pipeline": f"{kind}-server"},
        f"app:{kind}-server": {"use": f"egg:swift#{kind}"},
    })


def proxy_conf(lay: Layout) -> str:
    """proxy-server.conf: TempURL (PUT too, for signals) before Keystone auth."""
    default = _swift_default(lay, "swift_proxy")
    for key in ("devices", "mount_check"):
        default.pop(key)
    authtoken = _password_auth(lay, "swift")
    authtoken.update({"paste.filter_factory": "keystonemiddleware.auth_token:filter_factory",
                      "www_authenticate_uri": lay.keystone_url,
                      "delay_auth_decision": "true"})
    return render_ini({
        "DEFAULT": default,
        "pipeline:main": {"pipeline": "catch_errors proxy-logging listing_formats tempurl "
                                      "authtoken keystoneauth proxy-logging proxy-server"},
        "app:proxy-server": {"use": "egg:swift#proxy", "account_autocreate": "true"},
        "filter:catch_errors": {"use": "egg:swift#catch_errors"},
        "filter:proxy-logging": {"use": "egg:swift#proxy_logging"},
        "filter:listing_formats": {"use": "egg:swift#listing_formats"},
        "filter:tempurl": {"use": "egg:swift#tempurl",
                           "methods": "GET HEAD PUT POST DELETE"},
        "filter:authtoken": authtoken,
        "filter:keystoneauth": {"use": "egg:swift#keystoneauth",
                                "operator_roles": "admin, member, heat_stack_owner"},
    })


def compute_conf(lay: Layout) -> str:
    """The compute endpoint's config (runtime/compute_api.py): its port, Heat's database, auth."""
    return render_ini({
        "DEFAULT": {"bind_port": lay.port("compute"), "heat_database": lay.var / "heat.db"},
        "keystone_authtoken": _password_auth(lay, "nova"),
    })


# Zaqar signs the pre-signed queue URLs Heat makes for ZAQAR_SIGNAL with this key.
ZAQAR_SIGNED_URL_KEY = "stoker-harness-zaqar-signed-url-key"


def redis_url(lay: Layout) -> str:
    """Zaqar's Redis URI: the harness's Unix socket (a loaded machine needs a timeout over 0.1 s)."""
    return f"redis://{lay.redis_socket}?socket_timeout=10"


def zaqar_conf(lay: Layout) -> str:
    """zaqar.conf: WSGI transport, Keystone auth, messages and queue catalogue in Redis."""
    authtoken = _password_auth(lay, "zaqar")
    authtoken["www_authenticate_uri"] = lay.keystone_url
    return render_ini({
        "DEFAULT": {"auth_strategy": "keystone", "use_stderr": "true"},
        "drivers": {"transport": "wsgi", "message_store": "redis",
                    "management_store": "redis"},
        "drivers:message_store:redis": {"uri": redis_url(lay)},
        "drivers:management_store:redis": {"uri": redis_url(lay)},
        "signed_url": {"secret_key": ZAQAR_SIGNED_URL_KEY},
        "keystone_authtoken": authtoken,
    })


def redis_conf(lay: Layout) -> str:
    """redis.conf: the Unix socket only (port 0), data under var/redis, Redis's default saves."""
    return "\n".join([
        "port 0",
        f"unixsocket {lay.redis_socket}",
        "unixsocketperm 700",
        f"dir {lay.var / 'redis'}",
        "save 3600 1 300 100 60 10000",
        "daemonize no",
        'logfile ""',
        "",
    ])


def write_all(lay: Layout) -> None:
    """Write every config file of the harness."""
    files = {
        lay.etc / "keystone" / "keystone.conf": keystone_conf(lay),
        lay.etc / "heat" / "heat.conf": heat_conf(lay),
        lay.etc / "heat" / "policy.yaml": HEAT_POLICY,
        lay.etc / "swift" / "swift.conf": swift_conf(),
        lay.etc / "swift" / "proxy-server.conf": proxy_conf(lay),
        lay.etc / "compute" / "compute.conf": compute_conf(lay),
        lay.etc / "zaqar" / "zaqar.conf": zaqar_conf(lay),
        lay.etc / "redis" / "redis.conf": redis_conf(lay),
    }
    for kind in SWIFT_RING_PORTS:
        files[lay.etc / "swift" / f"{kind}-server.conf"] = swift_storage_conf(lay, kind)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
