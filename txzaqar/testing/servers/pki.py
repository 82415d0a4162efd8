"""
A throw-away PKI for TLS tests: a test CA, server certificates and a client
certificate, written as PEM files.

L{make_test_pki} writes, into one directory:

  - C{ca.pem}: the test CA (self-signed); trust this one;
  - C{server.pem}, C{server-key.pem}: server cert for C{127.0.0.1}, C{::1}
    and C{localhost} (IP and DNS SANs), signed by the CA;
  - C{wrong-host.pem}, C{wrong-host-key.pem}: server cert signed by the CA,
    but only for C{wrong-host.invalid} (hostname-mismatch tests);
  - C{client.pem}, C{client-key.pem}: client cert (C{clientAuth}) signed by
    the CA;
  - C{other-ca.pem}: a second, unrelated CA (an untrusted issuer);
  - C{other-client.pem}, C{other-client-key.pem}: client cert signed by
    C{other-ca} (must be refused).

Keys are unencrypted EC P-256.  C{cryptography} is imported only when the
files are generated, so L{ServerTLS} can be imported without it.
"""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServerTLS", "TestPKI", "make_test_pki"]


def _client_context(
    ca: Path, check_hostname: bool, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    """A client context trusting only I{ca}, presenting I{cert} (and I{key}) if given."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = check_hostname
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    return ctx


@dataclass(frozen=True)
class ServerTLS:
    """
    TLS settings for a test server.
    """

    #: Server certificate (PEM).
    certfile: Path
    #: Its private key (PEM).
    keyfile: Path
    #: The CA that signed I{certfile}; the harness's readiness check trusts it (and only it).
    ca: Path
    #: When set, the server I{requires} a client certificate signed by this CA (mTLS).
    client_ca: Path | None = None
    #: Client certificate the harness presents for its readiness check (needed with I{client_ca}).
    client_cert: Path | None = None
    #: Its private key.
    client_key: Path | None = None
    #: Whether the readiness check verifies the host name (False for a deliberately wrong-host
    #: certificate).
    check_hostname: bool = True

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts L{ca} (and presents the client cert, if any)."""
        return _client_context(self.ca, self.check_hostname, self.client_cert, self.client_key)


@dataclass(frozen=True)
class TestPKI:
    """Paths of the PEM files written by L{make_test_pki}."""

    __test__ = False  # not a test case, whatever the name says

    #: The directory the files are in.
    directory: Path

    def _p(self, name: str) -> Path:
        return self.directory / name

    @property
    def ca_cert(self) -> Path:
        """The CA certificate that signed the server and client certificates."""
        return self._p("ca.pem")

    @property
    def server_cert(self) -> Path:
        """A server certificate for C{127.0.0.1}, C{::1} and C{localhost}, signed by the CA."""
        return self._p("server.pem")

    @property
    def server_key(self) -> Path:
        """Its private key."""
        return self._p("server-key.pem")

    @property
    def wrong_host_cert(self) -> Path:
        """A server certificate signed by the CA, but only for C{wrong-host.invalid}."""
        return self._p("wrong-host.pem")

    @property
    def wrong_host_key(self) -> Path:
        """Its private key."""
        return self._p("wrong-host-key.pem")

    @property
    def client_cert(self) -> Path:
        """A client certificate signed by the CA."""
        return self._p("client.pem")

    @property
    def client_key(self) -> Path:
        """Its private key."""
        return self._p("client-key.pem")

    @property
    def other_ca_cert(self) -> Path:
        """A second, unrelated CA (an untrusted issuer)."""
        return self._p("other-ca.pem")

    @property
    def other_client_cert(self) -> Path:
        """A client certificate signed by the other CA (refused by a server requiring the first)."""
        return self._p("other-client.pem")

    @property
    def other_client_key(self) -> Path:
        """Its private key."""
        return self._p("other-client-key.pem")

    def server_tls(self, *, mtls: bool = False, wrong_host: bool = False) -> ServerTLS:
        """
        L{ServerTLS} for a server using this PKI: the good server
        certificate (or the wrong-host one), optionally requiring client
        certificates signed by the test CA.
        """
        return ServerTLS(
            certfile=self.wrong_host_cert if wrong_host else self.server_cert,
            keyfile=self.wrong_host_key if wrong_host else self.server_key,
            ca=self.ca_cert,
            client_ca=self.ca_cert if mtls else None,
            client_cert=self.client_cert if mtls else None,
            client_key=self.client_key if mtls else None,
            check_hostname=not wrong_host,
        )

    def client_context(self, *, client_cert: bool = False, check_hostname: bool = True) -> ssl.SSLContext:
        """A client context trusting the test CA (optionally with the client cert)."""
        if client_cert:
            return _client_context(self.ca_cert, check_hostname, self.client_cert, self.client_key)
        return _client_context(self.ca_cert, check_hostname)


def make_test_pki(directory: Path | str, days: int = 30) -> TestPKI:
    """Generate the CA, server and client certificates into I{directory}."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=days)

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "txzaqar tests"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)

    def write_cert(cert: x509.Certificate, path: Path) -> None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def make_ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        return key, cert

    def make_leaf(
        ca_key: ec.EllipticCurvePrivateKey,
        ca_cert: x509.Certificate,
        cn: str,
        sans: list[x509.GeneralName] | None,
        usage: x509.ObjectIdentifier,
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=True,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    pki = TestPKI(directory)
    ca_key, ca_cert = make_ca("txzaqar test CA")
    write_cert(ca_cert, pki.ca_cert)

    server_sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    key, cert = make_leaf(ca_key, ca_cert, "127.0.0.1", server_sans, ExtendedKeyUsageOID.SERVER_AUTH)
    write_key(key, pki.server_key)
    write_cert(cert, pki.server_cert)

    key, cert = make_leaf(
        ca_key,
        ca_cert,
        "wrong-host.invalid",
        [x509.DNSName("wrong-host.invalid")],
        ExtendedKeyUsageOID.SERVER_AUTH,
    )
    write_key(key, pki.wrong_host_key)
    write_cert(cert, pki.wrong_host_cert)

    key, cert = make_leaf(ca_key, ca_cert, "txzaqar test client", None, ExtendedKeyUsageOID.CLIENT_AUTH)
    write_key(key, pki.client_key)
    write_cert(cert, pki.client_cert)

    other_key, other_cert = make_ca("unrelated CA")
    write_cert(other_cert, pki.other_ca_cert)
    key, cert = make_leaf(other_key, other_cert, "untrusted client", None, ExtendedKeyUsageOID.CLIENT_AUTH)
    write_key(key, pki.other_client_key)
    write_cert(cert, pki.other_client_cert)
    return pki
