"""msiexec.exe and choco.exe installing Octopus Deploy Server on a simulated node.

The engine's install step is a command line and an exit code; what it must cope with is what Windows
Installer really does: its own argument syntax (not the C runtime's: ``INSTALLLOCATION="C:\\X\\"``
works), one installation at a time per machine (1618), unreadable packages (1619), fatal errors
(1603), reboots (3010), a verbose log only when asked for, and an upgrade that replaces the program
files while leaving configuration alone. Chocolatey wraps the same MSI, so it runs msiexec as a child
process here too and mirrors its exit code.

Facts: Octopus docs (automating-installation, manually-uninstall), OctopusDSC (``/l*v`` log, registry
InstallLocation with a trailing backslash), Windows Installer documentation (exit codes, ``""`` inside
quoted property values, the ``_MSIExecute`` mutex). Inferred and documented where chosen: see
``msiexec`` and ``choco``.
"""

from __future__ import annotations

import contextlib
import ntpath
import os
import re
import threading
import time
import urllib.parse
import weakref
from dataclasses import dataclass, field, replace

from octotui.lab import timing
from octotui.lab.process import ProcessContext, Program, StdinPipe
from octotui.lab.state import OCTOPUS_REG_KEY, NodeState, StagedInstaller
from octotui.lab.winargs import split_program_name
from octotui.lab.winfs import FsError

#: Simulated time an install or uninstall takes (cancellable); tests may raise it to force overlaps.
INSTALL_SECONDS = 0.05

PRODUCT_NAME = "Octopus Deploy Server"
MANUFACTURER = "Octopus Deploy Pty. Ltd."
PRODUCT_CODE = "{OctopusServer}"
UNINSTALL_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\" + PRODUCT_CODE
DEFAULT_LOCATION = "C:\\Program Files\\Octopus Deploy\\Octopus\\"
EXE_NAME = "Octopus.Server.exe"
MSI_MARKER = b"#lab-msi:"
MSIEXEC_PATH = "C:\\Windows\\System32\\msiexec.exe"

ERROR_SUCCESS = 0
ERROR_INSTALL_FAILURE = 1603
ERROR_UNKNOWN_PRODUCT = 1605
ERROR_INSTALL_ALREADY_RUNNING = 1618
ERROR_INSTALL_PACKAGE_OPEN_FAILED = 1619
ERROR_INSTALL_LOG_FAILURE = 1622
ERROR_INVALID_COMMAND_LINE = 1639
ERROR_SUCCESS_REBOOT_REQUIRED = 3010


# --- shared helpers ------------------------------------------------------------------------------------

def version_key(version: str) -> tuple[int, ...]:
    """Compare versions numerically; trailing zero parts do not matter (2024.1 == 2024.1.0)."""
    parts = [int(p) if p.isdigit() else 0 for p in re.split(r"[.\-+]", version.strip())]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _abspath(cwd: str, path: str) -> str:
    p = path.replace("/", "\\")
    if p.startswith("\\\\") or (len(p) >= 3 and p[1] == ":" and p[2] == "\\"):
        return ntpath.normpath(p)
    if p.startswith("\\"):
        return ntpath.normpath(cwd[:2] + p)
    return ntpath.normpath(ntpath.join(cwd, p))


_MUTEX_GUARD = threading.Lock()
_MUTEXES: dict[int, tuple[weakref.ref[NodeState], threading.Lock]] = {}


def install_mutex(node: NodeState) -> threading.Lock:
    """The node's ``_MSIExecute`` mutex: Windows Installer runs one installation per machine at a time."""
    with _MUTEX_GUARD:
        entry = _MUTEXES.get(id(node))
        if entry is None or entry[0]() is not node:
            entry = (weakref.ref(node), threading.Lock())
            _MUTEXES[id(node)] = entry
        return entry[1]


def installed_version(node: NodeState) -> str | None:
    """The Octopus Server version Windows Installer has registered on the node (caller holds the lock)."""
    return node.reg_get(UNINSTALL_KEY, "DisplayVersion")


# --- msiexec argument syntax ---------------------------------------------------------------------------

