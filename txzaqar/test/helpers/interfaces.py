"""
The parameters of an interface's method and of an implementation's, in
one shape, so that a test can compare them.
"""

from __future__ import annotations

import inspect
from typing import Any

from zope.interface.interface import Method

__all__ = ["implementation_parameters", "interface_parameters"]


def interface_parameters(method: Method) -> list[tuple[str, Any]]:
    """C{(name, default)} of an interface method; C{inspect.Parameter.empty} when required."""
    info = method.getSignatureInfo()
    params: list[tuple[str, Any]] = [
        (name, info["optional"].get(name, inspect.Parameter.empty)) for name in info["positional"]
    ]
    if info["varargs"]:
        params.append(("*" + info["varargs"], inspect.Parameter.empty))
    if info["kwargs"]:
        params.append(("**" + info["kwargs"], inspect.Parameter.empty))
    return params


def implementation_parameters(function: Any) -> list[tuple[str, Any]]:
    """The same for a method of a class, C{self} left out."""
    params = []
    for p in list(inspect.signature(function).parameters.values())[1:]:
        if p.kind is p.VAR_POSITIONAL:
            params.append(("*" + p.name, inspect.Parameter.empty))
        elif p.kind is p.VAR_KEYWORD:
            params.append(("**" + p.name, inspect.Parameter.empty))
        else:
            params.append((p.name, p.default))
    return params
