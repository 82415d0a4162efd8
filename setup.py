import re
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def read_version() -> str:
    """txzaqar/_version.py's __version__, read without importing the package."""
    text = (HERE / "txzaqar" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise RuntimeError("no __version__ = \"...\" line in txzaqar/_version.py")
    return match.group(1)


setup(
    name="txzaqar",
    version=read_version(),
    description="A Twisted client for OpenStack Zaqar, the multi-tenant message queue service",
    long_description=(HERE / "README.rst").read_text(encoding="utf-8"),
    long_description_content_type="text/x-rst",
    # PEP 639: License-Expression and License-File (setuptools >= 77); they
    # replace the "License ::" classifier, which setuptools now refuses
    # beside an expression.
    license_expression="Apache-2.0",
    license_files=["LICENSE"],
    python_requires=">=3.11",
    # An explicit root makes an editable install (pip install -e .) a plain
    # .pth with this directory, so twistd's plugin scan of sys.path finds
    # twisted/plugins here; without it setuptools installs an import hook
    # that the scan cannot see.
    package_dir={"": "."},
    packages=[
        "txzaqar",
        "txzaqar._support",
        "txzaqar.api",
        "txzaqar.auth",
        "txzaqar.cli",
        "txzaqar.daemon",
        "txzaqar.http",
        "txzaqar.interfaces",
        "txzaqar.ops",
        "txzaqar.subscriber",
        "txzaqar.push",
        "txzaqar.test",
        "txzaqar.test.helpers",
        "txzaqar.test.unit",
        "txzaqar.test.integration",
        "txzaqar.test.reliability",
        "txzaqar.testing",
        "txzaqar.testing.servers",
        "txzaqar.testing.memory",
        # twistd plugin: a namespace without __init__.py, listed by hand.
        "twisted.plugins",
    ],
    package_data={"twisted": ["plugins/txzaqar_plugins.py"],
                  # the hardened systemd units (README, "Running it in production"), the
                  # alerting rules and the dashboard (README, "Metrics and health")
                  "txzaqar": ["py.typed", "daemon/systemd/*.service", "ops/monitoring/alerts.yml",
                              "ops/monitoring/dashboard.json"]},
    # the command line (README, "The command line")
    entry_points={"console_scripts": ["txzaqar = txzaqar.cli:main"]},
    install_requires=[
        "Twisted[tls]>=24.7",
        "treq>=23.11",
        "attrs>=23.1",
        "zope.interface>=6.0",
        "keystoneauth1>=5.0",
        # metrics of the Subscriber, /metrics of the daemon (txzaqar.ops.metrics, txzaqar.ops.health)
        "prometheus-client>=0.17",
        # WebSocket push notifications (txzaqar.push.WebSocketPush)
        "autobahn>=22.3.2",
    ],
    extras_require={
        # Only for Keystone.from_cloud / --os-cloud (reading clouds.yaml).
        "clouds": ["PyYAML"],
        "dev": [
            "coverage",
            "hypothesis",
            "mypy==1.13.0",
            "mypy-zope==1.0.9",
            "ruff",
        ],
    },
    project_urls={
        # Source, Issues and Changelog go here once the public repository's
        # address is settled.
        "Zaqar": "https://docs.openstack.org/zaqar/latest/",
        "Zaqar API reference": "https://docs.openstack.org/api-ref/message/",
    },
    # The Python versions are exactly the ones tox tests (py311 in "tests",
    # py312-unit, py313-unit).
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Framework :: Twisted",
        "Intended Audience :: Developers",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Programming Language :: Python :: Implementation :: CPython",
        "Topic :: Software Development :: Libraries :: Python Modules",
        "Topic :: System :: Distributed Computing",
        "Topic :: System :: Networking",
        "Typing :: Typed",
    ],
)
