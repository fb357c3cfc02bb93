"""``share.write``: can the Octopus service account create, read back and delete files on the shared storage?

Octopus HA nodes keep artifacts, task logs and packages on one share, and a node whose service account cannot
write there fails later, in the middle of a deployment. This check logs on **as the service account** (NTLM over
SMB with smbprotocol, as the Windows service will), and in the share's root and in each shared folder creates a
probe file, reads it back and deletes it. Each way it can fail gets its own message and hint, because each has a
different fix: host unreachable (network), account refused (AD), share not found (file server), no access or
read-only (permissions), cannot delete (permissions again, but a subtler one).

It proves access from THIS machine's network position; the nodes' own reach is ``share.reach:<node>``.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from octotui.checks.deadline import DEFAULT_DEADLINE_S, Deadline, run_within
from octotui.checks.refusals import refusal_for_ntstatus
from octotui.checks.result import CheckFailure, CheckResult, Status
from octotui.spec.parsers.accounts import Account
from octotui.spec.parsers.errors import ParseError
from octotui.spec.parsers.winpath import WinPath, parse_windows_path

CHECK_ID = "share.write"

STATUS_ACCESS_DENIED = 0xC0000022
STATUS_NETWORK_ACCESS_DENIED = 0xC00000CA
STATUS_BAD_NETWORK_NAME = 0xC00000CC
STATUS_OBJECT_NAME_INVALID = 0xC0000033
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_OBJECT_PATH_NOT_FOUND = 0xC000003A
STATUS_NOT_A_DIRECTORY = 0xC0000103
STATUS_DISK_FULL = 0xC000007F
STATUS_QUOTA_EXCEEDED = 0xC0000044

GRANT_HINT = ("Grant the service account Modify on the folder (NTFS security) and Change or Full Control on the "
              "share (share permissions).")


def _unc_or_why(text: str) -> tuple[WinPath | None, str]:
    try:
        return parse_windows_path(text, allow_drive=False), ""
    except ParseError as exc:
        return None, exc.message


@dataclass(frozen=True)
class UncPath:
    """``\\\\host\\share\\folder\\...`` split; ``folder`` is relative to the share root ("" for the root)."""

    text: str
    host: str
    share: str
    folder: str

    @classmethod
    def parse(cls, text: WinPath | str) -> UncPath:
        """A share path: the spec's, or text as typed (read by the one Windows path parser)."""
        written = str(text).strip()
        path, why = (text, "") if isinstance(text, WinPath) else _unc_or_why(written)
        if path is None or not path.is_unc or not path.server or not path.share:
            raise CheckFailure(f"Not a UNC path: {text if isinstance(text, str) else written!r}", why,
                               "Write shared paths as \\\\server\\share or \\\\server\\share\\folder.")
        return cls(written, path.server, path.share, "\\".join(path.parts))

    @property
    def root(self) -> str:
        return f"\\\\{self.host}\\{self.share}"


@dataclass(frozen=True)
class Outcome:
    path: str
    status: Status
    summary: str
    hint: str = ""
    detail: str = ""


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status
    status = getattr(exc, "ntstatus", None)
    return status if isinstance(status, int) else None


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _unreachable_reason(exc: BaseException, deadline: Deadline) -> str:
    text = str(exc)
    lowered = text.lower()
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "errno -" in lowered:
        return "its name does not resolve"
    if "refused" in lowered:
        return "connection refused on port 445"
    if "timed out" in lowered or "timeout" in lowered or deadline.expired:
        return f"no answer within {deadline.seconds:g} s"
    if "unreachable" in lowered or "no route" in lowered:
        return "no route to it"
    return _short(exc)


