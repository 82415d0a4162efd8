"""
One handler per queue in C{twistd zaqar-listen}: C{--route
QUEUE=package.module:function[,concurrency=N]}, repeated (or C{[[route]]}
tables of the C{--config} file, or C{ZAQAR_LISTEN_ROUTE} with the routes
separated by spaces or C{;}).

A routed queue is subscribed with its own handler and, with
C{concurrency=N}, at most N of its messages handled at once in slots of
its own (L{txzaqar.subscriber.Subscriber.subscribe}'s C{concurrency}),
apart from the C{--concurrency} the C{--queue} queues share; without it,
it shares them.  The C{--queue} queues keep C{--handler}.  Plain handlers
of every route share the C{--threads} pool.  A handler named by several
routes is one handler: imported once, set up and torn down once.
"""

from __future__ import annotations

from typing import Any

from twisted.python import usage

from .._support import validation as v
from ..errors import ClientValidationError

__all__ = ["RouteOptions", "load_route_handlers", "parse_route", "route_from_table", "route_lines"]

#: The most callbacks a route may run at once (as C{--concurrency}).
MAX_CONCURRENCY = 10_000


def parse_route(text: str) -> dict[str, Any]:
    """
    C{QUEUE=package.module:function[,concurrency=N]} as
    C{{"queue", "handler", "concurrency"}} (C{concurrency} C{None} when not given).

    @raise usage.UsageError: one line saying what is wrong.
    """
    queue, sep, rest = text.partition("=")
    spec, *settings = rest.split(",")
    if not sep or not queue or not spec:
        raise usage.UsageError(f"--route must look like QUEUE=package.module:function[,concurrency=N], not {text!r}")
    try:
        v.queue_name(queue)
    except ClientValidationError as e:
        raise usage.UsageError(f"--route {text}: {e.description}") from None
    concurrency = None
    for setting in settings:
        key, _, value = setting.partition("=")
        if key.strip() != "concurrency":
            raise usage.UsageError(f"--route {text}: unknown setting {key.strip()!r} (only concurrency=N)")
        try:
            concurrency = int(value)
        except ValueError:
            concurrency = 0
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise usage.UsageError(
                f"--route {text}: concurrency must be a whole number from 1 to {MAX_CONCURRENCY}, not {value!r}")
    return {"queue": queue, "handler": spec, "concurrency": concurrency}


def route_from_table(label: str, table: dict[str, Any]) -> str:
    """
    A C{[[route]]} table of the C{--config} file (C{queue}, C{handler},
    optional C{concurrency}) as the text of C{--route}.

    @raise usage.UsageError: a key missing or unknown, naming C{label}.
    """
    unknown = sorted(set(table) - {"queue", "handler", "concurrency"})
    if unknown:
        raise usage.UsageError(f"{label}: unknown key {unknown[0]!r} (queue, handler, concurrency)")
    if not isinstance(table.get("queue"), str) or not isinstance(table.get("handler"), str):
        raise usage.UsageError(f"{label}: each [[route]] needs queue and handler, as strings")
    text = f"{table['queue']}={table['handler']}"
    if "concurrency" in table:
        text += f",concurrency={table['concurrency']}"
    return text


class RouteOptions:
    """The C{--route} option, mixed into L{txzaqar.daemon._service.Options}."""

    def opt_route(self, text: str) -> None:
        # one line, as --help prints a docstring's line breaks and indentation
        ("QUEUE=package.module:function[,concurrency=N]: listen to QUEUE with its own handler, and at most N "
         "of its messages at once in slots of its own (without it, in the --concurrency slots); repeat for "
         "more queues")
        options: Any = self
        route = parse_route(text)
        routes = options.setdefault("routes", {})
        if route["queue"] in options["queues"]:
            raise usage.UsageError(f"--route {text}: queue {route['queue']} is given twice")
        routes[route["queue"]] = route
        options["queues"].append(route["queue"])


def load_route_handlers(options: Any, load: Any) -> dict[str, Any]:
    """
    Import the handler of each route with C{load} (the daemon's
    C{load_handler}), once per handler.

    @return: C{{spec: function}}.
    @raise usage.UsageError: one line naming the route.
    """
    functions: dict[str, Any] = {}
    for route in (options.get("routes") or {}).values():
        spec = route["handler"]
        if spec in functions:
            continue
        try:
            functions[spec] = load(spec)
        except usage.UsageError as e:
            raise usage.UsageError(str(e).replace("--handler ", f"--route {route['queue']}=", 1)) from None
    return functions


def route_lines(options: Any) -> list[str]:
    """The lines of C{--check} for the routes (their handlers were imported)."""
    lines = []
    for route in (options.get("routes") or {}).values():
        limit = f", at most {route['concurrency']} at once" if route["concurrency"] else ""
        lines.append(f"route {route['queue']}: handler {route['handler']} imported{limit}")
    return lines
