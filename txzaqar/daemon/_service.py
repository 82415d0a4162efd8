"""
C{twistd zaqar-listen}: run a L{txzaqar.subscriber.Subscriber} as a daemon::

    twistd -n zaqar-listen --url http://127.0.0.1:8888 --project-id demo \\
        --queue jobs [--queue more ...] --handler mypackage.jobs:handle

C{--queue-pattern 'jobs-*'} (repeatable, with or without C{--queue})
also consumes every queue whose name matches the glob, found by listing
the project's queues every C{--discovery-interval} seconds
(L{txzaqar.subscriber.Subscriber.psubscribe}), with C{--handler}'s handler.

The handler is called with each L{txzaqar.api.message.Message}; it may return a
value, a Deferred or a coroutine, and the message is deleted once that
succeeds.  Without C{--handler} each message is logged as one JSON line.
A plain handler (not C{async def}, not marked with
L{txzaqar.subscriber.on_reactor}) runs in a pool of C{--threads} threads
(default 10, or C{--concurrency} if lower), so that it may block;
C{--threads 0} runs it on the reactor thread.
On SIGTERM (or Ctrl-C) twistd stops the service: polling stops, running
callbacks get C{--stop-timeout} seconds to finish, and the claims of
everything else are released for other consumers.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    InvalidLogLevelError,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
)
from twisted.python import usage

from .._support import validation as v
from ..api.client import MAX_QUEUES_PER_PAGE
from ..errors import ClientValidationError
from ..http._twisted_internals import twistd_log_file, twistd_log_observer
from ..ops.health import check_endpoint
from ..subscriber.settings import PerSecond, WholeNumber
from ..subscriber.slots import on_reactor
from ._config import CONFIG_PARAMETERS, apply_sources, command_line_names, describe_sources, name_the_source
from ._credentials import (
    CONNECTION_FLAGS,
    CONNECTION_PARAMETERS,
    CredentialOptions,
    make_authenticator,
    signed_url_options,
)
from ._json_log import flat_json_file_observer
from ._lifecycle import LIFECYCLE_PARAMETERS, ReadinessView, subscribe_handlers
from ._listener import CheckService, ListenerService
from ._push_options import PUSH_PARAMETERS, check_push_options, make_push
from ._routes import RouteOptions, load_route_handlers, route_lines
from ._startup import ExitStatus
from ._stdlib_logging import route_all_stdlib_logging
from ._subscriber_options import (
    SUBSCRIBER_PARAMETERS,
    command_line,
    dead_lettering_from_command_line,
    per_second,
    settings_from_command_line,
    whole_number,
)

log = Logger(namespace="txzaqar.listen")

#: The most threads running plain handlers unless C{--threads} says.
DEFAULT_THREADS = 10


@on_reactor  # it does not block; logging from the reactor thread keeps events in order
def log_message(message: Any) -> None:
    """The default handler: log the message as one JSON line."""
    line = json.dumps(
        {
            "queue": message.queue.name,
            "id": message.id,
            "age": message.age,
            "ttl": message.ttl,
            "claim_count": message.claim_count,
            "body": message.body,
        },
        sort_keys=True,
        default=repr,
    )
    log.info("{json_line}", json_line=line)


def _where(error: BaseException) -> str:
    """
    Where in the handler's own code an import failed (C{" (at FILE, line N)"}),
    so that one line says what a traceback would; C{""} when it failed in
    the import machinery itself (the module was not found).
    """
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if not f.filename.startswith("<frozen") and f.filename != __file__]
    if not frames:
        return ""
    return f" (at {frames[-1].filename}, line {frames[-1].lineno})"


def load_handler(spec: str) -> Callable[[Any], Any]:
    """
    Import C{package.module:function}.

    @raise usage.UsageError: with a one-line reason.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise usage.UsageError(f"--handler must look like package.module:function, not {spec!r}")
    # As gunicorn and celery do: a handler module in the current directory
    # imports without PYTHONPATH (twistd, unlike python -m, does not add it).
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise usage.UsageError(
            f"--handler {spec}: cannot import {module_name!r}: {type(e).__name__}: {e}{_where(e)}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise usage.UsageError(
                f"--handler {spec}: module {module_name!r} has no {attribute!r}"
            ) from None
    if not callable(target):
        raise usage.UsageError(f"--handler {spec}: {attribute!r} is not callable")
    return target