class _Host:
    """One SMB connection and session as the service account; everything opened on it closes with it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.connection: Any = None
        self.session: Any = None
        self.trees: dict[str, Any] = {}

    def logon(self, username: str, password: str, deadline: Deadline) -> None:
        from smbprotocol.connection import Connection
        from smbprotocol.exceptions import SMBAuthenticationError, SMBException, SMBResponseException
        from smbprotocol.session import Session

        self.connection = Connection(uuid.uuid4(), self.host, self.port, require_signing=True)
        deadline.on_abort(self.connection.disconnect)
        try:
            self.connection.connect(timeout=deadline.left())
        except (ValueError, OSError, SMBException) as exc:
            raise CheckFailure(f"File server {self.host} unreachable: {_unreachable_reason(exc, deadline)}",
                               _short(exc), "Check the server name, that it is up, and that SMB (TCP 445) is open "
                               "from this machine.") from exc
        try:
            self.session = Session(self.connection, username, password, require_encryption=False,
                                   auth_protocol="ntlm")
            self.session.connect()
        except SMBResponseException as exc:
            refusal = refusal_for_ntstatus(int(exc.status))
            if refusal is None:
                raise CheckFailure(f"{username} was refused by {self.host} (NTSTATUS 0x{int(exc.status):08X})",
                                   _short(exc), "Check the account's user name and password.") from exc
            raise CheckFailure(f"Account refused by {self.host}: " + refusal.summary.format(account=username),
                               f"NTLM logon as {username}: NTSTATUS 0x{int(exc.status):08X}", refusal.hint) from exc
        except SMBAuthenticationError as exc:
            raise CheckFailure(f"Could not log on to {self.host} as {username}", _short(exc),
                               "Check the user name (DOMAIN\\name) and password.") from exc

    def tree(self, unc: UncPath, username: str) -> Any:
        from smbprotocol.exceptions import SMBResponseException
        from smbprotocol.tree import TreeConnect

        key = unc.share.lower()
        if key not in self.trees:
            tree = TreeConnect(self.session, unc.root)
            try:
                tree.connect()
            except SMBResponseException as exc:
                status = int(exc.status)
                if status == STATUS_BAD_NETWORK_NAME:
                    raise CheckFailure(f"Share {unc.share} not found on {self.host}", unc.root,
                                       "Check the share name (Get-SmbShare on the file server), or create the "
                                       "share.") from exc
                if status in (STATUS_ACCESS_DENIED, STATUS_NETWORK_ACCESS_DENIED):
                    raise CheckFailure(f"{username} may not open the share {unc.root}",
                                       f"tree connect: NTSTATUS 0x{status:08X}", GRANT_HINT) from exc
                raise CheckFailure(f"Could not open the share {unc.root}", _short(exc)) from exc
            self.trees[key] = tree
        return self.trees[key]

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.disconnect()


def _open(tree: Any, name: str, access: int, disposition: int, options: int) -> Any:
    from smbprotocol.open import FileAttributes, ImpersonationLevel, Open, ShareAccess

    handle = Open(tree, name)
    handle.create(ImpersonationLevel.Impersonation, access, FileAttributes.FILE_ATTRIBUTE_NORMAL,
                  ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE,
                  disposition, options)
    return handle


def _can_list(tree: Any, folder: str) -> bool:
    from smbprotocol.exceptions import SMBResponseException
    from smbprotocol.open import CreateDisposition, CreateOptions, DirectoryAccessMask

    try:
        handle = _open(tree, folder, DirectoryAccessMask.FILE_LIST_DIRECTORY | DirectoryAccessMask.FILE_READ_ATTRIBUTES,
                       CreateDisposition.FILE_OPEN, CreateOptions.FILE_DIRECTORY_FILE)
    except SMBResponseException:
        return False
    with contextlib.suppress(Exception):
        handle.close()
    return True


def probe_folder(tree: Any, unc: UncPath, username: str) -> Outcome:
    """Create, read back and delete one probe file in ``unc``; the outcome names what failed."""
    from smbprotocol.exceptions import SMBResponseException
    from smbprotocol.open import CreateDisposition, CreateOptions, FilePipePrinterAccessMask

    shown = unc.text
    name = f".octotui-probe-{secrets.token_hex(8)}.tmp"
    rel = f"{unc.folder}\\{name}" if unc.folder else name
    payload = f"octotui write probe {uuid.uuid4()}\r\n".encode()
    try:
        handle = _open(tree, rel, FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE,
                       CreateDisposition.FILE_CREATE, CreateOptions.FILE_NON_DIRECTORY_FILE)
    except SMBResponseException as exc:
        status = int(exc.status)
        if status in (STATUS_OBJECT_PATH_NOT_FOUND, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_NOT_A_DIRECTORY):
            return Outcome(shown, "fail", f"Folder {shown} not found", "Create the folder, or correct the path.",
                           f"NTSTATUS 0x{status:08X}")
        if status == STATUS_ACCESS_DENIED:
            if _can_list(tree, unc.folder):
                return Outcome(shown, "fail", f"{username} can read but cannot write {shown}", GRANT_HINT,
                               "creating a file: access denied; listing the folder works")
            return Outcome(shown, "fail", f"{username} has no access to {shown}", GRANT_HINT,
                           "creating a file and listing the folder: access denied")
        if status in (STATUS_DISK_FULL, STATUS_QUOTA_EXCEEDED):
            return Outcome(shown, "fail", f"{shown} is full (or the account's quota is used up)",
                           "Free space on the share, or raise the quota.", f"NTSTATUS 0x{status:08X}")
        if status == STATUS_OBJECT_NAME_INVALID:
            return Outcome(shown, "fail", f"{shown} is not a valid folder path", "Correct the path.")
        return Outcome(shown, "fail", f"Could not create a file in {shown} (NTSTATUS 0x{status:08X})",
                       GRANT_HINT, _short(exc))
    try:
        handle.write(payload, 0)
        back = bytes(handle.read(0, len(payload)))
    except SMBResponseException as exc:
        _delete_quietly(tree, rel)
        return Outcome(shown, "fail", f"{username} could create but not write or read back a file in {shown}",
                       GRANT_HINT, _short(exc))
    finally:
        with contextlib.suppress(Exception):
            handle.close()
    if back != payload:
        _delete_quietly(tree, rel)
        return Outcome(shown, "fail", f"A file written to {shown} read back different",
                       "Check the file server's health (antivirus or filter drivers rewriting files?).")
    try:
        gone = _open(tree, rel, FilePipePrinterAccessMask.DELETE, CreateDisposition.FILE_OPEN,
                     CreateOptions.FILE_NON_DIRECTORY_FILE | CreateOptions.FILE_DELETE_ON_CLOSE)
        gone.close()
    except SMBResponseException as exc:
        return Outcome(shown, "fail", f"{username} can write but cannot delete in {shown}",
                       "Grant Modify (which includes Delete), not only Write; Octopus deletes old task logs and "
                       f"packages. Remove the probe file {shown}\\{name} by hand.",
                       f"delete: NTSTATUS 0x{int(exc.status):08X}")
    return Outcome(shown, "pass", f"{username} can create, read and delete files in {shown}")


def _delete_quietly(tree: Any, rel: str) -> None:
    from smbprotocol.open import CreateDisposition, CreateOptions, FilePipePrinterAccessMask

    with contextlib.suppress(Exception):
        _open(tree, rel, FilePipePrinterAccessMask.DELETE, CreateDisposition.FILE_OPEN,
              CreateOptions.FILE_NON_DIRECTORY_FILE | CreateOptions.FILE_DELETE_ON_CLOSE).close()


def check_share_write(unc_paths: Sequence[WinPath | str], username: Account | str, password: str | None, *,
                      deadline_s: float = DEFAULT_DEADLINE_S, port: int = 445,
                      cancel: threading.Event | None = None) -> CheckResult:
    """Probe every path in ``unc_paths`` (the share root and each shared folder) as ``username``.

    Returns by ``deadline_s`` (and soon after ``cancel`` is set); one result for all paths, failing with the
    first problem found, every path's outcome in ``detail``."""
    started = time.monotonic()
    logon = str(username)
    target = ", ".join(str(p).strip() for p in unc_paths) if unc_paths else ""

    def result(status: Status, summary: str, detail: str = "", hint: str = "") -> CheckResult:
        return CheckResult(CHECK_ID, status, target, summary, detail, hint,
                           int((time.monotonic() - started) * 1000))

    if not unc_paths:
        return result("fail", "No shared storage path given", hint="Enter the share as \\\\server\\share.")
    if not logon or not password:
        return result("fail", "The share check needs the service account and its password",
                      hint="Enter the service account (DOMAIN\\name) and its password.")

    def body(deadline: Deadline) -> CheckResult:
        try:
            paths = [UncPath.parse(p) for p in unc_paths]
            return _probe_all(paths, logon, password or "", port, deadline, result)
        except CheckFailure as failure:
            return result(failure.status, failure.summary, failure.detail, failure.hint)
        except Exception as exc:  # a library surprise must read as a result, never as a traceback
            return result("fail", "The share check failed unexpectedly", f"{type(exc).__name__}: {_short(exc)}",
                          "Run the check again; if it persists, report it with this detail.")

    return run_within(
        body, deadline_s, cancel,
        on_timeout=lambda: result("fail", f"The file server did not answer within {deadline_s:g} s",
                                  f"probing {target} as {logon}",
                                  "Check that the server is up and SMB (TCP 445) is open from this machine."),
        on_cancel=lambda: result("skip", "Check cancelled"))


