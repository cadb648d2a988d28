"""Packaging for stoker.

The agent lives in ``agent/stoker``; the hook executables in ``hooks/`` are
shipped inside the package as ``stoker/hooks`` so that a plain ``pip install``
gives a working agent with its own hooks (the agent searches the upstream hook
directories first, then these).
"""
from setuptools import setup

setup(
    name="stoker",
    version="0.1.0",
    description="Software-configuration agent for OpenStack Heat servers",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    package_dir={"stoker": "agent/stoker", "stoker.hooks": "hooks"},
    packages=["stoker", "stoker.cli", "stoker.sources", "stoker.signals", "stoker.hooks"],
    package_data={"stoker.hooks": ["*"], "stoker": ["data/*"]},
    install_requires=[],
    extras_require={"jinja2": ["Jinja2>=3"]},
    entry_points={
        "console_scripts": [
            "stoker = stoker.cli:main",
            "heat-config-notify = stoker.notify_cli:main",
        ],
    },
)