class Options(CredentialOptions, RouteOptions, usage.Options):
    """Options of C{twistd zaqar-listen}."""

    synopsis = (
        "--url URL --project-id ID --queue NAME|--queue-pattern GLOB [...] "
        "[--handler package.module:function] [options]"
    )
    longdesc = (
        "Deliver the messages of Zaqar queues to a Python function (or log each "
        "as a JSON line without --handler). A message is deleted only after its "
        "handler succeeded. SIGTERM stops gracefully."
    )

    optFlags = [
        *CONNECTION_FLAGS,
        ["check", None, "check the options, the handler, the credentials, Zaqar and each --queue, "
                        "print one line per check and exit (0 when all is well; see the README's exit "
                        "statuses) without consuming anything"],
    ]

    optParameters = [
        *CONNECTION_PARAMETERS,
        ["handler", None, None, "package.module:function called with each message "
                                "[default: log it as JSON]"],
        *LIFECYCLE_PARAMETERS,
        *SUBSCRIBER_PARAMETERS,
        ["log-level", None, None, "the least severe events logged, the daemon's and every stdlib "
                                  "logger's (handler code, keystoneauth): debug (every request and "
                                  "poll), info, warn, error or critical [default: info; under twist, "
                                  "twist's --log-level]"],
        ["log-format", None, "text", "text, or json: one flat JSON object per line (time, level, "
                                     "logger, message, exception, the event's fields); under twist, "
                                     "also when twist's --log-format is json"],
        ["signed-url-file", None, None, "act with nothing but a pre-signed URL: a file holding the "
                                        "JSON of Queue.share() (SignedURL.to_json(url)); replaces "
                                        "--project-id and Keystone, and --queue defaults to its queue"],
        *PUSH_PARAMETERS,
        ["metrics", None, None, "serve /metrics (Prometheus), /healthz and /readyz on this Twisted "
                                "endpoint, e.g. tcp:9102:interface=127.0.0.1 [default: none]"],
        ["stats-interval", None, "15", "with --metrics, seconds between two reads of each queue's "
                                       "stats (backlog gauges; one request per queue), 0 for never"],
        ["max-queues-per-page", None, "20", "with --queue-pattern, queues asked for per listing request "
                                            "(1-1000): raise it with Zaqar's [transport] "
                                            "max_queues_per_page to list many queues in fewer requests"],
        ["stats-rate", None, "4", "with --metrics, the most stats requests per second: with more than "
                                  "--stats-interval x --stats-rate queues, each is read less often"],
        *CONFIG_PARAMETERS,
    ]

    def __init__(self) -> None:
        super().__init__()
        self["queues"] = []
        self["patterns"] = []
        self["routes"] = {}
        self._failed = False
        self._given: set[str] = set()

    def parseOptions(self, options: Any = None) -> None:
        self._given = command_line_names(self, sys.argv[1:] if options is None else options)
        try:
            super().parseOptions(options)
        except usage.UsageError as error:
            e = name_the_source(self, error)
            self._failed = True
            if isinstance(getattr(self, "parent", None), usage.Options):
                # twistd and twist each print their whole usage and exit with
                # their own status (1, 64; twistd before 26.10 even 0): one
                # line on stderr naming us, and EX_USAGE under both, instead.
                runner = os.path.basename(sys.argv[0]) or "twistd"
                sys.stderr.write(f"zaqar-listen: {e}\n({runner} zaqar-listen --help lists the options)\n")
                sys.stderr.flush()
                raise SystemExit(int(ExitStatus.USAGE)) from None
            raise e from None

    def getUsage(self, width: int | None = None) -> str:
        # twistd and twist print the usage with a UsageError: after a failed
        # parse that is one line pointing at --help, so the error itself is
        # what an operator sees (and the last line twistd prints).
        if self._failed:
            command = os.path.basename(sys.argv[0]) if sys.argv else ""
            command = command if command in ("twistd", "twist") else "twistd"
            return f"Run '{command} zaqar-listen --help' for every option.\n"
        return super().getUsage(width)

    def opt_version(self) -> None:
        """Print txzaqar's version and exit."""
        from .. import __version__

        print(f"txzaqar {__version__}")
        raise SystemExit(0)

    def opt_queue(self, name: str) -> None:
        """A queue to listen to (repeat for more)."""
        try:
            v.queue_name(name)
        except ClientValidationError as e:
            raise usage.UsageError(f"--queue: {e.description}") from None
        if name in self["queues"]:
            raise usage.UsageError(f"--queue {name} is given twice")
        self["queues"].append(name)

    opt_q = opt_queue

    def opt_queue_pattern(self, pattern: str) -> None:
        """GLOB: also listen to the queues it matches (e.g. 'orders-*'), with --handler (repeat for more)"""
        if not pattern or len(pattern) > 256:
            raise usage.UsageError(f"--queue-pattern must be 1 to 256 characters, not {pattern!r:.60}")
        if pattern in self["patterns"]:
            raise usage.UsageError(f"--queue-pattern {pattern} is given twice")
        self["patterns"].append(pattern)

    def postOptions(self) -> None:
        apply_sources(self, self._given)  # the environment and --config (daemon/_config.py)
        if self["patterns"] and self["signed-url-file"] is not None:
            raise usage.UsageError("--queue-pattern lists the project's queues, which a --signed-url-file "
                                   "does not allow: give --queue")
        self.credential_options(signed_url_options)
        if not self["queues"] and not self["patterns"]:
            raise usage.UsageError("give at least one --queue NAME, --queue-pattern GLOB "
                                   "or --route QUEUE=package.module:function")
        if self["threads"] is None:
            try:
                self["threads"] = min(DEFAULT_THREADS, int(self["concurrency"]))
            except (TypeError, ValueError):  # --concurrency's own check says why
                self["threads"] = DEFAULT_THREADS
        try:
            settings = settings_from_command_line(self)
            self["max-claim-count"] = dead_lettering_from_command_line(
                self["dead-letter-queue"], self["max-claim-count"]
            )
        except ClientValidationError as e:
            raise usage.UsageError(e.description) from None
        if self["patterns"] and self["dead-letter-queue"] is not None:
            # psubscribe configures no queue: the discovered ones would not dead-letter
            raise usage.UsageError("--dead-letter-queue applies to --queue and --route queues only; "
                                   "it cannot be combined with --queue-pattern")
        self["subscriber-settings"] = settings
        self.update(command_line(settings))
        check_push_options(self)
        self["handler-function"] = load_handler(self["handler"]) if self["handler"] else log_message
        self["route-functions"] = load_route_handlers(self, load_handler)
        self["handler-failure-window"] = _positive_seconds("handler-failure-window", self["handler-failure-window"])
        self._logging_options()
        if self["metrics"] is not None:
            try:
                check_endpoint(self["metrics"])
            except ValueError as e:
                raise usage.UsageError(f"--metrics: {e}") from None
        try:
            self["stats-interval"] = float(self["stats-interval"])
            if not 0 <= self["stats-interval"] <= 86400:
                raise ValueError
        except ValueError:
            raise usage.UsageError(f"--stats-interval must be seconds from 0 to 86400, not "
                                   f"{self['stats-interval']!r}") from None
        try:
            self["max-queues-per-page"] = whole_number(
                WholeNumber("max_queues_per_page", 1, MAX_QUEUES_PER_PAGE), "max-queues-per-page",
                self["max-queues-per-page"])
            self["stats-rate"] = per_second(PerSecond("stats_rate"), "stats-rate", self["stats-rate"])
        except ClientValidationError as e:
            raise usage.UsageError(e.description) from None

    def _logging_options(self) -> None:
        """--log-level and --log-format, applied to twistd's or twist's observer."""
        if self["log-format"] not in ("text", "json"):
            raise usage.UsageError(f"--log-format must be text or json, not {self['log-format']!r}")
        given = self["log-level"] is not None
        # --check prints its own lines: only warnings and worse from the log
        self["log-level"] = _log_level(self["log-level"] or ("warn" if self["check"] else "info"))
        parent = getattr(self, "parent", None)
        if not isinstance(parent, usage.Options):
            return
        if "fileLogObserverFactory" in parent:
            # twist: it makes its observer from these after parsing every option
            if given:
                parent["logLevel"] = self["log-level"]
            else:
                self["log-level"] = parent["logLevel"]
            if self["log-format"] == "json" or parent.get("logFormat") == "json":
                self["log-format"] = parent["logFormat"] = "json"
                parent["fileLogObserverFactory"] = flat_json_file_observer
        elif "logger" in parent and not parent["logger"]:
            # twistd logs every event, debug included; filter its usual observer
            # unless the operator chose another with --logger.
            # twistd imports --logger by name and calls it without arguments.
            if self["log-format"] == "json" and parent.get("syslog"):
                raise usage.UsageError("--log-format json writes to a log file or standard output, not --syslog")
            global _twistd_observer
            _twistd_observer = partial(filtered_twistd_observer, parent, self["log-level"], self["log-format"])
            parent["logger"] = f"{__name__}._twistd_observer"


