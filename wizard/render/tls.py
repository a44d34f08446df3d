"""TLS material (a private CA, server and client certificates) made with ``cryptography``.

Why: MinIO rejects SSE-C over plain HTTP, and KES only speaks TLS with mutual authentication
(its policies name clients by the SHA-256 of their public key). Each stack gets its own small CA
so nothing depends on a public CA or on the network. Keys and certificates are generated once
(through the secret store) and then kept, so re-rendering gives byte-identical files.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Certificates are valid this long; the runbook tells how to renew before expiry.
VALID_DAYS = 825


def new_private_key() -> bytes:
    """An ECDSA P-256 private key in PKCS#8 PEM (accepted by Go servers: MinIO, KES, SeaweedFS)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "stackseal"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _validity() -> tuple[_dt.datetime, _dt.datetime]:
    now = _dt.datetime.now(_dt.UTC).replace(microsecond=0)
    return now - _dt.timedelta(minutes=5), now + _dt.timedelta(days=VALID_DAYS)


def new_ca_cert(ca_key_pem: bytes, common_name: str) -> bytes:
    """A self-signed CA certificate (PEM) for ``ca_key_pem``."""
    key = _load_key(ca_key_pem)
    not_before, not_after = _validity()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def new_leaf_cert(
    key_pem: bytes,
    ca_key_pem: bytes,
    ca_cert_pem: bytes,
    common_name: str,
    dns_names: list[str],
    ip_addresses: list[str],
    server: bool,
) -> bytes:
    """A certificate for ``key_pem`` signed by the CA; ``server`` picks serverAuth or clientAuth."""
    key = _load_key(key_pem)
    ca_key = _load_key(ca_key_pem)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    not_before, not_after = _validity()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def kes_identity(cert_pem: bytes) -> str:
    """KES identity of a client certificate: hex SHA-256 of its SubjectPublicKeyInfo (DER)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def cert_sans(cert_pem: bytes) -> list[str]:
    """The DNS names and IPs a certificate is valid for (tests and the runbook show them)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in ext.get_values_for_type(x509.DNSName)] + [
        str(v) for v in ext.get_values_for_type(x509.IPAddress)
    ]
