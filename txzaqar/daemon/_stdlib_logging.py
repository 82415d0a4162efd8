"""
Standard-library C{logging} records into C{twisted.logger}: a handler's own
C{logging.getLogger("app")} calls, keystoneauth1 (which logs under
C{keystoneauth.*}) and every other library log through C{logging}, and
under twistd those records would otherwise go nowhere (below warning) or
to stderr without their logger's name, outside the daemon's log and its
C{--log-level}.

Each record becomes an event in the namespace of its logger's name, at
the matching level, with the record's exception (if any) as the event's
C{log_failure}.
"""

from __future__ import annotations

import logging

from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

__all__ = ["TwistedLoggerHandler", "route_all_stdlib_logging", "route_stdlib_logging", "stdlib_level"]

_LEVELS = [
    (logging.CRITICAL, LogLevel.critical),
    (logging.ERROR, LogLevel.error),
    (logging.WARNING, LogLevel.warn),
    (logging.INFO, LogLevel.info),
]

_STDLIB_LEVELS = {
    LogLevel.critical: logging.CRITICAL,
    LogLevel.error: logging.ERROR,
    LogLevel.warn: logging.WARNING,
    LogLevel.info: logging.INFO,
    LogLevel.debug: logging.DEBUG,
}


def _level(levelno: int) -> LogLevel:
    for threshold, level in _LEVELS:
        if levelno >= threshold:
            return level
    return LogLevel.debug


def stdlib_level(level: LogLevel) -> int:
    """The C{logging} level that matches the C{twisted.logger} C{level}."""
    return _STDLIB_LEVELS[level]


class TwistedLoggerHandler(logging.Handler):
    """Emits each record as a C{twisted.logger} event in the record's logger's namespace."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a bad format string in someone else's log call
            text = str(record.msg)
        fields = {}
        if record.exc_info and record.exc_info[1] is not None:
            _, value, traceback = record.exc_info
            fields["log_failure"] = Failure(value, type(value), traceback)
        Logger(namespace=record.name).emit(_level(record.levelno), "{log_text}", log_text=text, **fields)


def route_stdlib_logging(name: str) -> TwistedLoggerHandler:
    """
    Send the records of stdlib logger C{name} (and its children) to
    C{twisted.logger}, and no longer to the root logger's handlers.

    @return: the handler (remove it with C{logging.getLogger(name).removeHandler}).
    """
    logger = logging.getLogger(name)
    for handler in logger.handlers:
        if isinstance(handler, TwistedLoggerHandler):
            return handler
    handler = TwistedLoggerHandler()
    logger.addHandler(handler)
    logger.propagate = False
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.DEBUG)  # the daemon's --log-level filters
    return handler


def route_all_stdlib_logging(level: LogLevel) -> TwistedLoggerHandler:
    """
    Send every stdlib record at C{level} or above (the root logger's) to
    C{twisted.logger}; the root logger's level is set to match, so that
    records below it are not even made.

    @return: the handler (remove it with C{logging.getLogger().removeHandler}).
    """
    root = logging.getLogger()
    root.setLevel(stdlib_level(level))
    for handler in root.handlers:
        if isinstance(handler, TwistedLoggerHandler):
            return handler
    handler = TwistedLoggerHandler()
    root.addHandler(handler)
    return handler