#: The observer factory twistd imports (set by L{Options.postOptions}).
_twistd_observer: Callable[[], ILogObserver] | None = None


def _positive_seconds(option: str, text: Any) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise usage.UsageError(f"--{option} must be a number of seconds, not {text!r}") from None
    if not 0 < value < float("inf"):
        raise usage.UsageError(f"--{option} must be a positive number of seconds, not {text}")
    return value


def _log_level(name: str) -> LogLevel:
    try:
        return LogLevel.levelWithName(name.lower())
    except InvalidLogLevelError:
        names = ", ".join(level.name for level in LogLevel.iterconstants())
        raise usage.UsageError(f"--log-level must be one of {names}, not {name!r}") from None


def filtered_twistd_observer(twistd_options: Any, level: LogLevel, log_format: str = "text") -> ILogObserver:
    """
    The observer twistd would make for its options (log file, stdout or
    syslog), showing only events at I{level} or above; with C{log_format}
    C{"json"}, writing L{txzaqar.daemon._json_log} lines to the same file.
    """
    observer = twistd_log_observer(twistd_options)
    if log_format == "json":
        out = twistd_log_file(observer)
        if out is not None:
            observer = flat_json_file_observer(out)
    return FilteringLogObserver(observer, [LogLevelFilterPredicate(defaultLogLevel=level)])


