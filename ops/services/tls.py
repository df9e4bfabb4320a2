"""The hub's small certificate authority and the broker's certificate, as PEM files.

Made once by the first `hubctl services up` with `cryptography`'s x509 (no Java keytool): the CA
signs the broker's certificate for the loopback names it listens on; every client trusts the CA's
certificate and nothing else. Private keys are 0600 files under `<secrets>/tls`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.config import KAFKA_BROKER, Settings
from hub.secrets import private_dir, write_private
from ops.errors import ServiceError

CA_NAME = "exchange hub CA"
CA_YEARS = 10
LEAF_DAYS = 825


class TlsPaths:
    """The PEM files of the hub CA and of the broker."""

    def __init__(self, settings: Settings) -> None:
        self.dir = settings.secrets_dir / "tls"
        self.ca_cert = settings.ca_file
        self.ca_key = self.dir / "ca.key"
        # Kafka's PEM keystore: the private key followed by the certificate chain.
        self.broker_keystore = self.dir / "broker.pem"


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "exchange hub"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _make_ca(paths: TlsPaths) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(CA_NAME))
        .issuer_name(_name(CA_NAME))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    write_private(paths.ca_key, _pem_key(key))
    paths.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _load_ca(paths: TlsPaths) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    except (OSError, ValueError) as err:
        raise ServiceError(f"the hub CA in {paths.dir} cannot be read: {err}") from err
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ServiceError(f"{paths.ca_key} is not the hub CA's EC key")
    return cert, key


def _broker_cert_fits(paths: TlsPaths, host: str) -> bool:
    try:
        chain = x509.load_pem_x509_certificates(paths.broker_keystore.read_bytes())
    except (OSError, ValueError):
        return False
    leaf = chain[0]
    if leaf.not_valid_after_utc - dt.datetime.now(dt.UTC) < dt.timedelta(days=30):
        return False
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    wanted = _host_name(host)
    return any(entry == wanted for entry in names)


def _host_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _make_broker_cert(paths: TlsPaths, host: str) -> None:
    ca_cert, ca_key = _load_ca(paths)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    names = {_host_name(host), x509.DNSName("localhost"), x509.IPAddress(
        ipaddress.ip_address("127.0.0.1"))}
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(KAFKA_BROKER))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.SubjectAlternativeName(sorted(names, key=str)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # The broker is a server to clients and a client of its own controller (mutual TLS).
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(
        serialization.Encoding.PEM
    )
    write_private(paths.broker_keystore, _pem_key(key) + chain)


def ensure_tls(settings: Settings) -> TlsPaths:
    """The CA (made once) and a broker certificate valid for `settings.kafka_host`."""
    paths = TlsPaths(settings)
    private_dir(paths.dir)
    if not paths.ca_cert.exists() or not paths.ca_key.exists():
        _make_ca(paths)
    if not _broker_cert_fits(paths, settings.kafka_host):
        _make_broker_cert(paths, settings.kafka_host)
    return paths


def ca_pem(settings: Settings) -> str:
    """The CA certificate as text, for participants' bundles."""
    try:
        return Path(settings.ca_file).read_text(encoding="ascii")
    except OSError as err:
        raise ServiceError(f"no hub CA certificate at {settings.ca_file}: {err}") from err
