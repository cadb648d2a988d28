"""A real OpenStack Heat (with Keystone and Swift) on loopback, for tests.

The harness installs Heat and Swift from PyPI into two venvs, configures them with
sqlite and no message broker, and runs them on 127.0.0.1 so that tests can create real
stacks and watch a real engine react to an agent's metadata reads and signals. The
measured facts it is built from are written down where they are applied: each module's
docstring says which of them it applies.

  layout      where things live, which ports       install     the two venvs
  configs     keystone/heat/swift config files     provision   one-time setup
  keystone_admin  users, roles, endpoints          services    start/stop by pidfile
  rest        urllib JSON helper                   client      Heat API for tests
  transports  metadata reads and signals as an agent does them
  fixtures    pytest fixtures                      runtime/    code run in the service venvs
"""