def split_msiexec_args(text: str) -> list[str]:
    """Split msiexec's arguments by its own rules, not the C runtime's.

    Blanks separate tokens outside quotes; a quote toggles quoting and is removed; ``""`` inside a
    quoted value is a literal quote (the documented way to put a quote in a property value); a
    backslash is always literal, so ``INSTALLLOCATION="C:\\X\\"`` means ``C:\\X\\``.
    """
    tokens: list[str] = []
    cur: list[str] = []
    in_quotes = started = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            if in_quotes and text[i + 1:i + 2] == '"':
                cur.append('"')
                i += 2
                continue
            in_quotes, started = not in_quotes, True
        elif c in " \t" and not in_quotes:
            if cur or started:
                tokens.append("".join(cur))
            cur, started = [], False
        else:
            cur.append(c)
        i += 1
    if cur or started:
        tokens.append("".join(cur))
    return tokens


_LOG_MODES = set("iwearucmopvx+!*")


@dataclass
class MsiRequest:
    """What an msiexec command line asks for."""

    action: str = ""  # "install" | "uninstall"
    package: str = ""
    ui: str = "full"  # "none" | "basic" | "full"
    norestart: bool = False
    log_path: str | None = None
    properties: dict[str, str] = field(default_factory=dict)  # names upper-cased


def parse_msiexec(tokens: list[str]) -> MsiRequest | None:
    """Parse msiexec options (case-insensitive, ``/`` or ``-``); None when the command line is invalid.

    Property names are matched case-insensitively here; Windows Installer only honours public
    (upper-case) properties, which is what every documented Octopus command line uses.
    """
    req = MsiRequest()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if len(token) > 1 and token[0] in "/-":
            opt = token[1:].lower()
            if opt in ("i", "package", "x", "uninstall"):
                if i >= len(tokens) or req.action:
                    return None
                req.action = "install" if opt in ("i", "package") else "uninstall"
                req.package = tokens[i]
                i += 1
            elif opt in ("quiet", "q", "qn", "qn+", "qn-"):
                req.ui = "none"
            elif opt == "passive" or opt.startswith("qb"):
                req.ui = "basic"
            elif opt in ("qr", "qf"):
                req.ui = "full"
            elif opt == "norestart":
                req.norestart = True
            elif opt in ("forcerestart", "promptrestart"):
                pass
            elif opt == "log" or (opt.startswith("l") and set(opt[1:]) <= _LOG_MODES):
                if i >= len(tokens):
                    return None
                req.log_path = tokens[i]
                i += 1
            else:
                return None
        elif "=" in token and not token.startswith("="):
            name, _, value = token.partition("=")
            req.properties[name.upper()] = value
        else:
            return None
    return req if req.action else None


# --- the verbose log -----------------------------------------------------------------------------------

