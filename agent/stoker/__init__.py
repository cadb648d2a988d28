"""stoker: the software-configuration agent for OpenStack Heat servers."""
__version__ = "0.1.0"
