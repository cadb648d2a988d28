# Tunables of the heat-config element; README.rst says what each one does.

# stoker: the stoker daemon polls and applies deployments (stoker.service).
# classic: os-collect-config + os-refresh-config + os-apply-config from the
#          distribution, with configure.d/55-heat-config running "stoker dispatch".
export DIB_HEAT_CONFIG_AGENT=${DIB_HEAT_CONFIG_AGENT:-stoker}

# Where the agent's venv lives in the image.
export DIB_STOKER_VENV=${DIB_STOKER_VENV:-/opt/stoker}

# What pip installs into that venv ("stoker", "stoker==0.1.0", ...).
export DIB_STOKER_PIP_SPEC=${DIB_STOKER_PIP_SPEC:-stoker}

# Extra pip arguments, e.g. "--index-url https://pypi.example/simple".
export DIB_STOKER_PIP_ARGS=${DIB_STOKER_PIP_ARGS:-}

# A directory on the build host holding stoker's wheel (and any other wheels
# wanted): installed offline with --no-index --find-links. Empty: use the index.
export DIB_STOKER_WHEELHOUSE=${DIB_STOKER_WHEELHOUSE:-}

# A stoker.conf on the build host to install as /etc/stoker/stoker.conf.
# Empty: the sample shipped with stoker (every key at its default).
export DIB_STOKER_CONF=${DIB_STOKER_CONF:-}

# Prometheus metrics for node_exporter's textfile collector: "auto" writes
# /var/lib/prometheus/node-exporter/stoker.prom when the image has node_exporter
# (its collector directory exists at build time), a path always, "off" never.
export DIB_STOKER_METRICS_FILE=${DIB_STOKER_METRICS_FILE:-auto}
