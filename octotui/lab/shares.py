"""Reaching the cluster's SMB share from a simulated process, as Windows decides it.

A UNC path is checked against who the *file server* sees: the caller's outbound account. A WinRM
session without delegated credentials reaches it as ANONYMOUS LOGON (the double hop) and is refused;
a service running as LocalSystem reaches it as the node's computer account. The words are the ones
Windows prints for each failure, because installers and users match on them.

Inside a share's WinFS every path is kept in the canonical form ``\\\\<files.host>\\<share>\\...`` (the
share root is created at provisioning), whatever alias of the host the caller typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from octotui.lab.identity import ANONYMOUS, Identity
from octotui.lab.state import Share, World
from octotui.lab.winfs import FsError

NETWORK_PATH_NOT_FOUND = "The network path was not found."
NETWORK_NAME_NOT_FOUND = "The network name cannot be found."
ACCESS_DENIED = "Access is denied."

ERROR_ACCESS_DENIED = 5
ERROR_BAD_NETPATH = 53
ERROR_BAD_NET_NAME = 67

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_MACHINE_ACCOUNTS = ("localsystem", "nt authority\\system", ".\\localsystem", "system",
                     "nt authority\\network service", "networkservice", "nt authority\\networkservice")
_NO_NETWORK_IDENTITY = ("nt authority\\local service", "localservice", "nt authority\\localservice")

Want = Literal["read", "write"]


def network_account(world: World, identity: Identity, machine: str | None = None) -> str:
    """The account another machine sees when this process authenticates to it.

    LocalSystem and NetworkService go out as the computer account (``DOMAIN\\NODE$``); LocalService, a
    network logon without credentials and a local account of the node (``OCTO1\\Administrator``: no other
    machine knows it) go out as ANONYMOUS LOGON.
    """
    outbound = identity.outbound_account
    low = outbound.lower()
    if outbound == ANONYMOUS or low in _NO_NETWORK_IDENTITY:
        return ANONYMOUS
    prefix = low.split("\\", 1)[0] if "\\" in low else None
    if prefix is not None and low not in _MACHINE_ACCOUNTS and (prefix == "." or any(
            n.name.lower() == prefix for n in world.nodes)):
        return ANONYMOUS
    if low in _MACHINE_ACCOUNTS:
        return f"{world.directory.domain}\\{machine}$" if machine else ANONYMOUS
    return outbound


def host_matches(world_host: str, typed: str) -> bool:
    """Whether a host name the caller typed names the lab's server (loopback aliases count as one)."""
    t, w = typed.strip().lower(), world_host.strip().lower()
    if t == w:
        return True
    return _loopback(t) and _loopback(w)


def _loopback(host: str) -> bool:
    """Any 127/8 address counts: with ``lab up --dc`` the same share is served over real SMB on the DC's
    loopback address (127.0.0.2), and a node that types that address must reach the share it stands for."""
    return host in _LOOPBACK or (host.startswith("127.") and host.count(".") == 3)


@dataclass(frozen=True)
class UncTarget:
    share: Share
    path: str  # canonical UNC path inside the share's WinFS


def resolve(world: World, unc_path: str) -> UncTarget:
    """Find the share a UNC path points into; FsError with Windows' words when host or share is unknown."""
    p = unc_path.replace("/", "\\")
    if not p.startswith("\\\\"):
        raise FsError(ERROR_BAD_NETPATH, NETWORK_PATH_NOT_FOUND)
    parts = [x for x in p[2:].split("\\")]
    host = parts[0] if parts else ""
    if not host or not host_matches(world.files.host, host):
        raise FsError(ERROR_BAD_NETPATH, NETWORK_PATH_NOT_FOUND)
    share_name = parts[1] if len(parts) > 1 else ""
    share = world.files.share(share_name) if share_name else None
    if share is None:
        raise FsError(ERROR_BAD_NET_NAME, NETWORK_NAME_NOT_FOUND)
    rest = [x for x in parts[2:] if x]
    canonical = "\\\\" + "\\".join([world.files.host, share.name, *rest])
    return UncTarget(share=share, path=canonical)


def unc_access(world: World, identity: Identity, unc_path: str, want: Want,
               machine: str | None = None) -> str | None:
    """None when ``identity`` may ``want`` the path, else the text Windows shows for the refusal."""
    with world.lock:
        try:
            target = resolve(world, unc_path)
        except FsError as exc:
            return exc.message
        who = network_account(world, identity, machine)
        if who == ANONYMOUS:
            return ACCESS_DENIED
        level = target.share.access(who)
        if level is None:
            return ACCESS_DENIED
        if want == "write" and level.lower() not in ("full", "change", "write"):
            return ACCESS_DENIED
        return None


def _checked(world: World, identity: Identity, unc_path: str, want: Want, machine: str | None) -> UncTarget:
    error = unc_access(world, identity, unc_path, want, machine)
    if error is not None:
        code = {NETWORK_PATH_NOT_FOUND: ERROR_BAD_NETPATH, NETWORK_NAME_NOT_FOUND: ERROR_BAD_NET_NAME}
        raise FsError(code.get(error, ERROR_ACCESS_DENIED), error)
    return resolve(world, unc_path)


def open_target(world: World, identity: Identity, unc_path: str, want: Want,
                machine: str | None = None) -> UncTarget:
    """The share and canonical path a caller may ``want``; FsError with Windows' words when refused.

    A share is itself a folder, so its root is always there to list or to write into, even when the
    share was created without one; call with ``world.lock`` held when the result is used.
    """
    with world.lock:
        target = _checked(world, identity, unc_path, want, machine)
        root = "\\\\" + "\\".join([world.files.host, target.share.name])
        if not target.share.fs.is_dir(root):
            target.share.fs.makedirs(root)
        return target


def make_dirs(world: World, identity: Identity, unc_path: str, machine: str | None = None) -> None:
    with world.lock:
        target = _checked(world, identity, unc_path, "write", machine)
        target.share.fs.makedirs(target.path)


def write_file(world: World, identity: Identity, unc_path: str, data: bytes, *, append: bool = False,
               machine: str | None = None) -> None:
    with world.lock:
        target = _checked(world, identity, unc_path, "write", machine)
        target.share.fs.write(target.path, data, append=append)


def read_file(world: World, identity: Identity, unc_path: str, machine: str | None = None) -> bytes:
    with world.lock:
        target = _checked(world, identity, unc_path, "read", machine)
        return target.share.fs.read(target.path)


def is_dir(world: World, identity: Identity, unc_path: str, machine: str | None = None) -> bool:
    """``Test-Path -PathType Container`` on a UNC path: False when refused or missing."""
    with world.lock:
        try:
            target = _checked(world, identity, unc_path, "read", machine)
        except FsError:
            return False
        return target.share.fs.is_dir(target.path)
