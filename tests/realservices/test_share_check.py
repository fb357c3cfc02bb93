"""``share.write`` against the real Samba DC's shares, logged on as the service account: the pass and each
distinct failure (read-only, no access, cannot delete, share or folder not found, account refused, host
unreachable), with deadlines and concurrency."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from octotui.checks.ad import check_ad_account
from octotui.checks.share import check_share_write
from tests.realservices.samba_dc import SambaDC

pytestmark = pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning")


def _svc(dc: SambaDC) -> tuple[str, str]:
    svc = dc.account("svcOctopus")
    return svc.qualified, svc.password


def _probe_files(dc: SambaDC) -> list[Path]:
    return list((dc.directory / "shares").rglob(".octotui-probe-*"))


def test_root_and_every_folder_pass(samba_dc: SambaDC) -> None:
    root = samba_dc.shares["OctopusData"]
    paths = [root] + [samba_dc.unc("OctopusData", f) for f in samba_dc.write_folders]
    result = check_share_write(paths, *_svc(samba_dc))
    assert result.status == "pass", result
    assert result.id == "share.write"
    assert result.summary == f"WORK\\svcOctopus can create, read and delete files in {len(paths)} shared folders"
    assert result.detail.count(": ok") == len(paths)
    assert _probe_files(samba_dc) == []  # nothing left behind


def test_single_root_pass_names_it(samba_dc: SambaDC) -> None:
    result = check_share_write([samba_dc.shares["OctopusData"]], *_svc(samba_dc))
    assert result.status == "pass" and samba_dc.shares["OctopusData"] in result.summary


@pytest.mark.parametrize("where", ["read-only share", "read-only folder"])
def test_can_read_but_cannot_write(samba_dc: SambaDC, where: str) -> None:
    path = (samba_dc.shares["OctopusRead"] if where == "read-only share"
            else samba_dc.unc("OctopusData", samba_dc.read_only_folder))
    result = check_share_write([path], *_svc(samba_dc))
    assert result.status == "fail"
    assert result.summary == f"WORK\\svcOctopus can read but cannot write {path}"
    assert "Modify" in result.hint


def test_no_access_at_all(samba_dc: SambaDC) -> None:
    path = samba_dc.shares["AdminOnly"]
    result = check_share_write([path], *_svc(samba_dc))
    assert result.status == "fail"
    assert result.summary in (f"WORK\\svcOctopus has no access to {path}",
                              f"WORK\\svcOctopus may not open the share {path}")
    assert "Modify" in result.hint


def test_write_without_delete(samba_dc: SambaDC) -> None:
    path = samba_dc.unc("OctopusData", samba_dc.no_delete_folder)
    result = check_share_write([path], *_svc(samba_dc))
    assert result.status == "fail"
    assert result.summary == f"WORK\\svcOctopus can write but cannot delete in {path}"
    assert "Modify (which includes Delete)" in result.hint and ".octotui-probe-" in result.hint


def test_share_not_found(samba_dc: SambaDC) -> None:
    result = check_share_write([samba_dc.unc("NoSuchShare")], *_svc(samba_dc))
    assert result.status == "fail"
    assert result.summary == f"Share NoSuchShare not found on {samba_dc.address}"
    assert "create the share" in result.hint


def test_folder_not_found(samba_dc: SambaDC) -> None:
    path = samba_dc.unc("OctopusData", "NoSuchFolder")
    result = check_share_write([samba_dc.shares["OctopusData"], path], *_svc(samba_dc))
    assert result.status == "fail"
    assert result.summary == f"Folder {path} not found"
    assert f"{samba_dc.shares['OctopusData']}: ok" in result.detail  # the root itself was fine


@pytest.mark.parametrize(("name", "password", "words"), [
    ("svcOctopus", "Not-the-password-9", "Wrong password for WORK\\svcOctopus"),
    ("svcDisabled", None, "WORK\\svcDisabled is disabled"),
    ("svcLocked", None, "WORK\\svcLocked is locked out"),
    ("svcExpired", None, "The password of WORK\\svcExpired has expired"),
    ("svcMustChange", None, "must change its password"),
])
def test_account_refused(samba_dc: SambaDC, name: str, password: str | None, words: str) -> None:
    account = samba_dc.account(name)
    secret = password or account.password
    result = check_share_write([samba_dc.shares["OctopusData"], samba_dc.unc("OctopusData", "Artifacts")],
                               account.qualified, secret)
    assert result.status == "fail"
    assert result.summary.startswith(f"Account refused by {samba_dc.address}: ")
    assert words in result.summary
    assert "(and 1 more)" in result.summary  # one logon per host: both paths carry the refusal
    assert secret not in repr(result)


def test_host_unreachable_refused(samba_dc: SambaDC) -> None:
    result = check_share_write(["\\\\127.0.0.3\\OctopusData"], *_svc(samba_dc))
    assert result.status == "fail"
    assert result.summary == "File server 127.0.0.3 unreachable: connection refused on port 445"
    assert "445" in result.hint


def test_host_name_does_not_resolve(samba_dc: SambaDC) -> None:
    result = check_share_write(["\\\\no-such-host.invalid\\OctopusData"], *_svc(samba_dc))
    assert result.status == "fail" and "its name does not resolve" in result.summary


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a hung or filtered file server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def test_silent_host_fails_within_the_deadline(samba_dc: SambaDC, silent_server: int) -> None:
    began = time.monotonic()
    result = check_share_write([samba_dc.shares["OctopusData"]], *_svc(samba_dc), port=silent_server, deadline_s=1)
    assert result.status == "fail" and "unreachable" in result.summary
    assert time.monotonic() - began < 4  # the deadline is the contract (generous margin for a busy box)


def test_cancel_returns_promptly(samba_dc: SambaDC, silent_server: int) -> None:
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    began = time.monotonic()
    result = check_share_write([samba_dc.shares["OctopusData"]], *_svc(samba_dc), port=silent_server,
                               deadline_s=30, cancel=cancel)
    assert result.status == "skip"
    assert time.monotonic() - began < 10


def test_input_problems_are_named(samba_dc: SambaDC) -> None:
    assert "Not a UNC path" in check_share_write(["C:\\Octopus"], *_svc(samba_dc)).summary
    assert "No shared storage path" in check_share_write([], *_svc(samba_dc)).summary
    assert "needs the service account" in check_share_write([samba_dc.shares["OctopusData"]], "WORK\\x", "").summary


def test_checks_run_concurrently_without_interfering(samba_dc: SambaDC) -> None:
    """The lead runs every check in its own thread: sessions for different users must not mix."""
    user, password = _svc(samba_dc)
    reader = samba_dc.account("svcDisabled")
    root = samba_dc.shares["OctopusData"]
    jobs = [
        lambda: check_share_write([root], user, password),
        lambda: check_share_write([root], reader.qualified, reader.password),
        lambda: check_share_write([samba_dc.shares["OctopusRead"]], user, password),
        lambda: check_ad_account(user, password, domain_controller=samba_dc.address, ca_file=str(samba_dc.ca_file)),
        lambda: check_ad_account(user, password, domain_controller=samba_dc.address),
    ] * 2
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = [f.result() for f in [pool.submit(job) for job in jobs]]
    assert [r.status for r in results] == ["pass", "fail", "fail", "pass", "pass"] * 2
    assert "disabled" in results[1].summary and "can read but cannot write" in results[2].summary
