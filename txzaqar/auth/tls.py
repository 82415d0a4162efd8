"""
TLS settings for talking to Zaqar over https: which CAs to trust, an
optional client certificate (mTLS), and a loud opt-in to skip checks.

Certificates are verified (chain and hostname or IP address) by default,
against the system trust store.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from OpenSSL import SSL
from twisted.internet import ssl
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.logger import Logger
from twisted.web.client import BrowserLikePolicyForHTTPS
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from .._support import arguments
from ..errors import ClientValidationError

#: This module's logger.
log = Logger(namespace="txzaqar.tls")  # its name before the move to packages

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def _read(field: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ClientValidationError(field, f"cannot read {path}: {e.strerror}") from None


def _trust_root(cacert: str) -> Any:
    blocks = _PEM_CERT.findall(_read("cacert", cacert))
    if not blocks:
        raise ClientValidationError("cacert", f"{cacert} holds no PEM certificate")
    return ssl.trustRootFromCertificates([ssl.Certificate.loadPEM(b) for b in blocks])


def _client_certificate(cert: str, key: str | None) -> ssl.PrivateCertificate:
    pem = _read("cert", cert)
    if key:
        pem += b"\n" + _read("key", key)
    try:
        return ssl.PrivateCertificate.loadPEM(pem)
    except Exception:
        raise ClientValidationError("cert", f"{cert} (with key {key}) is not a PEM certificate and key") from None


@implementer(IPolicyForHTTPS)
class TLSPolicy:
    """
    An C{IPolicyForHTTPS} for L{txzaqar.http.connection.make_agent}.

    @param cacert: PEM bundle of CAs to trust instead of the system store.
    @param cert: PEM client certificate (may also hold the key).
    @param key: PEM private key of C{cert}.
    @param insecure: do not verify the server at all (logged loudly); a
        C{bool}.
    @raise ClientValidationError: a path that is not one or cannot be
        read, a file without a PEM certificate (and key), C{key} without
        C{cert}, or C{insecure} not a C{bool}.
    """

    def __init__(self, cacert: str | None = None, cert: str | None = None,
                 key: str | None = None, insecure: bool = False) -> None:
        cacert, cert, key, insecure = arguments.tls_files(cacert, cert, key, insecure)
        self._trust = _trust_root(cacert) if cacert else None
        self._client = _client_certificate(cert, key) if cert else None
        #: Whether server certificates go unchecked (logged as a warning).
        self.insecure = insecure
        if insecure:
            log.warn("TLS verification of Zaqar is DISABLED (insecure): anyone on the path can read and forge traffic")

    def __repr__(self) -> str:
        return f"<TLSPolicy custom_ca={self._trust is not None} client_cert={self._client is not None} insecure={self.insecure}>"

    def creatorForNetloc(self, hostname: bytes, port: int) -> IOpenSSLClientConnectionCreator:
        """
        The connection creator for one server: its certificate checked against our trust roots and
        C{hostname} (nothing checked when L{insecure}), and our client certificate if any.

        @return: an L{IOpenSSLClientConnectionCreator}.
        """
        name = hostname.decode("idna")
        if self.insecure:
            options = ssl.CertificateOptions(
                verify=False,
                privateKey=self._client.privateKey.original if self._client else None,
                certificate=self._client.original if self._client else None,
            )
            return _Unverified(name, options.getContext())
        if self._trust is None and self._client is None:
            return BrowserLikePolicyForHTTPS().creatorForNetloc(hostname, port)
        return ssl.optionsForClientTLS(name, trustRoot=self._trust, clientCertificate=self._client)


@implementer(IOpenSSLClientConnectionCreator)
class _Unverified:
    """Makes client TLS connections that accept any certificate (the insecure opt-in)."""

    def __init__(self, hostname: str, context: SSL.Context) -> None:
        self._context = context
        self._sni = None if isIPAddress(hostname) or isIPv6Address(hostname) else hostname.encode("idna")

    def clientConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        connection = SSL.Connection(self._context, None)
        connection.set_app_data(tlsProtocol)
        if self._sni:
            connection.set_tlsext_host_name(self._sni)
        return connection
