"""
Standard-library C{logging} records into C{twisted.logger}: keystoneauth1
logs through C{logging}, and under twistd those records would otherwise go
to stderr unformatted (or nowhere), outside the daemon's log and its
C{--log-level}.
"""

from __future__ import annotations

import logging

from twisted.logger import Logger, LogLevel

__all__ = ["TwistedLoggerHandler", "route_stdlib_logging"]

_LEVELS = [
    (logging.CRITICAL, LogLevel.critical),
    (logging.ERROR, LogLevel.error),
    (logging.WARNING, LogLevel.warn),
    (logging.INFO, LogLevel.info),
]


def _level(levelno: int) -> LogLevel:
    for threshold, level in _LEVELS:
        if levelno >= threshold:
            return level
    return LogLevel.debug


class TwistedLoggerHandler(logging.Handler):
    """Emits each record as a C{twisted.logger} event in the record's logger's namespace."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a bad format string in someone else's log call
            text = str(record.msg)
        Logger(namespace=record.name).emit(_level(record.levelno), "{log_text}", log_text=text)


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
