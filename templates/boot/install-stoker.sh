#!/bin/sh
# install-stoker.sh: install stoker on a plain cloud image at first boot.
# server-with-stoker.yaml runs it through cloud-init (a part of the server's user_data,
# next to Heat's own cfn-init-data part, which leaves the metadata stoker bootstraps from
# in /var/lib/heat-cfntools/cfn-init-data). It needs python3 with the venv module
# (Debian/Ubuntu: python3-venv; installed here with apt-get when missing).
#   STOKER_PIP_SPEC     what to pip install (a PyPI name, a wheel URL, git+https://...)
#   STOKER_PIP_OPTIONS  extra pip options (e.g. --index-url https://mirror/simple)
#   STOKER_ROOT         install under this directory instead of / (for testing the script);
#                       the service is then neither enabled nor started
set -eu
ROOT="${STOKER_ROOT:-}"
SPEC="${STOKER_PIP_SPEC:-__STOKER_PIP_SPEC__}"
PIP_OPTIONS="${STOKER_PIP_OPTIONS:-__STOKER_PIP_OPTIONS__}"
PREFIX=/opt/stoker

log() { echo "install-stoker: $*" >&2; }

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  if [ -z "$ROOT" ] && command -v apt-get >/dev/null; then
    log "installing python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >&2
  else
    log "python3 with the venv module is needed"; exit 1
  fi
fi

log "installing $SPEC into $ROOT$PREFIX"
python3 -m venv "$ROOT$PREFIX"
# shellcheck disable=SC2086  # PIP_OPTIONS is a list of options
"$ROOT$PREFIX/bin/pip" install --quiet $PIP_OPTIONS "$SPEC"
PACKAGE=$("$ROOT$PREFIX/bin/python" -c 'import os, stoker; print(os.path.dirname(stoker.__file__))')
HOOKS_SOURCE=$("$ROOT$PREFIX/bin/python" -c 'from stoker.config import bundled_hooks_dir; print(bundled_hooks_dir())')

# The hooks, where upstream tools look for them, running with stoker's python (jinja2 etc.).
HOOKS="$ROOT/usr/libexec/heat-config/hooks"
mkdir -p "$HOOKS"
for hook in "$HOOKS_SOURCE"/*; do
  name=$(basename "$hook")
  case "$name" in __init__.py|__pycache__) continue ;; esac
  sed "1s|^#!.*python3*\$|#!$PREFIX/bin/python3|" "$hook" > "$HOOKS/$name"
  chmod 0755 "$HOOKS/$name"
done

mkdir -p "$ROOT/etc/systemd/system"
cp "$PACKAGE/data/stoker.service" "$ROOT/etc/systemd/system/stoker.service"
chmod 0644 "$ROOT/etc/systemd/system/stoker.service"

if [ -z "$ROOT" ]; then
  systemctl daemon-reload
  systemctl enable --now stoker.service
  log "stoker is running"
else
  log "installed under $ROOT (service not started)"
fi