class _MsiLog:
    """Lines in the shape of a Windows Installer verbose log, written when msiexec ends.

    Written in the ANSI code page (cp1252) with CRLF line ends, which is what ``findstr`` and
    ``Get-Content`` scripts in the wild read without trouble. [Inferred: the encoding]
    """

    def __init__(self, ctx: ProcessContext, path: str | None) -> None:
        self.ctx = ctx
        self.path = _abspath(ctx.cwd, path) if path else None
        self.lines: list[str] = []
        pid = (os.getpid() + threading.get_ident()) % 0xFFFF
        self._client = f"{pid & 0xFF:02X}:{(pid >> 8) & 0xFF:02X}"
        self._server = f"{(pid * 7) & 0xFF:02X}:{(pid * 13) & 0xFF:02X}"
        now = time.localtime()
        self.lines.append(
            f"=== Verbose logging started: {now.tm_mon}/{now.tm_mday}/{now.tm_year}  "
            f"{time.strftime('%H:%M:%S', now)}  Build type: SHIP UNICODE 5.00.10011.00  "
            f"Calling process: {MSIEXEC_PATH} ===")

    @staticmethod
    def _stamp() -> str:
        t = time.time()
        return time.strftime("%H:%M:%S", time.localtime(t)) + f":{int(t * 1000) % 1000:03d}"

    def client(self, text: str) -> None:
        self.lines.append(f"MSI (c) ({self._client}) [{self._stamp()}]: {text}")

    def server(self, text: str) -> None:
        self.lines.append(f"MSI (s) ({self._server}) [{self._stamp()}]: {text}")

    def raw(self, text: str) -> None:
        self.lines.append(text)

    def action(self, name: str, result: int | None = None) -> None:
        clock = time.strftime("%H:%M:%S")
        if result is None:
            self.lines.append(f"Action start {clock}: {name}.")
        else:
            self.lines.append(f"Action ended {clock}: {name}. Return value {result}.")

    def can_open(self) -> bool:
        if self.path is None:
            return True
        with self.ctx.runtime.world.lock:
            fs = self.ctx.runtime.node.fs
            return fs.is_dir(ntpath.dirname(self.path)) and not fs.is_dir(self.path)

    def write(self, code: int | None) -> None:
        if code is not None:
            self.client(f"MainEngineThread is returning {code}")
        now = time.localtime()
        self.lines.append(f"=== Verbose logging stopped: {now.tm_mon}/{now.tm_mday}/{now.tm_year}  "
                          f"{time.strftime('%H:%M:%S', now)} ===")
        if self.path is None:
            return
        data = ("\r\n".join(self.lines) + "\r\n").encode("cp1252", errors="replace")
        try:
            with self.ctx.runtime.world.lock:
                self.ctx.runtime.node.fs.write(self.path, data)
        except FsError:
            pass


# --- msiexec -------------------------------------------------------------------------------------------

def _open_package(ctx: ProcessContext, package: str) -> str | None:
    """The version inside an MSI on the node's disk, or behind a URL the lab serves; None if unreadable.

    A URL is matched by its last path segment against the staged installers, which is all the lab
    serves; the host does not matter (the node downloads through the lab's HTTP server or a proxy).
    """
    world = ctx.runtime.world
    if re.match(r"(?i)https?://", package):
        name = urllib.parse.unquote(urllib.parse.urlsplit(package).path.rsplit("/", 1)[-1])
        with world.lock:
            for staged in world.installers.values():
                if staged.file_name.lower() == name.lower():
                    return staged.version
        return None
    path = _abspath(ctx.cwd, package)
    with world.lock:
        fs = ctx.runtime.node.fs
        if not fs.is_file(path):
            return None
        data = fs.read(path)
    if not data.startswith(MSI_MARKER):
        return None
    version = data[len(MSI_MARKER):].split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    return version or None


def _log_product_line(log: _MsiLog, verb: str, version: str, status: int) -> None:
    noun = {"installed": "Installation", "reconfigured": "Reconfiguration", "removed": "Removal"}[verb]
    log.server(f"Windows Installer {verb} the product. Product Name: {PRODUCT_NAME}. Product Version: "
               f"{version}. Product Language: 1033. Manufacturer: {MANUFACTURER}. {noun} success or error "
               f"status: {status}.")


def _log_fatal(log: _MsiLog, version: str, reason: str) -> None:
    log.server(reason)
    log.raw("CustomAction InstallOctopusServer returned actual error code 1603")
    log.action("InstallFinalize", 3)
    log.server("Note: 1: 1708 ")
    log.server(f"Product: {PRODUCT_NAME} -- Error 1603. Fatal error during installation.")
    log.server(f"Product: {PRODUCT_NAME} -- Installation failed.")
    _log_product_line(log, "installed", version, ERROR_INSTALL_FAILURE)
    log.action("INSTALL", 3)


def _log_busy(log: _MsiLog) -> None:
    log.client("Failed to grab execution mutex. System error 258.")
    log.client("Another installation is already in progress. Complete that installation before "
               "proceeding with this install.")


