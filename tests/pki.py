"""A throwaway certificate authority for tests: a CA and leaf certificates for any names."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PEM = serialization.Encoding.PEM


def x509_name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True)
class Leaf:
    """A certificate (PEM) and its key (PEM, unencrypted)."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Authority:
    """A CA that signs leaf certificates; ``pem`` is its certificate, for trust stores."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    pem: Path

    def issue(self, folder: Path, stem: str, names: tuple[str, ...], *, days: int = 30,
              subject: str | None = None) -> Leaf:
        """A server certificate for ``names`` (DNS names or IP literals), written to folder/stem.pem|.key."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
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
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        folder.mkdir(parents=True, exist_ok=True)
        leaf = Leaf(folder / f"{stem}.pem", folder / f"{stem}.key")
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
