from setuptools import setup

setup(
    name="txzaqar",
    version="0.1.0.dev0",
    description="A Twisted client for OpenStack Zaqar, the multi-tenant message queue service",
    long_description=open("README.rst", encoding="utf-8").read(),
    long_description_content_type="text/x-rst",
    license="Apache-2.0",
    python_requires=">=3.11",
    # An explicit root makes an editable install (pip install -e .) a plain
    # .pth with this directory, so twistd's plugin scan of sys.path finds
    # twisted/plugins here; without it setuptools installs an import hook
    # that the scan cannot see.
    package_dir={"": "."},
    packages=[
        "txzaqar",
        "txzaqar.subscriber",
        "txzaqar.test",
        "txzaqar.test.unit",
        "txzaqar.test.integration",
        "txzaqar.testing",
        "txzaqar.testing.servers",
        "txzaqar.testing.memory",
        # twistd plugin: a namespace without __init__.py, listed by hand.
        "twisted.plugins",
    ],
    package_data={"twisted": ["plugins/txzaqar_plugins.py"], "txzaqar": ["py.typed"]},
    install_requires=[
        "Twisted[tls]>=24.7",
        "treq>=23.11",
        "attrs>=23.1",
        "zope.interface>=6.0",
        "keystoneauth1>=5.0",
        # metrics of the Subscriber, /metrics of the daemon (txzaqar.metrics, txzaqar.health)
        "prometheus-client>=0.17",
    ],
    extras_require={
        # Only for Keystone.from_cloud / --os-cloud (reading clouds.yaml).
        "clouds": ["PyYAML"],
        "dev": [
            "coverage",
            "mypy==1.13.0",
            "mypy-zope==1.0.9",
            "ruff",
        ],
    },
    classifiers=[
        "Framework :: Twisted",
        "Programming Language :: Python :: 3",
        "Topic :: System :: Networking",
    ],
)