def _write_product(node: NodeState, version: str, location: str) -> None:
    """Lay the product down: program file, InstallLocation and the Uninstall entry (caller holds the lock)."""
    old = node.reg_get(OCTOPUS_REG_KEY, "InstallLocation")
    if old and old.lower() != location.lower():
        with contextlib.suppress(FsError):
            node.fs.delete(ntpath.join(old, EXE_NAME))
    node.fs.write(ntpath.join(location, EXE_NAME),
                  f"#lab-program:octopus-server\nversion={version}\n".encode(), make_parents=True)
    node.reg_set(OCTOPUS_REG_KEY, "InstallLocation", location)
    for name, value in (("DisplayName", PRODUCT_NAME), ("DisplayVersion", version),
                        ("Publisher", MANUFACTURER), ("InstallLocation", location),
                        ("InstallDate", time.strftime("%Y%m%d")),
                        ("UninstallString", f"MsiExec.exe /X{PRODUCT_CODE}")):
        node.reg_set(UNINSTALL_KEY, name, value)


def _install(ctx: ProcessContext, req: MsiRequest, log: _MsiLog) -> int:
    runtime = ctx.runtime
    node, world = runtime.node, runtime.world
    log.client("Resetting cached policy values")
    log.client("******* RunEngine:")
    log.raw(f"           ******* Product: {req.package}")
    log.raw("           ******* Action: ")
    log.raw("           ******* CommandLine: **********")
    mutex = install_mutex(node)
    if not mutex.acquire(blocking=False):
        _log_busy(log)
        return ERROR_INSTALL_ALREADY_RUNNING
    try:
        fault = runtime.settings.faults.msi_exit_code(node.name) if runtime.settings.faults else None
        if fault == ERROR_INSTALL_ALREADY_RUNNING:
            _log_busy(log)
            return ERROR_INSTALL_ALREADY_RUNNING
        version = _open_package(ctx, req.package)
        if version is None or fault == ERROR_INSTALL_PACKAGE_OPEN_FAILED:
            log.client(f"Note: 1: 2203 2: {req.package} 3: -2147287038 ")
            log.client("This installation package could not be opened. Verify that the package exists "
                       "and that you can access it, or contact the application vendor to verify that "
                       "this is a valid Windows Installer package.")
            return ERROR_INSTALL_PACKAGE_OPEN_FAILED
        props = "".join(f"{k}={v} " for k, v in req.properties.items())
        log.server(f"Command Line: {props}CURRENTDIRECTORY={ctx.cwd} CLIENTUILEVEL=3 ")
        log.action("INSTALL")
        ctx.sleep(max(INSTALL_SECONDS, ctx.runtime.settings.timing.seconds(timing.MSI_INSTALL)))
        if fault == ERROR_INSTALL_FAILURE:
            _log_fatal(log, version, "Installation aborted by a custom action failure.")
            return ERROR_INSTALL_FAILURE
        with world.lock:
            current = installed_version(node)
            if current is not None and version_key(current) > version_key(version):
                _log_fatal(log, version, f"A newer version of {PRODUCT_NAME} is already installed.")
                return ERROR_INSTALL_FAILURE
            if current is not None and version_key(current) == version_key(version):
                log.action("INSTALL", 1)
                log.server(f"Product: {PRODUCT_NAME} -- Configuration completed successfully.")
                _log_product_line(log, "reconfigured", version, 0)
                return ERROR_SUCCESS
            location = (req.properties.get("INSTALLLOCATION")
                        or node.reg_get(OCTOPUS_REG_KEY, "InstallLocation") or DEFAULT_LOCATION)
            location = _abspath(ctx.cwd, location).rstrip("\\") + "\\"
            log.raw(f"Property(S): INSTALLLOCATION = {location}")
            log.raw(f"Property(S): ProductVersion = {version}")
            if current is not None:
                log.server(f"Upgrading {PRODUCT_NAME} {current} to {version}.")
            _write_product(node, version, location)
            log.server(f"Executing op: FileCopy(SourceName=OCTOPU~1.EXE|{EXE_NAME},"
                       f"DestName={ntpath.join(location, EXE_NAME)})")
        log.action("INSTALL", 1)
        log.server(f"Product: {PRODUCT_NAME} -- Installation completed successfully.")
        _log_product_line(log, "installed", version, 0)
        if fault == ERROR_SUCCESS_REBOOT_REQUIRED:
            log.server(f"Windows Installer requires a system restart. Product Name: {PRODUCT_NAME}. Product "
                       f"Version: {version}. Product Language: 1033. Manufacturer: {MANUFACTURER}. Type of "
                       "System Restart: 2. Reason for Restart: 1.")
            log.server(f"Product: {PRODUCT_NAME}. Restart required. The installation or update for the "
                       "product required a restart for all changes to take effect. The restart was "
                       "deferred to a later time.")
            return ERROR_SUCCESS_REBOOT_REQUIRED
        return ERROR_SUCCESS
    finally:
        mutex.release()


