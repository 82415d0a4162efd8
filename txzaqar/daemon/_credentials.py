"""
The credentials of C{twistd zaqar-listen}: the Keystone options and
C{--signed-url-file} checked when the options are parsed, and the
authenticator they make.
"""

from __future__ import annotations

from typing import Any

from twisted.python import usage

from .._support import validation as v
from ..errors import ClientValidationError


class _WallClock:
    """C{seconds()} of the wall clock: whether a signed URL has expired, checked once when parsing."""

    @staticmethod
    def seconds() -> float:
        import time

        return time.time()


#: What the Subscriber does to a queue, which a signed URL must allow.
_CONSUMER_REQUESTS = (
    ("POST", "claims", "claim"), ("DELETE", "messages", "delete handled messages"),
    ("PATCH", "claims/x", "renew claims"), ("DELETE", "claims/x", "release claims"),
)


def signed_url_options(options: usage.Options) -> dict[str, Any] | None:
    """
    The signed URL document of C{--signed-url-file} (C{None} without it),
    checked: readable, well-formed, not expired, for the C{--queue}s (which
    it fills in when none is given), allowing what a consumer does, and
    given without other credentials.

    @raise usage.UsageError: with a one-line reason.
    """
    from ..auth import SignedURLAuth

    path = options["signed-url-file"]
    if path is None:
        return None
    given = [f"--{k}" for k in ("project-id", "os-cloud", *KEYSTONE_OPTIONS, "os-password-file") if options[k]]
    if given:
        raise usage.UsageError(f"--signed-url-file is all the credentials there are: drop {given[0]}")
    if options["dead-letter-queue"] or options["max-claim-count"]:
        raise usage.UsageError("--signed-url-file cannot configure a queue: drop --dead-letter-queue "
                               "and --max-claim-count (set them on the queue with its owner's credentials)")
    try:
        with open(path, "rb") as f:
            raw = f.read(1 << 16)
    except OSError as e:
        raise usage.UsageError(f"--signed-url-file: cannot read {path!r}: {e.strerror}") from None
    try:
        auth = SignedURLAuth(raw, clock=_WallClock())
    except ClientValidationError as e:
        raise usage.UsageError(f"--signed-url-file {path}: {e.description}") from None
    if auth.expired:
        raise usage.UsageError(f"--signed-url-file {path}: expired at {auth.expires} UTC; ask for a new one")
    if not options["queues"]:
        if auth.queue is None:
            raise usage.UsageError(f"--signed-url-file {path}: its paths name no single queue; give --queue")
        options["queues"].append(auth.queue)
    for queue in options["queues"]:
        for method, rest, what in _CONSUMER_REQUESTS:
            try:
                auth.check(method, f"/v2/queues/{queue}/{rest}")
            except ClientValidationError:
                raise usage.UsageError(
                    f"--signed-url-file {path}: does not allow {method} /v2/queues/{queue}/"
                    f"{rest.split('/')[0]} ({what}); share it with paths messages and claims and "
                    "methods POST, PATCH and DELETE"
                ) from None
    return v.signed_url_document(raw)


def _secret_on_command_line(option: str) -> None:
    raise usage.UsageError(
        f"--{option}: secrets are never taken on the command line (other users can read it): use "
        "--os-password-file, $OS_PASSWORD, $OS_APPLICATION_CREDENTIAL_SECRET or clouds.yaml"
    )


#: Keystone options of zaqar-listen and the keystoneauth1 names they set.
KEYSTONE_OPTIONS = {
    "os-auth-url": "auth_url",
    "os-auth-type": "auth_type",
    "os-username": "username",
    "os-user-id": "user_id",
    "os-user-domain-name": "user_domain_name",
    "os-user-domain-id": "user_domain_id",
    "os-project-name": "project_name",
    "os-project-id": "project_id",
    "os-project-domain-name": "project_domain_name",
    "os-project-domain-id": "project_domain_id",
    "os-application-credential-id": "application_credential_id",
    "os-application-credential-name": "application_credential_name",
    "os-region-name": "region_name",
    "os-interface": "interface",
}


def _no_thread(*args: Any) -> Any:  # pragma: no cover - never called
    raise AssertionError("option checking must not call Keystone")


def _read_secret(option: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            secret = f.read().strip()
    except OSError as e:
        raise usage.UsageError(f"--{option}: cannot read {path!r}: {e.strerror}") from None
    if not secret:
        raise usage.UsageError(f"--{option}: {path!r} is empty")
    return secret


def keystone_from_settings(settings: dict[str, Any], **kwargs: Any) -> Any:
    """
    L{txzaqar.auth.Keystone} from L{txzaqar.daemon.Options}C{["keystone"]}: clouds.yaml
    with C{cloud}, else C{OS_*} variables, the command line winning; the
    password is read from C{password_file} here, so the options never hold it.
    """
    from ..auth import Keystone

    settings = dict(settings, **kwargs)
    password_file = settings.pop("password_file", None)
    if password_file:
        settings["password"] = _read_secret("os-password-file", password_file)
    cloud = settings.pop("cloud", None)
    if cloud:
        return Keystone.from_cloud(cloud, **settings)
    return Keystone.from_environment(**settings)


def make_authenticator(options: usage.Options, reactor: Any) -> Any:
    """
    L{txzaqar.auth.SignedURLAuth} or Keystone for the parsed options, or
    C{None} (L{connect} makes L{NoAuth}).
    """
    if options.get("signed-url"):
        from ..auth import SignedURLAuth

        return SignedURLAuth(options["signed-url"], clock=reactor)
    if options["keystone"] is None:
        return None
    return keystone_from_settings(options["keystone"], reactor=reactor)
