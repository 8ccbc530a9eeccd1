"""Throwaway certificate authorities for tests: a CA, leaf certificates for any names, and the
standard DNS-server PKI (``make_pki``) the DoT/DoH/web tests share."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PEM = serialization.Encoding.PEM
SERVER_NAMES = ("localhost", "dns.test")
SERVER_IPS = ("127.0.0.1", "::1")


def x509_name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True)
class Leaf:
    """A server certificate (parsed, and as a PEM file) and its key (PEM, unencrypted)."""

    certificate: x509.Certificate
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        """A server context that presents this certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    @property
    def sha256(self) -> str:
        """SHA-256 of the DER certificate, in hex."""
        return hashlib.sha256(self.certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True)
class Authority:
    """A CA that signs leaf certificates; ``pem`` is its certificate, for trust stores."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    pem: Path

    def issue(self, folder: Path, stem: str, names: tuple[str, ...], *, days: int = 30,
              subject: str | None = None, expired: bool = False) -> Leaf:
        """A server certificate for ``names`` (DNS names or IP literals, in this order), written to
        folder/stem.pem|.key; ``expired``: it ended yesterday."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=days)
        if expired:
            start, end = now - dt.timedelta(days=days), now - dt.timedelta(days=1)
        sans: list[x509.GeneralName] = []
        for item in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(item)))
            except ValueError:
                sans.append(x509.DNSName(item))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509_name(subject or names[0])).issuer_name(self.certificate.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        folder.mkdir(parents=True, exist_ok=True)
        leaf = Leaf(cert, folder / f"{stem}.pem", folder / f"{stem}.key")
        leaf.cert.write_bytes(cert.public_bytes(PEM))
        leaf.key.write_bytes(key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return leaf


def authority(folder: Path, common_name: str = "blockaudit test CA", stem: str = "ca") -> Authority:
    """A new self-signed CA, its certificate written to folder/stem.pem."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509_name(common_name)).issuer_name(x509_name(common_name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    pem = folder / f"{stem}.pem"
    pem.write_bytes(cert.public_bytes(PEM))
    return Authority(key, cert, pem)


@dataclass(frozen=True)
class Pki:
    """A CA, a server certificate it signs (for SERVER_NAMES and SERVER_IPS), and an unrelated CA."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path
    server: Leaf
    """The server certificate (``cert`` and ``key``) as a Leaf."""

    def server_context(self) -> ssl.SSLContext:
        return self.server.context()


def make_pki(folder: Path) -> Pki:
    """Write ca.pem, server.pem, server.key and other-ca.pem into ``folder``."""
    ca = authority(folder, "blockaudit test CA", "ca")
    other = authority(folder, "blockaudit unrelated CA", "other-ca")
    server = ca.issue(folder, "server", SERVER_NAMES + SERVER_IPS, subject="localhost")
    return Pki(ca.pem, server.cert, server.key, other.pem, server)
