"""UNC access as the file server decides it: host, share, who the caller is on the network, and the ACL."""

from __future__ import annotations

import pytest

from octotui.lab import shares
from octotui.lab.identity import ANONYMOUS, Identity
from octotui.lab.winfs import FsError
from tests.fixtures.lab_world import SHARE, make_world

SVC = Identity("WORK\\svcOctopus", "service")
READER = Identity("WORK\\svcReader", "interactive")


def test_access_by_right() -> None:
    world = make_world()
    assert shares.unc_access(world, SVC, SHARE + "\\TaskLogs", "write") is None
    assert shares.unc_access(world, READER, SHARE, "read") is None
    assert shares.unc_access(world, READER, SHARE + "\\x", "write") == "Access is denied."
    nobody = Identity("WORK\\nobody", "interactive")
    assert shares.unc_access(world, nobody, SHARE, "read") == "Access is denied."


def test_the_double_hop_reaches_the_share_as_anonymous() -> None:
    world = make_world()
    network = Identity("WORK\\labadmin", "network")
    assert shares.network_account(world, network) == ANONYMOUS
    assert shares.unc_access(world, network, SHARE, "read") == "Access is denied."
    assert shares.unc_access(world, Identity("WORK\\labadmin", "delegated"), SHARE, "write") is None


def test_unknown_host_and_share() -> None:
    world = make_world()
    missing_host = shares.unc_access(world, SVC, "\\\\fileserver\\OctopusData", "read")
    assert missing_host == "The network path was not found."
    missing_share = shares.unc_access(world, SVC, "\\\\127.0.0.1\\Nope\\x", "read")
    assert missing_share == "The network name cannot be found."
    assert shares.unc_access(world, SVC, "C:\\Octopus", "read") == "The network path was not found."
    assert shares.unc_access(world, SVC, "\\\\localhost\\octopusdata", "write") is None  # aliases, any case


def test_builtin_accounts_go_out_as_the_computer() -> None:
    world = make_world()
    system = Identity("LocalSystem", "service")
    assert shares.network_account(world, system, machine="OCTO1") == "WORK\\OCTO1$"
    local_service = Identity("NT AUTHORITY\\LOCAL SERVICE", "service")
    assert shares.network_account(world, local_service, "OCTO1") == ANONYMOUS
    assert shares.unc_access(world, system, SHARE, "read", machine="OCTO1") == "Access is denied."
    world.files.shares["octopusdata"].acl["WORK\\OCTO1$"] = "full"
    assert shares.unc_access(world, system, SHARE, "write", machine="OCTO1") is None


def test_helpers_write_under_the_canonical_path() -> None:
    world = make_world()
    shares.make_dirs(world, SVC, "\\\\LOCALHOST\\octopusdata\\TaskLogs\\a")
    shares.write_file(world, SVC, SHARE + "\\TaskLogs\\a\\log.txt", b"one")
    shares.write_file(world, SVC, SHARE + "\\TaskLogs\\a\\log.txt", b"two", append=True)
    assert shares.read_file(world, READER, "\\\\localhost\\OctopusData\\tasklogs\\A\\LOG.TXT") == b"onetwo"
    fs = world.files.shares["octopusdata"].fs
    assert [e.path for e in fs.files.values()] == [SHARE + "\\TaskLogs\\a\\log.txt"]
    assert shares.is_dir(world, READER, SHARE + "\\TaskLogs")
    assert not shares.is_dir(world, Identity("WORK\\labadmin", "network"), SHARE + "\\TaskLogs")


def test_helpers_raise_windows_errors() -> None:
    world = make_world()
    with pytest.raises(FsError) as err:
        shares.write_file(world, READER, SHARE + "\\x.txt", b"")
    assert (err.value.winerror, err.value.message) == (5, "Access is denied.")
    with pytest.raises(FsError) as err:
        shares.make_dirs(world, SVC, "\\\\nas\\OctopusData\\x")
    assert (err.value.winerror, err.value.message) == (53, "The network path was not found.")
    with pytest.raises(FsError) as err:
        shares.read_file(world, SVC, "\\\\127.0.0.1\\Other\\x")
    assert err.value.winerror == 67
    with pytest.raises(FsError) as err:
        shares.read_file(world, SVC, SHARE + "\\missing.txt")
    assert err.value.winerror == 2