def _uninstall(ctx: ProcessContext, req: MsiRequest, log: _MsiLog) -> int:
    runtime = ctx.runtime
    node, world = runtime.node, runtime.world
    if req.package.startswith("{"):
        if req.package.lower() != PRODUCT_CODE.lower():
            log.client("This action is only valid for products that are currently installed.")
            return ERROR_UNKNOWN_PRODUCT
    elif _open_package(ctx, req.package) is None:
        log.client(f"Note: 1: 2203 2: {req.package} 3: -2147287038 ")
        return ERROR_INSTALL_PACKAGE_OPEN_FAILED
    mutex = install_mutex(node)
    if not mutex.acquire(blocking=False):
        _log_busy(log)
        return ERROR_INSTALL_ALREADY_RUNNING
    try:
        with world.lock:
            current = installed_version(node)
            location = node.reg_get(OCTOPUS_REG_KEY, "InstallLocation") or DEFAULT_LOCATION
        if current is None:
            log.client("This action is only valid for products that are currently installed.")
            return ERROR_UNKNOWN_PRODUCT
        log.action("INSTALL")
        ctx.sleep(INSTALL_SECONDS)
        exe = ntpath.join(location, EXE_NAME)
        # The MSI stops the service running the program files it removes; configuration stays.
        for svc in list(node.services.values()):
            if exe.lower() in svc.binary_path.lower():
                runtime.stop_service(svc.name)
        with world.lock:
            with contextlib.suppress(FsError):
                node.fs.delete(exe)
            node.registry.get(OCTOPUS_REG_KEY.lower(), {}).pop("installlocation", None)
            node.reg_delete_key(UNINSTALL_KEY)
        log.action("INSTALL", 1)
        log.server(f"Product: {PRODUCT_NAME} -- Removal completed successfully.")
        _log_product_line(log, "removed", current, 0)
        return ERROR_SUCCESS
    finally:
        mutex.release()


def msiexec(ctx: ProcessContext, argv: list[str], command_line: str) -> int:
    """msiexec.exe ``/i`` and ``/x`` for the Octopus MSI.

    Choices where Windows is unclear or cannot be reproduced:

    * An invalid command line exits 1639 at once. (Windows shows its usage dialog first.)
    * Without ``/quiet``, ``/qn`` or a basic UI (``/passive``, ``/qb``) the full UI would wait for a
      click nobody can give in a WinRM session; the lab waits likewise, until the command is
      terminated.
    * 3010 never reboots the node, even without ``/norestart``.
    * Installing over a newer version fails with 1603 (the MSI blocks downgrades); an upgrade keeps
      the previous InstallLocation unless INSTALLLOCATION is given.
    * Faults (``msi:exit=N``) are taken once per install, after the command line has been accepted.
    """
    _name, rest = split_program_name(command_line)
    req = parse_msiexec(split_msiexec_args(rest))
    if req is None:
        return ERROR_INVALID_COMMAND_LINE
    if req.ui == "full":
        while True:
            ctx.sleep(3600)
    log = _MsiLog(ctx, req.log_path)
    if not log.can_open():
        return ERROR_INSTALL_LOG_FAILURE
    code: int | None = None
    try:
        code = _install(ctx, req, log) if req.action == "install" else _uninstall(ctx, req, log)
        return code
    finally:
        log.write(code)


# --- choco ---------------------------------------------------------------------------------------------

