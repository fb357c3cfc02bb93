"""octotui.remote.session with WinRM certificate authentication against a real ``octotui lab up --https`` process.

``lab up --https`` issues a client certificate for the lab admin and maps it on every node (Windows' certmapping:
issuer thumbprint + the UPN in the certificate), so a ``NodeSession(transport="certificate")`` needs no user name
or password at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from octotui.lab.certs import LabCertificates, ensure_certificates, issue_client_certificate
from octotui.remote.errors import RemoteError
from octotui.remote.session import NodeSession
from tests.fixtures.lab import LabProcess, running_lab


@pytest.fixture(scope="module")
def tls_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    with running_lab(tmp_path_factory.mktemp("cert-lab"), "--nodes", "1", "--https") as running:
        yield running


def cert_session(lab: LabProcess, cert: str, key: str) -> NodeSession:
    return NodeSession(lab.node("OCTO1")["endpoint"], None, None, transport="certificate", cert_pem=cert,
                       cert_key_pem=key, ca_cert=lab.ready["ca_cert"], node="OCTO1")


def lab_ca(lab: LabProcess) -> LabCertificates:
    return LabCertificates(lab.state / "lab-ca.pem", lab.state / "lab-server.pem", lab.state / "lab-server.key")


def test_certificate_session_runs_as_the_mapped_admin(tls_lab: LabProcess) -> None:
    pair = tls_lab.ready["admin_client_cert"]
    with cert_session(tls_lab, pair["cert"], pair["key"]) as s:
        res = s.run("whoami", deadline_s=30)
        assert (res.exit_code, res.stdout, res.stderr) == (0, b"work\\labadmin\r\n", b"")
        assert s.run("hostname", deadline_s=30).stdout == b"OCTO1\r\n"  # the same shell, reused


def test_an_unmapped_certificate_is_an_auth_error(tls_lab: LabProcess, tmp_path: Path) -> None:
    other = issue_client_certificate(lab_ca(tls_lab), tmp_path / "svc.pem", tmp_path / "svc.key",
                                     upn="svcOctopus@work.lab")
    with pytest.raises(RemoteError) as info:
        cert_session(tls_lab, str(other.cert), str(other.key)).run("whoami", deadline_s=30)
    assert (info.value.kind, info.value.http_status) == ("auth", 401)


def test_a_certificate_from_another_ca_fails_in_tls(tls_lab: LabProcess, tmp_path: Path) -> None:
    foreign = issue_client_certificate(ensure_certificates(tmp_path / "other-ca", []), tmp_path / "c.pem",
                                       tmp_path / "c.key", upn="labadmin@work.lab")
    with pytest.raises(RemoteError) as info:
        cert_session(tls_lab, str(foreign.cert), str(foreign.key)).run("whoami", deadline_s=30)
    assert info.value.kind == "tls"
    assert "refused our client certificate" in info.value.message and "certmapping" in info.value.hint


def test_certificate_over_plain_http_is_refused_before_connecting(tls_lab: LabProcess) -> None:
    pair = tls_lab.ready["admin_client_cert"]
    with pytest.raises(RemoteError) as info:
        NodeSession(tls_lab.node("OCTO1")["endpoint"].replace("https://", "http://"), None, None,
                    transport="certificate", cert_pem=pair["cert"], cert_key_pem=pair["key"])
    assert info.value.kind == "config" and "HTTPS" in info.value.message