def _probe_all(paths: list[UncPath], username: str, password: str, port: int, deadline: Deadline,
               result: Callable[..., CheckResult]) -> CheckResult:
    outcomes: list[Outcome] = []
    hosts: dict[str, _Host] = {}
    refused: dict[str, CheckFailure] = {}
    try:
        for unc in paths:
            if deadline.expired:
                outcomes.append(Outcome(unc.text, "fail", f"No time left to probe {unc.text}",
                                        "Run the check again with a longer deadline."))
                continue
            key = unc.host.lower()
            try:
                if key in refused:
                    raise refused[key]  # one logon per host: the same refusal holds for all its paths
                if key not in hosts:
                    hosts[key] = _Host(unc.host, port)
                    try:
                        hosts[key].logon(username, password, deadline)
                    except CheckFailure as failure:
                        refused[key] = failure
                        raise
                outcomes.append(probe_folder(hosts[key].tree(unc, username), unc, username))
            except CheckFailure as failure:
                outcomes.append(Outcome(unc.text, failure.status, failure.summary, failure.hint, failure.detail))
    finally:
        for host in hosts.values():
            host.close()
    failed = [o for o in outcomes if o.status == "fail"]
    if len(outcomes) == 1:
        detail = outcomes[0].detail
    else:
        detail = "; ".join(f"{o.path}: ok" if o.status == "pass" else f"{o.path}: {o.summary}"
                           + (f" ({o.detail})" if o.detail else "") for o in outcomes)
    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        return result("fail", first.summary + more, detail, first.hint)
    folders = len(outcomes)
    where = paths[0].text if folders == 1 else f"{folders} shared folders"
    return result("pass", f"{username} can create, read and delete files in {where}", detail)