CHOCO_VERSION = "2.2.2"
CHOCO_ID = "OctopusDeploy"
CHOCO_ROOT = "C:\\ProgramData\\chocolatey"
CHOCO_LOG = CHOCO_ROOT + "\\logs\\chocolatey.log"
CHOCO_SOURCE = "https://community.chocolatey.org/api/v2/"
_NUSPEC = CHOCO_ROOT + "\\lib\\" + CHOCO_ID + "\\" + CHOCO_ID + ".nuspec"
_INSTALL_SCRIPT = CHOCO_ROOT + "\\lib\\" + CHOCO_ID + "\\tools\\chocolateyInstall.ps1"
_VALUE_OPTIONS = {"version", "params", "parameters", "package-parameters", "install-arguments",
                  "installargs", "ia", "source", "s", "execution-timeout", "cache-location", "log-file"}
_MSI_MEANINGS = {
    ERROR_INSTALL_FAILURE: (
        "Generic MSI Error. This is a local environment error, not an issue with a package or the MSI itself"
        " - it could mean a pending reboot is necessary prior to install or something else (like the same"
        " version is already installed). Please see MSI log if available. If not, try again adding"
        " '--install-arguments=\"'/l*v c:\\octopusdeploy_msi_install.log'\"'. Then search the MSI Log for"
        " \"Return Value 3\" and look above that for the error."),
    ERROR_INSTALL_ALREADY_RUNNING: "Another installation currently in progress. Try again later.",
    ERROR_INSTALL_PACKAGE_OPEN_FAILED: (
        "MSI could not be found, it is possibly corrupt or you do not have permissions to access it."),
}


class _ChocoOutput:
    """choco's console output, also appended to its log file as Chocolatey does."""

    def __init__(self, ctx: ProcessContext) -> None:
        self.ctx = ctx
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        self.ctx.println(text)
        self.lines.extend(text.split("\n"))

    def flush(self) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        body = "".join(f"{stamp},000 {os.getpid()} [INFO ] - {line}\r\n" for line in self.lines)
        with self.ctx.runtime.world.lock:
            self.ctx.runtime.node.fs.write(CHOCO_LOG, body.encode("utf-8"), append=True, make_parents=True)


