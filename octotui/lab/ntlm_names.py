"""The names a lab node's NTLM CHALLENGE carries: the node and its domain, as a domain member's would.

pyspnego's acceptor fills the CHALLENGE's target name and target info (MS-NLMP 2.2.2.1 AV_PAIRs) from the Linux
host (``socket.gethostname()``, domain "WORKSTATION"), and takes no setting for them. A Windows node joined to
WORK answers with target name WORK (NTLMSSP_TARGET_TYPE_DOMAIN) and MsvAvNbComputerName = the node's name,
MsvAvNbDomainName = WORK, MsvAvDnsComputerName = its FQDN, MsvAvDnsDomainName/MsvAvDnsTreeName = the DNS
domain. Tools that print the challenge (and clients that check it) then see the node, not the lab's host.

How: the acceptor's CHALLENGE is rebuilt, with the same flags, server challenge and timestamp, while the
caller says which node is answering (``challenge_names``, thread-local: each connection is served by one
thread). The rebuilt message is also what the acceptor later checks the client's MIC against.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_local = threading.local()
_installed = False
_install_lock = threading.Lock()


@dataclass(frozen=True)
class Names:
    computer: str  # NetBIOS computer name, e.g. OCTO1
    domain: str  # NetBIOS domain, e.g. WORK
    dns_domain: str  # e.g. work.lab

    @property
    def dns_computer(self) -> str:
        return f"{self.computer.lower()}.{self.dns_domain}"


@contextmanager
def challenge_names(names: Names) -> Iterator[None]:
    """NTLM challenges made by this thread inside the block name ``names``."""
    _install()
    saved = getattr(_local, "names", None)
    _local.names = names
    try:
        yield
    finally:
        _local.names = saved


def _install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from spnego._ntlm import NTLMProxy

        original = NTLMProxy._step_accept_negotiate

        def step_accept_negotiate(self: Any, token: bytes) -> bytes:
            out: bytes = original(self, token)
            names: Names | None = getattr(_local, "names", None)
            return _rename(self, names) if names is not None else out

        NTLMProxy._step_accept_negotiate = step_accept_negotiate  # type: ignore[method-assign]
        _installed = True


def _rename(proxy: Any, names: Names) -> bytes:
    from spnego._ntlm_raw.messages import AvId, Challenge, NegotiateFlags, TargetInfo

    old = proxy._temp_challenge
    info = TargetInfo()
    info[AvId.nb_computer_name] = names.computer.upper()
    info[AvId.nb_domain_name] = names.domain.upper()
    info[AvId.dns_computer_name] = names.dns_computer
    info[AvId.dns_domain_name] = names.dns_domain
    info[AvId.dns_tree_name] = names.dns_domain
    info[AvId.timestamp] = old.target_info[AvId.timestamp]
    flags = (old.flags & ~NegotiateFlags.target_type_server) | NegotiateFlags.target_type_domain
    kwargs: dict[str, Any] = {"version": old.version} if old.version is not None else {}
    challenge = Challenge(flags, old.server_challenge, target_name=names.domain.upper(), target_info=info, **kwargs)
    proxy._temp_challenge = challenge
    return bytes(challenge.pack())
