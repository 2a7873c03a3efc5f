"""Serving credentials for the ext_proc port: ``tls.crt``/``tls.key`` from --cert-path, or a fresh
self-signed certificate (as the EPP does) that gateways accept without verification."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_FILE = "tls.crt"
KEY_FILE = "tls.key"


class CertificateError(ValueError):
    """--cert-path does not hold a usable certificate and key."""


def self_signed_certificate(
    now: datetime.datetime, valid_days: int = 365, hostnames: tuple[str, ...] = ()
) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for this host, valid from ``now`` (an aware datetime)."""
    key = ec.generate_private_key(ec.SECP256R1())  # P-256: strong and generated in milliseconds
    names = ("localhost", socket.gethostname(), *hostnames)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gke-inference-picker")])
    alternative_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dict.fromkeys(names) if name]
    alternative_names += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate small clock skew at the gateway
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def load_certificate(cert_path: Path) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) from ``<cert_path>/tls.crt`` and ``<cert_path>/tls.key``."""
    certificate_file, key_file = cert_path / CERT_FILE, cert_path / KEY_FILE
    missing = [str(path) for path in (certificate_file, key_file) if not path.is_file()]
    if missing:
        raise CertificateError(
            f"--cert-path {cert_path}: missing {', '.join(missing)}; mount a kubernetes.io/tls Secret there "
            "or omit --cert-path to serve a self-signed certificate"
        )
    certificate_pem, key_pem = certificate_file.read_bytes(), key_file.read_bytes()
    try:
        x509.load_pem_x509_certificate(certificate_pem)
        serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as error:
        raise CertificateError(
            f"--cert-path {cert_path}: not a PEM certificate and unencrypted key: {error}"
        ) from None
    return certificate_pem, key_pem


def server_ssl_context(cert_path: Path | None, now: datetime.datetime) -> ssl.SSLContext:
    """TLS >= 1.2 with ALPN ``h2`` (gRPC runs over HTTP/2; Envoy's gRPC client offers only h2)."""
    certificate_pem, key_pem = load_certificate(cert_path) if cert_path else self_signed_certificate(now)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    # ssl loads a chain from files only; the PEMs live in a private directory for the moment of loading.
    with tempfile.TemporaryDirectory(prefix="picker-tls-") as directory:
        certificate_file, key_file = Path(directory) / CERT_FILE, Path(directory) / KEY_FILE
        certificate_file.write_bytes(certificate_pem)
        key_file.touch(mode=0o600)
        key_file.write_bytes(key_pem)
        try:
            context.load_cert_chain(certificate_file, key_file)
        except ssl.SSLError as error:
            raise CertificateError(
                f"--cert-path {cert_path}: the key does not belong to the certificate, or either is "
                f"unusable: {error}"
            ) from None
    return context