def makeService(options: Options) -> Any:
    """
    A L{ListenerService} for the parsed options: the start-up checks, then a
    L{txzaqar.subscriber.Subscriber} on the queues; with C{--metrics}, the
    L{txzaqar.ops.health} site (started at once, so C{/readyz} answers during
    the checks).  With C{--check}, a L{CheckService} that runs the checks,
    prints them and ends the process.
    """
    from twisted.internet import reactor

    from .._connect import connect

    route_all_stdlib_logging(options["log-level"])
    if options["check"]:
        return CheckService(_client(options, reactor, connect), options["queues"], reactor, sys.__stdout__,
                            checked=_checked_locally(options))
    client = _client(options, reactor, connect)
    client.max_queues_per_page = options["max-queues-per-page"]
    subscriber = client.subscriber(clock=reactor, push=make_push(options, client, reactor),
                                   settings=options["subscriber-settings"])
    handlers = subscribe_handlers(options, subscriber, reactor)
    listener = ListenerService(subscriber, client, options["queues"], reactor, signals=True, handlers=handlers)
    if options["metrics"] is not None:
        from ..ops.health import metrics_service

        # /readyz sees the handlers' health too (daemon/_lifecycle.py)
        metrics_service(reactor, options["metrics"], ReadinessView(subscriber, handlers)).setServiceParent(listener)
        if options["stats-interval"]:
            subscriber.metrics.refresher(options["stats-interval"], reactor,
                                         rate=options["stats-rate"]).setServiceParent(listener)
    return listener


def _checked_locally(options: Options) -> list[str]:
    """The lines of what parsing the options already checked (for C{--check})."""
    given = [f"--queue {name}" for name in options["queues"]]
    given += [f"--queue-pattern {pattern}" for pattern in options.get("patterns") or []]
    lines = ["options: " + ", ".join(given)]
    sources = describe_sources(options)
    if sources is not None:
        lines.append(sources)
    if options["handler"]:
        lines.append(f"handler {options['handler']} imported")
    else:
        lines.append("no --handler: each message would be logged as one JSON line")
    lines += route_lines(options)
    for pattern in options.get("patterns") or []:
        lines.append(f"pattern {pattern}: the queues matching it would be consumed, listed every "
                     f"{options['discovery-interval']:g}s")
    return lines


def _client(options: Options, reactor: Any, connect: Callable[..., Any]) -> Any:
    """The client the options describe."""
    return connect(
        options["url"],
        project_id=None if options["keystone"] or options.get("signed-url") else options["project-id"],
        authenticator=make_authenticator(options, reactor),
        reactor=reactor,
        cacert=options["cacert"],
        cert=options["cert"],
        key=options["key"],
        insecure=options["insecure"],
        websocket_url=options["websocket-url"],
    )
