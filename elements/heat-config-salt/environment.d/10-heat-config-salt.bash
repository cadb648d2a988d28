# How the heat-config-salt element gets salt-call into the image. Debian does
# not package Salt, so by default it is pip-installed into its own venv.
# README.rst says more.

# A directory on the build host with Salt's wheels and its dependencies' (made with
# "pip wheel -w DIR salt"): installed offline with --no-index --find-links, as
# air-gapped builders need. Empty: install from the package index.
export DIB_HEAT_CONFIG_SALT_WHEELHOUSE=${DIB_HEAT_CONFIG_SALT_WHEELHOUSE:-}

# What pip installs ("salt", "salt==3007.1", ...) and extra pip arguments
# (e.g. "--index-url https://pypi.example/simple").
export DIB_HEAT_CONFIG_SALT_PIP_SPEC=${DIB_HEAT_CONFIG_SALT_PIP_SPEC:-salt}
export DIB_HEAT_CONFIG_SALT_PIP_ARGS=${DIB_HEAT_CONFIG_SALT_PIP_ARGS:-}

# Where Salt's venv lives in the image; salt-call is linked into /usr/local/bin.
export DIB_HEAT_CONFIG_SALT_VENV=${DIB_HEAT_CONFIG_SALT_VENV:-/opt/salt}

# Or a distribution package that provides salt-call (e.g. "salt-minion" from the Salt
# project's repository, configured by another element) instead of pip; "none" installs
# only the hook, for images that get Salt another way.
export DIB_HEAT_CONFIG_SALT_PACKAGE=${DIB_HEAT_CONFIG_SALT_PACKAGE:-}
