"""WinRM certificate authentication against the lab: real pywinrm ``transport="certificate"``, real TLS.

The lab model is Windows' certificate mapping (``winrm/config/service/certmapping``): the issuer's thumbprint
plus a pattern on the UPN in the client certificate's subjectAltName pick the account; the account's password
stored in the mapping is checked at each use; the logon is a network logon (no second hop).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from winrm.exceptions import InvalidCredentialsError
from winrm.protocol import Protocol

from octotui.lab.certs import (
    ClientCertificate,
    certificate_upns,
    ensure_certificates,
    ensure_client_certificate,
    file_thumbprint,
    issue_client_certificate,
)
from octotui.lab.winrm import WinRMEndpoint
from octotui.lab.winrm.auth import MUTUAL_PROFILE, CertificatePolicy, CertMapping
from tests.fixtures.lab import running_lab
from tests.fixtures.winrm import (
    ADMIN,
    ADMIN_PW,
    LOCAL_ADMIN,
    LOCAL_ADMIN_PW,
    LOCAL_WHO,
    SVC,
    SVC_PW,
    Lab,
    lab_world,
    run,
)

ADMIN_UPN = "labadmin@work.lab"


@dataclass
class Certs:
    admin: ClientCertificate
    svc: ClientCertificate  # from the lab CA, but no mapping names it
    foreign: ClientCertificate  # the admin's UPN, from another CA
    mapping: CertMapping


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with lab_world(tmp_path_factory.mktemp("winrm-cert")) as world:
        yield world


@pytest.fixture(scope="module")
def certs(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("client-certs")
    other_ca = ensure_certificates(folder / "other-ca", [])
    return Certs(
        admin=issue_client_certificate(lab.certs, folder / "admin.pem", folder / "admin.key", upn=ADMIN_UPN),
        svc=issue_client_certificate(lab.certs, folder / "svc.pem", folder / "svc.key", upn="svcOctopus@work.lab"),
        foreign=issue_client_certificate(other_ca, folder / "foreign.pem", folder / "foreign.key", upn=ADMIN_UPN),
        mapping=CertMapping(issuer=file_thumbprint(lab.certs.ca_cert), subject=ADMIN_UPN, username=ADMIN,
                            password=ADMIN_PW),
    )


@pytest.fixture(scope="module")
def https(lab: Lab, certs: Certs) -> WinRMEndpoint:
    return lab.endpoint(auth="ntlm", tls=True, client_ca=str(lab.certs.ca_cert), cert_mappings=[certs.mapping])


def cert_protocol(ep: WinRMEndpoint, lab: Lab, cert: ClientCertificate) -> Protocol:
    return Protocol(ep.endpoint_url, transport="certificate", cert_pem=str(cert.cert), cert_key_pem=str(cert.key),
                    ca_trust_path=str(lab.certs.ca_cert), proxy=None)


def who(p: Protocol) -> str:
    shell = p.open_shell()
    try:
        out, err, code = run(p, shell, "labwho")
    finally:
        p.close_shell(shell)
    assert (err, code) == (b"", 0)
    return out.decode().strip()


# --- the client certificate ---------------------------------------------------------------------------


def test_client_certificate_carries_the_upn_and_client_auth(lab: Lab, certs: Certs) -> None:
    cert = x509.load_pem_x509_certificate(certs.admin.cert.read_bytes())
    assert certificate_upns(cert) == [ADMIN_UPN]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in eku
    ca = x509.load_pem_x509_certificate(lab.certs.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    for path in (certs.admin.key, lab.certs.ca_key):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_ensure_keeps_a_valid_certificate_and_replaces_a_foreign_one(lab: Lab, certs: Certs, tmp_path: Path) -> None:
    first = ensure_client_certificate(lab.certs, tmp_path / "c.pem", tmp_path / "c.key", upn=ADMIN_UPN)
    pem = first.cert.read_bytes()
    assert ensure_client_certificate(lab.certs, first.cert, first.key, upn=ADMIN_UPN).cert.read_bytes() == pem
    (tmp_path / "c.pem").write_bytes(certs.foreign.cert.read_bytes())
    again = ensure_client_certificate(lab.certs, first.cert, first.key, upn=ADMIN_UPN)
    assert again.cert.read_bytes() not in (pem, certs.foreign.cert.read_bytes())


# --- authentication -----------------------------------------------------------------------------------


def test_certificate_maps_to_the_account_with_a_network_logon(lab: Lab, https: WinRMEndpoint, certs: Certs) -> None:
    # network logon, no delegated password: SQL or a share on another machine would see ANONYMOUS LOGON
    assert who(cert_protocol(https, lab, certs.admin)) == f"{ADMIN}|network|False"


def test_no_certificate_is_401(lab: Lab, https: WinRMEndpoint) -> None:
    resp = requests.post(https.endpoint_url, data=b"<x/>", verify=str(lab.certs.ca_cert),
                         headers={"Authorization": MUTUAL_PROFILE, "Content-Type": "application/soap+xml"})
    assert resp.status_code == 401
    assert "Negotiate" in resp.headers.get("WWW-Authenticate", "")


def test_certificate_from_another_ca_is_refused_by_tls(lab: Lab, https: WinRMEndpoint, certs: Certs) -> None:
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        cert_protocol(https, lab, certs.foreign).open_shell()
    assert who(cert_protocol(https, lab, certs.admin)) == f"{ADMIN}|network|False"  # the listener is unharmed


def test_unmapped_certificate_is_401(lab: Lab, https: WinRMEndpoint, certs: Certs) -> None:
    with pytest.raises(InvalidCredentialsError):
        cert_protocol(https, lab, certs.svc).open_shell()


def test_mapping_checks_the_account_at_each_use(lab: Lab, https: WinRMEndpoint, certs: Certs) -> None:
    acct = lab.world.directory.accounts["labadmin"]
    with lab.world.lock:
        acct.enabled = False
    try:
        with pytest.raises(InvalidCredentialsError):
            cert_protocol(https, lab, certs.admin).open_shell()
    finally:
        with lab.world.lock:
            acct.enabled = True
    stale = lab.endpoint(auth="ntlm", tls=True, client_ca=str(lab.certs.ca_cert),
                         cert_mappings=[replace(certs.mapping, password="an-old-password")])
    with pytest.raises(InvalidCredentialsError):
        cert_protocol(stale, lab, certs.admin).open_shell()


def test_certificate_over_plain_http_is_impossible(lab: Lab, certs: Certs) -> None:
    ep = lab.endpoint(auth="ntlm", client_ca=str(lab.certs.ca_cert), cert_mappings=[certs.mapping])
    assert ep.tls_context is None  # no TLS, so no client certificate can ever be presented
    with pytest.raises(InvalidCredentialsError):
        cert_protocol(ep, lab, certs.admin).open_shell()


@pytest.mark.parametrize(("transport", "user", "password", "expected"), [
    ("basic", LOCAL_ADMIN, LOCAL_ADMIN_PW, f"{LOCAL_WHO}|network|False"),
    ("ntlm", SVC, SVC_PW, f"{SVC}|network|False"),
    ("credssp", ADMIN, ADMIN_PW, f"{ADMIN}|delegated|True"),
])
def test_clients_without_a_certificate_are_still_served(lab: Lab, https: WinRMEndpoint, transport: str, user: str,
                                                        password: str, expected: str) -> None:
    assert who(lab.protocol(https, transport, user=user, password=password)) == expected


# --- the mapping rules (MS-WSMV 3.1.4.1.35) -----------------------------------------------------------


def test_mapping_rules(lab: Lab, certs: Certs) -> None:
    der = x509.load_pem_x509_certificate(certs.admin.cert.read_bytes()).public_bytes(
        serialization.Encoding.DER)
    issuer = certs.mapping.issuer

    def pick(*mappings: CertMapping) -> str | None:
        chosen = CertificatePolicy(lab.certs.ca_cert, mappings).mapped_user(der)
        return chosen.username if chosen else None

    exact = CertMapping(issuer, ADMIN_UPN, "exact", "pw")
    suffix = CertMapping(issuer, "*@work.lab", "suffix", "pw")
    assert pick(suffix) == "suffix"
    assert pick(CertMapping(issuer, "LABADMIN@*", "prefix", "pw")) == "prefix"  # case-insensitive
    assert pick(exact, suffix) == "exact"  # the longest subject wins
    assert pick(exact, replace(exact, username="twin")) is None  # a tie maps nothing
    assert pick(exact, replace(exact, username="uri", uri="http://schemas.microsoft.com/wbem/wsman/1/*")) == "uri"
    assert pick(replace(exact, uri="http://example.invalid/*")) is None
    assert pick(replace(exact, issuer="0" * 40)) is None
    assert pick(replace(exact, enabled=False)) is None
    assert pick(CertMapping(issuer, "someone@work.lab", "other", "pw")) is None


def test_a_certificate_without_client_auth_maps_nothing(lab: Lab, certs: Certs) -> None:
    server = x509.load_pem_x509_certificate(lab.certs.server_cert.read_bytes())  # serverAuth only
    policy = CertificatePolicy(lab.certs.ca_cert, [replace(certs.mapping, subject="*")])
    assert policy.mapped_user(server.public_bytes(serialization.Encoding.DER)) is None


# --- the real lab process ------------------------------------------------------------------------------


def test_lab_up_https_issues_an_admin_client_certificate(tmp_path: Path) -> None:
    with running_lab(tmp_path / "lab", "--nodes", "1", "--https") as running:
        pair = running.ready["admin_client_cert"]
        for path in (pair["cert"], pair["key"]):
            assert Path(path).parent == tmp_path / "lab"
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        p = Protocol(running.node("OCTO1")["endpoint"], transport="certificate", cert_pem=pair["cert"],
                     cert_key_pem=pair["key"], ca_trust_path=running.ready["ca_cert"], proxy=None)
        shell = p.open_shell()
        try:
            assert run(p, shell, "whoami") == (b"work\\labadmin\r\n", b"", 0)
        finally:
            p.close_shell(shell)
        ntlm = running.protocol("OCTO1")  # NTLM over the same HTTPS listener, no certificate
        shell = ntlm.open_shell()
        try:
            assert run(ntlm, shell, "hostname") == (b"OCTO1\r\n", b"", 0)
        finally:
            ntlm.close_shell(shell)
