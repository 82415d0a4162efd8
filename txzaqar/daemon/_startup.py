"""
The daemon's start-up checks, and what each failure means for it.

Before it consumes anything, C{zaqar-listen} (and C{zaqar-listen
--check}) asks Zaqar's C{GET /v2/ping} through the client, which
authenticates first, so one request proves the credentials, the TLS
settings, the URL and the server; then it lists the project's queues to
warn about a C{--queue} that does not exist (Zaqar creates queues on
first use, so a mistyped name would be consumed, empty, for ever).

Each failure is classified (L{classify}):

 - I{permanent}: the configuration is wrong and waiting will not fix it
   (credentials or permissions refused, no Zaqar API at the URL, a
   certificate that does not verify, no catalog endpoint for the region
   or interface): one line naming the option to fix, and an exit status
   of L{ExitStatus};
 - I{transient}: a server is away (connection refused or reset, a DNS
   failure, a timeout, a 5xx, Keystone unreachable): one warning, and the
   daemon starts and backs off until it answers.  A name that does not
   resolve is an outage by choice: DNS may come up after the daemon (at
   boot) and a name may be re-pointed, and C{/readyz} and C{STATUS=} say
   C{ConnectionFailed} with the resolver's message meanwhile.

Zaqar 23's C{GET .../stats} answers 503 once claims have expired (a server
bug), so no check reads stats.
"""

from __future__ import annotations

import enum

import attr

from .. import errors
from ..interfaces import IClient

__all__ = ["ExitStatus", "Finding", "classify", "startup_findings"]


class ExitStatus(enum.IntEnum):
    """
    The daemon's exit statuses (C{sysexits.h} numbers), the same under
    twistd and twist.  systemd's C{RestartPreventExitStatus=} should list
    64, 77 and 78: restarting cannot fix them.
    """

    #: A clean stop (SIGTERM), or C{--check} found nothing wrong.
    OK = 0
    #: An option is missing or wrong (its message names it).
    USAGE = 64
    #: An unexpected error at start-up (a bug: please report it).
    SOFTWARE = 70
    #: A port to listen on (C{--metrics}, C{--webhook-listen}) could not be had.
    CANNOT_LISTEN = 71
    #: The handler's C{setup()} failed (C{EX_TEMPFAIL}: a restart may fix it, e.g. a database back up).
    HANDLER_SETUP = 75
    #: Zaqar or Keystone could not be reached at start-up (C{--check} only; the daemon waits).
    UNAVAILABLE = 69
    #: The credentials, or the permissions of the user, were refused.
    NO_PERMISSION = 77
    #: The configuration cannot work: no Zaqar API at the URL, a certificate that does not
    #: verify, no catalog endpoint for the region or interface.
    CONFIGURATION = 78


@attr.s(frozen=True, auto_attribs=True)
class Finding:
    """One check's result: C{status} C{"ok"}, C{"warn"} or C{"fail"}."""

    #: What was checked (C{"Zaqar"}, C{"queue orders"}, ...).
    what: str
    #: C{"ok"}, C{"warn"} or C{"fail"}.
    status: str
    #: One line: what was found, and for a failure what to fix.
    text: str
    #: For C{"fail"}: the exit status it calls for.
    exit_status: ExitStatus = ExitStatus.OK
    #: For C{"fail"}: C{True} when waiting will not fix it.
    permanent: bool = False


def _name(error: BaseException) -> str:
    if isinstance(error, errors.ZaqarError):
        return str(error)  # "ClassName (code): title - description"
    return f"{type(error).__name__}: {error}"


def classify(error: BaseException, url: str | None) -> Finding:
    """
    The finding of a failed C{ping}: permanent (with the exit status and the
    option to fix) or transient.
    """
    where = url or "the catalog's URL"
    if errors.refused(error):
        if isinstance(error, errors.Forbidden):
            advice = "the user may not use this project or queue: check its roles and the project"
        elif isinstance(error, errors.Unauthorized):
            advice = "Zaqar refused the token: check the project and Zaqar's Keystone settings"
        elif isinstance(error, errors.EndpointNotFound):
            return Finding("Zaqar", "fail", f"{_name(error)}: check --os-region-name and --os-interface "
                           "(or give --url)", ExitStatus.CONFIGURATION, True)
        else:
            advice = "check the user, the password (file) and the project: Keystone refused them"
        return Finding("credentials", "fail", f"{_name(error)}; {advice}", ExitStatus.NO_PERMISSION, True)
    if isinstance(error, (errors.CertificateVerificationFailed, errors.IdentityCertificateRefused)):
        return Finding("TLS", "fail", f"{_name(error)}: check --cacert (or the server's certificate)",
                       ExitStatus.CONFIGURATION, True)
    if isinstance(error, (errors.NotFound, errors.MethodNotAllowed, errors.MalformedResponse)):
        return Finding("Zaqar", "fail", f"no Zaqar v2 API at {where} (GET /v2/ping: {_name(error)}): "
                       "check --url, Zaqar's root URL such as http://zaqar:8888, without /v2",
                       ExitStatus.CONFIGURATION, True)
    return Finding("Zaqar", "fail", f"not reachable yet at {where} ({_name(error)})",
                   ExitStatus.UNAVAILABLE, False)


async def startup_findings(client: IClient, queues: list[str]) -> list[Finding]:
    """
    Run the start-up checks (see the module's docstring).

    @return: a Deferred-compatible coroutine's result: the findings, in
        order; after a failed ping, the queues are not checked.
    """
    url = client.connection.url
    try:
        await client.ping()
    except errors.ClientValidationError as e:  # e.g. a signed URL that does not allow /v2/ping
        return [Finding("Zaqar", "ok", f"not checked: {e.description}")]
    except errors.ZaqarError as e:
        return [classify(e, url)]
    findings = [Finding("Zaqar", "ok", f"Zaqar answers at {client.connection.url}, with these credentials")]
    if not queues:  # --queue-pattern only: its queues are found by listing them later
        return findings
    wanted, existing = set(queues), set()
    try:
        async for queue in client.iter_queues(limit=20):
            if queue.name in wanted:
                existing.add(queue.name)
                if existing == wanted:
                    break  # a project of many queues: no further page is asked for
    except errors.ZaqarError as e:
        return findings + [Finding("queues", "ok", f"not checked: listing the project's queues failed ({_name(e)})")]
    for name in queues:
        if name in existing:
            findings.append(Finding(f"queue {name}", "ok", f"queue {name} exists"))
        else:
            findings.append(Finding(
                f"queue {name}", "warn", f"queue {name} does not exist (yet): Zaqar creates it when a "
                "message is posted to it; check --queue for a typo"))
    return findings
