"""
The command line's exit statuses (C{sysexits.h} numbers, as the daemon's
L{txzaqar.daemon._startup.ExitStatus}) and the one line said on stderr.
"""

from __future__ import annotations

import enum

from twisted.python import usage

from .. import errors


class ExitStatus(enum.IntEnum):
    """What C{txzaqar}'s exit status means."""

    #: The command did what was asked.
    OK = 0
    #: Anything else that failed: Zaqar refused the request (a queue that does not exist,
    #: a bad message, a conflict), or a bug.
    FAILED = 1
    #: A command or option is missing or wrong (the line names it).
    USAGE = 64
    #: Zaqar or Keystone could not be reached, timed out, or answered 5xx: trying later may work.
    UNAVAILABLE = 69
    #: The credentials, or the user's permissions (or the signed URL's), were refused.
    NO_PERMISSION = 77
    #: Standard output was closed before the command was done (C{| head}): the status a shell
    #: reports for a tool that SIGPIPE ended.
    OUTPUT_CLOSED = 141


_UNAVAILABLE = (
    errors.TransportError, errors.IdentityUnavailable, errors.InternalServerError, errors.BadGateway,
    errors.ServiceUnavailable, errors.GatewayTimeout,
)


def exit_status(error: BaseException) -> ExitStatus:
    """The exit status of a command that failed with C{error}."""
    if isinstance(error, usage.UsageError):
        return ExitStatus.USAGE
    if errors.refused(error) or isinstance(error, (errors.NotAllowedBySignedURL, errors.SignedURLExpired)):
        return ExitStatus.NO_PERMISSION
    if isinstance(error, errors.CertificateVerificationFailed):
        return ExitStatus.FAILED  # a configuration mistake (--cacert), not an outage
    if isinstance(error, _UNAVAILABLE):
        return ExitStatus.UNAVAILABLE
    if isinstance(error, errors.ClientValidationError):
        return ExitStatus.USAGE
    return ExitStatus.FAILED


def one_line(error: BaseException) -> str:
    """C{error} as the one line C{txzaqar} prints on stderr (after C{"txzaqar: "})."""
    if isinstance(error, errors.ClientValidationError):
        text = f"{error.field}: {error.description}" if error.field else str(error.description)
    elif isinstance(error, errors.ZaqarError):
        text = str(error)
    elif isinstance(error, usage.UsageError):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(text.split())
