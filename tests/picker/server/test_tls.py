"""Serving credentials: a self-signed P-256 certificate, or tls.crt/tls.key from --cert-path."""

from __future__ import annotations

import datetime
import ssl

import pytest
from cryptography import x509
from picker.server.tls import CertificateError, load_certificate, self_signed_certificate, server_ssl_context

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def test_self_signed_certificate_names_localhost_and_is_valid_from_now():
    certificate_pem, key_pem = self_signed_certificate(NOW, valid_days=30)
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert certificate.not_valid_before_utc <= NOW < certificate.not_valid_after_utc
    assert certificate.not_valid_after_utc - NOW <= datetime.timedelta(days=30)
    assert b"PRIVATE KEY" in key_pem


def test_cert_path_round_trip(tmp_path):
    certificate_pem, key_pem = self_signed_certificate(NOW)
    (tmp_path / "tls.crt").write_bytes(certificate_pem)
    (tmp_path / "tls.key").write_bytes(key_pem)
    assert load_certificate(tmp_path) == (certificate_pem, key_pem)
    assert server_ssl_context(tmp_path, NOW).minimum_version == ssl.TLSVersion.TLSv1_2


def test_missing_files_are_named(tmp_path):
    (tmp_path / "tls.crt").write_text("x")
    with pytest.raises(CertificateError, match=r"missing .*tls\.key"):
        load_certificate(tmp_path)


def test_garbage_is_rejected_with_the_path(tmp_path):
    (tmp_path / "tls.crt").write_text("not a certificate")
    (tmp_path / "tls.key").write_text("not a key")
    with pytest.raises(CertificateError, match="not a PEM certificate"):
        load_certificate(tmp_path)
