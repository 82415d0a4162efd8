"""
The one place that reads txzaqar's environment variables: C{ZAQAR_URL}
and the C{OS_*} variables that OpenStack tools share.

Each function takes the environment as a mapping, C{os.environ} when it
is omitted (looked up at each call, so a test may replace it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

#: Values of C{OS_INSECURE} that mean "do not verify TLS certificates".
TRUE = ("1", "true", "yes")

#: C{OS_*} variables that are not options of a keystoneauth1 plugin, and
#: the keyword arguments of L{txzaqar.auth.Keystone.from_options} they set.
CONNECTION_VARIABLES = (
    ("region_name", "OS_REGION_NAME"),
    ("interface", "OS_INTERFACE"),
    ("cacert", "OS_CACERT"),
    ("cert", "OS_CERT"),
    ("key", "OS_KEY"),
)


def variable(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of C{$name}, or C{None} when it is unset or empty."""
    env = os.environ if environ is None else environ
    return env.get(name) or None


def zaqar_url(environ: Mapping[str, str] | None = None) -> str | None:
    """C{$ZAQAR_URL}: Zaqar's base URL."""
    return variable("ZAQAR_URL", environ)


def insecure(environ: Mapping[str, str] | None = None) -> bool:
    """Whether C{$OS_INSECURE} turns TLS verification off (C{1}, C{true} or C{yes})."""
    return (variable("OS_INSECURE", environ) or "").lower() in TRUE


def keystone_options(plugin_options: Iterable[str],
                     environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """
    The options of a keystoneauth1 plugin from C{OS_<OPTION>} (for each
    name in C{plugin_options}), plus C{OS_REGION_NAME}, C{OS_INTERFACE}
    (without the old C{URL} suffix), C{OS_CACERT}, C{OS_CERT}, C{OS_KEY}
    and C{OS_INSECURE}; the ones set and not empty.
    """
    options: dict[str, Any] = {}
    for name in plugin_options:
        value = variable("OS_" + name.upper(), environ)
        if value:
            options[name] = value
    for name, var in CONNECTION_VARIABLES:
        value = variable(var, environ)
        if value:
            options[name] = value
    if insecure(environ):
        options["insecure"] = True
    if "interface" in options:
        options["interface"] = options["interface"].replace("URL", "")
    return options