def _choco_options(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """Package names and options (``--name value``, ``--name=value``, ``-name``; names lower-cased)."""
    packages: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if token.startswith("-") and len(token) > 1:
            name, eq, value = token.lstrip("-").partition("=")
            name = name.lower()
            if name in _VALUE_OPTIONS and not eq:
                value = args[i] if i < len(args) else ""
                i += 1
            options[name] = value
        else:
            packages.append(token)
    return packages, options


def _choco_installed(ctx: ProcessContext) -> str | None:
    """The version Chocolatey believes it installed (its lib folder), whatever msiexec did since."""
    with ctx.runtime.world.lock:
        fs = ctx.runtime.node.fs
        if not fs.is_file(_NUSPEC):
            return None
        m = re.search(rb"<version>([^<]+)</version>", fs.read(_NUSPEC))
    return m.group(1).decode("utf-8", errors="replace") if m else None


def _find_staged(ctx: ProcessContext, wanted: str | None) -> StagedInstaller | None:
    with ctx.runtime.world.lock:
        staged = list(ctx.runtime.world.installers.values())
    if not staged:
        return None
    if wanted is None:
        return max(staged, key=lambda s: version_key(s.version))
    for s in staged:
        if s.version == wanted or version_key(s.version) == version_key(wanted):
            return s
    return None


def _choco_install_octopus(ctx: ProcessContext, say: _ChocoOutput, options: dict[str, str],
                           staged: StagedInstaller) -> int:
    """Download, confirm and run the MSI through msiexec; return msiexec's exit code (or 1)."""
    version = staged.version
    say(f"{CHOCO_ID} v{version} [Approved]")
    say(f"{CHOCO_ID} package files install completed. Performing other installation steps.")
    if not any(k in options for k in ("y", "yes", "confirm")):
        ctx.out(f"The package {CHOCO_ID} wants to run 'chocolateyInstall.ps1'.\n"
                "Note: If you don't run this script, the installation will fail.\n"
                "Note: To confirm automatically next time, use '-y' or consider:\n"
                "choco feature enable -n allowGlobalConfirmation\n"
                "Do you want to run the script?([Y]es/[A]ll - yes to all/[N]o/[P]rint): ")
        answer = ctx.stdin.read_all(ctx.cancel).decode("utf-8", errors="replace").strip()[:1].lower()
        say()
        if answer not in ("y", "a"):
            return 1
    temp = ctx.env.get("TEMP", "C:\\Windows\\Temp") + "\\chocolatey"
    msi = f"{temp}\\{CHOCO_ID}\\{version}\\{CHOCO_ID}Install.msi"
    msi_log = f"{temp}\\{CHOCO_ID}.{version}.MsiInstall.log"
    base = ctx.runtime.settings.installer_base_url.rstrip("/") or "https://download.octopusdeploy.com/octopus"
    say(f"Downloading {CHOCO_ID} 64 bit")
    say(f"  from '{base}/{staged.file_name}'")
    if "no-progress" not in options:
        say(f"Progress: 100% - Completed download of {msi} ({staged.size} B).")
    with ctx.runtime.world.lock:
        ctx.runtime.node.fs.write(msi, MSI_MARKER + f"{version}\n".encode(), make_parents=True)
    say(f"Download of {CHOCO_ID}Install.msi ({staged.size} B) completed.")
    say("Hashes match.")
    say(f"Installing {CHOCO_ID}...")
    line = f'"{MSIEXEC_PATH}" /i "{msi}" /qn /norestart /l*v "{msi_log}"'
    extra = options.get("install-arguments") or options.get("installargs") or options.get("ia")
    if extra:
        line += " " + extra
    closed = StdinPipe()
    closed.close()
    child = replace(ctx, env=ctx.env.copy(), stdin=closed)
    code = ctx.runtime.run_program_line(child, line)
    if code in (ERROR_SUCCESS, ERROR_SUCCESS_REBOOT_REQUIRED):
        nuspec = (f'<?xml version="1.0" encoding="utf-8"?>\n<package><metadata><id>{CHOCO_ID}</id>'
                  f"<version>{version}</version><title>Octopus Deploy Server</title></metadata></package>\n")
        with ctx.runtime.world.lock:
            ctx.runtime.node.fs.write(_NUSPEC, nuspec.encode("utf-8"), make_parents=True)
        say(f"{CHOCO_ID} has been installed.")
        say(f"  {CHOCO_ID} may be able to be automatically uninstalled.")
        say(f" The install of {CHOCO_ID.lower()} was successful.")
        say("  Software installed as 'msi', install location is likely default.")
        return code
    meaning = _MSI_MEANINGS.get(code, "")
    explain = f" Exit code indicates the following: {meaning}" if meaning else " See log for details."
    say(f"ERROR: Running [{line}] was not successful. Exit code was '{code}'.{explain}")
    return code


def _choco_install(ctx: ProcessContext, args: list[str]) -> int:
    packages, options = _choco_options(args)
    say = _ChocoOutput(ctx)
    say(f"Chocolatey v{CHOCO_VERSION}")
    if not packages:
        say("Package name is required. Please pass at least one package name to install.")
        say.flush()
        return 1
    say("Installing the following packages:")
    say(";".join(packages))
    say("By installing, you accept licenses for the packages.")
    installed = 0
    warnings: list[str] = []
    failures: list[str] = []
    reboots: list[str] = []
    exit_code = 0
    for package in packages:
        wanted = options.get("version") or None
        staged = _find_staged(ctx, wanted) if package.lower() == CHOCO_ID.lower() else None
        if staged is None:
            message = (f"{package} not installed. The package was not found with the source(s) listed.\n"
                       f" Source(s): '{CHOCO_SOURCE}'\n"
                       " NOTE: When you specify explicit sources, it overrides default sources.\n"
                       "If the package version is a prerelease and you didn't specify `--pre`,\n"
                       " the package may not be found.\n"
                       "Please see https://docs.chocolatey.org/en-us/troubleshooting for more\n"
                       " assistance.")
            say(message)
            failures.append(f" - {package} - {message}")
            exit_code = 1
            continue
        current = _choco_installed(ctx)
        if current is not None and "force" not in options and "f" not in options and (
                wanted is None or version_key(current) == version_key(staged.version)):
            message = (f"{CHOCO_ID} v{current} already installed.\n"
                       " Use --force to reinstall, specify a version to install, or try upgrade.")
            say(message)
            warnings.append(f" - {package} - {message}")
            continue
        code = _choco_install_octopus(ctx, say, options, staged)
        if code in (ERROR_SUCCESS, ERROR_SUCCESS_REBOOT_REQUIRED):
            installed += 1
            if code == ERROR_SUCCESS_REBOOT_REQUIRED:
                reboots.append(f" - {CHOCO_ID.lower()} (exit code {code})")
                exit_code = exit_code or code
            continue
        say(f"The install of {CHOCO_ID.lower()} was NOT successful.")
        say(f"Error while running '{_INSTALL_SCRIPT}'.\n See log for details.")
        failures.append(f" - {CHOCO_ID.lower()} (exited {code}) - Error while running '{_INSTALL_SCRIPT}'.\n"
                        " See log for details.")
        exit_code = code if code in _MSI_MEANINGS else 1
    say()
    summary = f"Chocolatey installed {installed}/{len(packages)} packages."
    if failures:
        summary += f" {len(failures)} packages failed."
    say(summary)
    say(f" See the log for details ({CHOCO_LOG}).")
    if warnings:
        say()
        say("Warnings:")
        for w in warnings:
            say(w)
    if reboots:
        say()
        say("Packages requiring reboot:")
        for r in reboots:
            say(r)
        say()
        say("The recent package changes indicate a reboot is necessary.")
        say(" Please reboot at your earliest convenience.")
    if failures:
        say()
        say("Failures")
        for f in failures:
            say(f)
    say.flush()
    return exit_code


def _choco_list(ctx: ProcessContext, args: list[str]) -> int:
    limit = any(a.lower() in ("-r", "--limit-output", "--limitoutput") for a in args)
    packages = [("chocolatey", CHOCO_VERSION)]
    current = _choco_installed(ctx)
    if current is not None:
        packages.append((CHOCO_ID, current))
    if not limit:
        ctx.println(f"Chocolatey v{CHOCO_VERSION}")
    for name, version in packages:
        ctx.println(f"{name}|{version}" if limit else f"{name} {version}")
    if not limit:
        ctx.println(f"{len(packages)} packages installed.")
    return 0


def choco(ctx: ProcessContext, argv: list[str], command_line: str) -> int:
    """choco.exe 2.2.2: ``install`` (OctopusDeploy only), ``list`` and ``--version``.

    Chocolatey's record of what it installed is its lib folder, as on Windows: a product installed
    with msiexec is unknown to it, and ``choco install`` then runs the MSI again (a reconfigure).
    Without ``-y`` choco asks on stdin whether to run the install script, and waits for an answer.
    Output (errors included) goes to stdout. [Inferred: error stream]
    """
    args = argv[1:]
    if not args or args[0].lower() in ("-?", "/?", "-h", "--help", "help"):
        ctx.println(f"Chocolatey v{CHOCO_VERSION}")
        ctx.println("Please run 'choco -?' or 'choco <command> -?' for help menu.")
        return 0 if args else 1
    command = args[0].lower()
    if command in ("-v", "--version") and len(args) == 1:
        ctx.println(CHOCO_VERSION)
        return 0
    if command == "install":
        return _choco_install(ctx, args[1:])
    if command == "list":
        return _choco_list(ctx, args[1:])
    ctx.println(f"Chocolatey v{CHOCO_VERSION}")
    ctx.println(f"Could not find a command registered that meets '{args[0]}'.")
    ctx.println(" Try choco -? for command reference/help.")
    return 1


PROGRAMS: dict[str, Program] = {
    "msiexec": timing.timed(timing.START_MSIEXEC, msiexec),
    "choco": timing.timed(timing.START_CHOCO, choco),
}
