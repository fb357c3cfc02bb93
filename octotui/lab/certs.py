"""The lab's own certificate authority, so that HTTPS endpoints validate end to end against a CA file.

Clients are expected to validate certificates by default; a lab that only offered self-signed leaf
certificates would push tests towards ``server_cert_validation="ignore"``, which is the habit we do not
want to teach.

The CA also issues CLIENT certificates for WinRM certificate authentication. Windows maps a client
certificate to an account through a WinRM certificate mapping (``winrm create
winrm/config/service/certmapping?Issuer=<CA thumbprint>+Subject=<UPN>+URI=*``, MS-WSMV 3.1.4.1.35): the
Issuer is the SHA-1 thumbprint of the certificate that signed the client certificate, and the Subject is
matched against the User Principal Name carried in the certificate's subjectAltName (otherName
1.3.6.1.4.1.311.20.2.3), not against the subject DN. A client certificate also needs the Client
Authentication EKU. ``issue_client_certificate`` makes exactly that shape, so the lab's endpoint and a real
Windows host would accept the same file.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from octotui.lab.private import write_private

#: The Microsoft "User Principal Name" otherName type in a subjectAltName (szOID_NT_PRINCIPAL_NAME).
UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")


@dataclass(frozen=True)
class LabCertificates:
    ca_cert: Path
    server_cert: Path
    server_key: Path

    @property
    def ca_key(self) -> Path:
        """The CA's private key, kept (0600) beside its certificate so client certificates can be issued later."""
        return self.ca_cert.with_name("lab-ca.key")


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate and its private key, both PEM files (the key unencrypted, as pywinrm needs it)."""

    cert: Path
    key: Path


def ensure_certificates(folder: Path, host_names: list[str]) -> LabCertificates:
    """Create the CA and a server certificate once; a resumed lab keeps the ones clients already trust."""
    certs = LabCertificates(folder / "lab-ca.pem", folder / "lab-server.pem", folder / "lab-server.key")
    if all(p.exists() for p in (certs.ca_cert, certs.ca_key, certs.server_cert, certs.server_key)):
        return certs
    # A folder from before the CA key was kept cannot issue client certificates: start the CA afresh.
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "octotui lab CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                         x509.DNSName("localhost")]
    alt_names += [x509.DNSName(h) for h in host_names]
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    certs.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    write_private(certs.ca_key, _key_pem(ca_key))
    certs.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    write_private(certs.server_key, _key_pem(key))
    return certs


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def upn_value(upn: str) -> bytes:
    """The DER of a UTF8String holding ``upn``: the value an otherName UPN carries."""
    raw = upn.encode("utf-8")
    if len(raw) < 0x80:
        length = bytes([len(raw)])
    else:
        size = (len(raw).bit_length() + 7) // 8
        length = bytes([0x80 | size]) + len(raw).to_bytes(size, "big")
    return b"\x0c" + length + raw


def issue_client_certificate(certs: LabCertificates, cert_path: Path, key_path: Path, *, upn: str,
                             common_name: str | None = None, days: int = 825) -> ClientCertificate:
    """Issue, from the lab CA, a client certificate for the account whose User Principal Name is ``upn``.

    The UPN goes into the subjectAltName, where a WinRM certificate mapping looks for it; the subject CN
    (``common_name``, default the UPN's user part) is only for people reading the certificate. Both files
    are written 0600: the key is a credential, and the pair is useless apart.
    """
    ca = x509.load_pem_x509_certificate(certs.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(certs.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{certs.ca_key} is not the lab CA's EC key")
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cn = common_name or upn.split("@", 1)[0]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.OtherName(UPN_OID, upn_value(upn))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    write_private(key_path, _key_pem(key))
    return ClientCertificate(cert_path, key_path)


def ensure_client_certificate(certs: LabCertificates, cert_path: Path, key_path: Path, *,
                              upn: str) -> ClientCertificate:
    """Keep a client certificate this CA issued for ``upn`` (a resumed lab's clients keep working), else issue one."""
    if cert_path.exists() and key_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            ca = x509.load_pem_x509_certificate(certs.ca_cert.read_bytes())
            cert.verify_directly_issued_by(ca)
            if upn in certificate_upns(cert) and cert.not_valid_after_utc > dt.datetime.now(dt.UTC):
                return ClientCertificate(cert_path, key_path)
        except (ValueError, TypeError, InvalidSignature):
            pass
    return issue_client_certificate(certs, cert_path, key_path, upn=upn)


def thumbprint(cert: x509.Certificate) -> str:
    """Windows' certificate thumbprint: SHA-1 of the DER, 40 upper-case hex digits (a certmapping's Issuer)."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def file_thumbprint(path: Path) -> str:
    """The thumbprint of the first certificate in a PEM file."""
    return thumbprint(x509.load_pem_x509_certificate(path.read_bytes()))


def certificate_upns(cert: x509.Certificate) -> list[str]:
    """The UPNs in a certificate's subjectAltName (what a WinRM certificate mapping's Subject matches)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    found = []
    for name in san.get_values_for_type(x509.OtherName):
        if name.type_id == UPN_OID:
            text = _utf8_string(name.value)
            if text is not None:
                found.append(text)
    return found


def _utf8_string(der: bytes) -> str | None:
    """Decode one DER UTF8String (tag 12); anything else is not a UPN Windows would read."""
    if len(der) < 2 or der[0] != 0x0C:
        return None
    length, pos = der[1], 2
    if length & 0x80:
        size = length & 0x7F
        if size == 0 or size > 4 or len(der) < 2 + size:
            return None
        length, pos = int.from_bytes(der[2:2 + size], "big"), 2 + size
    if len(der) != pos + length:
        return None
    try:
        return der[pos:].decode("utf-8")
    except UnicodeDecodeError:
        return None
