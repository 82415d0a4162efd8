"""
The credentials of C{twistd zaqar-listen}: the Keystone options and
C{--signed-url-file} checked when the options are parsed, and the
authenticator they make.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from twisted.python import usage

from .._support import validation as v
from ..auth import _environment as environment
from ..auth.tls import TLSPolicy
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
    if options.get("dead-letter-queue") or options.get("max-claim-count"):
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
    if "queues" not in options:  # not a consumer (the command line): each request is checked when made
        return v.signed_url_document(raw)
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


#: The flags of the connection (C{--insecure}), shared by C{zaqar-listen} and C{txzaqar}.
CONNECTION_FLAGS = [
    ["insecure", None, "do not verify TLS certificates (Zaqar and Keystone); logs a warning"],
]

#: The options of the connection and its credentials (C{--url}, C{--project-id}, Keystone's
#: C{--os-*}, TLS), shared by C{zaqar-listen} and C{txzaqar}.
CONNECTION_PARAMETERS = [
        ["url", "u", None, "Zaqar base URL, e.g. http://127.0.0.1:8888 [default: $ZAQAR_URL; "
                           "with Keystone, the catalog's messaging endpoint]"],
        ["project-id", "p", None, "project id for a server without authentication "
                                  "[default: $OS_PROJECT_ID]"],
        ["os-cloud", None, None, "authenticate with this cloud of clouds.yaml "
                                 "(needs PyYAML: pip install 'txzaqar[clouds]') [default: $OS_CLOUD]"],
        ["os-auth-url", None, None, "Keystone URL; with it (or $OS_AUTH_URL) Keystone is used, and "
                                    "the other credentials come from OS_* variables too"],
        ["os-auth-type", None, None, "keystoneauth1 plugin: password, token, v3applicationcredential"
                                     ", ... [default: $OS_AUTH_TYPE or password]"],
        ["os-username", None, None, "Keystone user name [default: $OS_USERNAME]"],
        ["os-user-id", None, None, "Keystone user id [default: $OS_USER_ID]"],
        ["os-user-domain-name", None, None, "[default: $OS_USER_DOMAIN_NAME]"],
        ["os-user-domain-id", None, None, "[default: $OS_USER_DOMAIN_ID]"],
        ["os-project-name", None, None, "project to scope to [default: $OS_PROJECT_NAME]"],
        ["os-project-id", None, None, "project to scope to [default: $OS_PROJECT_ID]"],
        ["os-project-domain-name", None, None, "[default: $OS_PROJECT_DOMAIN_NAME]"],
        ["os-project-domain-id", None, None, "[default: $OS_PROJECT_DOMAIN_ID]"],
        ["os-application-credential-id", None, None, "[default: $OS_APPLICATION_CREDENTIAL_ID]"],
        ["os-application-credential-name", None, None,
         "[default: $OS_APPLICATION_CREDENTIAL_NAME]"],
        ["os-password-file", None, None, "read the password from this file (passwords are never "
                                         "taken on the command line); without it, $OS_PASSWORD "
                                         "holds the password itself"],
        ["os-region-name", None, None, "catalog region of Zaqar [default: $OS_REGION_NAME]"],
        ["os-interface", None, None, "catalog interface: public, internal or admin "
                                     "[default: $OS_INTERFACE or public]"],
        ["cacert", None, None, "CA bundle to verify Zaqar's and Keystone's certificates "
                               "[default: $OS_CACERT, else the system's]"],
        ["cert", None, None, "client certificate (PEM) for mutual TLS [default: $OS_CERT]"],
        ["key", None, None, "the client certificate's private key, if not in --cert "
                            "[default: $OS_KEY]"],
]


class CredentialOptions:
    """
    The checks of L{CONNECTION_PARAMETERS}, L{CONNECTION_FLAGS} and
    C{--signed-url-file}, for a C{usage.Options} that lists them: the
    secrets refused on the command line, and L{credential_options} for its
    C{postOptions}.
    """

    if TYPE_CHECKING:  # what usage.Options gives the class this is mixed into

        def __getitem__(self, key: str) -> Any: ...

        def __setitem__(self, key: str, value: Any) -> None: ...

    # Three methods, not one function under three names: usage.Options takes
    # methods that are the same function for aliases of one option, and then
    # cannot print --help.
    def opt_os_password(self, value: str) -> None:
        """Refused: see --os-password-file."""
        _secret_on_command_line("os-password")

    def opt_os_application_credential_secret(self, value: str) -> None:
        """Refused: use $OS_APPLICATION_CREDENTIAL_SECRET or clouds.yaml."""
        _secret_on_command_line("os-application-credential-secret")

    def opt_os_token(self, value: str) -> None:
        """Refused: use $OS_TOKEN or clouds.yaml."""
        _secret_on_command_line("os-token")

    def credential_options(self, signed_url: Callable[[Any], dict[str, Any] | None]) -> None:
        """
        Check and complete the connection's options: TLS files, the signed
        URL (read by C{signed_url}), Keystone, C{url} and C{project-id}.

        @raise usage.UsageError: with a one-line reason.
        """
        self._tls_options()
        self["signed-url"] = signed_url(self)
        self["keystone"] = None if self["signed-url"] else self._keystone_options()
        url = self["url"] or (self["signed-url"] or {}).get("url") or environment.zaqar_url()
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise usage.UsageError(f"--url must be an http:// or https:// URL, not {url!r}")
        elif self["keystone"] is None:
            raise usage.UsageError("--url is required (or set $ZAQAR_URL), e.g. --url http://127.0.0.1:8888")
        self["url"] = url
        if self["keystone"] is None and self["signed-url"] is None:
            project = self["project-id"] or environment.variable("OS_PROJECT_ID")
            if not project:
                raise usage.UsageError(
                    "--project-id is required for a server without authentication (or set "
                    "$OS_PROJECT_ID); for Keystone give --os-auth-url or --os-cloud"
                )
            if len(project) > 256:
                raise usage.UsageError("--project-id is longer than 256 characters")
            self["project-id"] = project

    def _tls_options(self) -> None:
        for name, var in (("cacert", "OS_CACERT"), ("cert", "OS_CERT"), ("key", "OS_KEY")):
            path = self[name] or environment.variable(var)
            if path is not None and not os.path.isfile(path):
                raise usage.UsageError(f"--{name}: no such file {path!r}")
            self[name] = path
        if self["key"] and not self["cert"]:
            raise usage.UsageError("--key needs --cert")
        self["insecure"] = bool(self["insecure"]) or environment.insecure()
        if self["insecure"] and self["cacert"]:
            raise usage.UsageError("give --cacert or --insecure, not both")
        try:
            # loads the files now, so a bad one fails here and not at startup
            TLSPolicy(cacert=self["cacert"], cert=self["cert"], key=self["key"])
        except ClientValidationError as e:
            raise usage.UsageError(f"--{e.field}: {e.description}") from None

    def _keystone_options(self) -> dict[str, Any] | None:
        """
        The keyword arguments of L{txzaqar.auth.Keystone.from_cloud} (with
        C{cloud}) or C{from_environment}, checked now by building one; or
        C{None} for a server without authentication.
        """
        env = environment.variable
        cloud = self["os-cloud"] or env("OS_CLOUD")
        if not (cloud or self["os-auth-url"] or env("OS_AUTH_URL")):
            given = sorted(k for k in KEYSTONE_OPTIONS if self[k]) + (["os-password-file"] if self["os-password-file"] else [])
            if given:
                raise usage.UsageError(f"--{given[0]} needs --os-auth-url (or $OS_AUTH_URL) or --os-cloud")
            return None
        options: dict[str, Any] = {
            KEYSTONE_OPTIONS[k]: self[k] for k in KEYSTONE_OPTIONS if self[k] is not None
        }
        if self["project-id"]:
            raise usage.UsageError(
                "--project-id is for servers without authentication; with Keystone give "
                "--os-project-name or --os-project-id"
            )
        if "interface" in options and options["interface"] not in ("public", "internal", "admin"):
            raise usage.UsageError(
                f"--os-interface must be public, internal or admin, not {options['interface']!r}"
            )
        options.update(cacert=self["cacert"], cert=self["cert"], key=self["key"],
                       insecure=self["insecure"] or None, password_file=self["os-password-file"])
        if cloud:
            options["cloud"] = cloud
        elif (options.get("auth_type") or env("OS_AUTH_TYPE") or "password") in ("password", "v3password"):
            has_user = options.get("username") or options.get("user_id") or env("OS_USERNAME") or env("OS_USER_ID")
            if not has_user or not (self["os-password-file"] or env("OS_PASSWORD")):
                raise usage.UsageError(
                    "Keystone password authentication needs a user (--os-username or $OS_USERNAME) "
                    "and a password (--os-password-file or $OS_PASSWORD)"
                )
        try:
            # built once now, only to check the options; never kept
            keystone_from_settings(options, run_in_thread=_no_thread)
        except ClientValidationError as e:
            raise usage.UsageError(f"Keystone: {e.description} ({e.field})") from None
        return options
