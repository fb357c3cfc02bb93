"""Installing Octopus Server on a node (reference/octopus-server.md §3): the MSI's name and download address,
the msiexec and Chocolatey command lines, and what their exit codes mean for the run.

Why apart from the Octopus.Server.exe builders: another program with other rules (msiexec's 1618 "another
installation is in progress" is worth waiting for, 3010 is success with a reboot owed), and the one step that
runs before Octopus.Server.exe exists on the node.
"""

from __future__ import annotations

from dataclasses import dataclass

from octotui.spec.model import InstallSpec
from octotui.windows.octopus import preview

CHOCOLATEY_PACKAGE = "OctopusDeploy"


def installer_file_name(version: str) -> str:
    return f"Octopus.{version}-x64.msi"


def download_url(version: str) -> str:
    return f"https://download.octopusdeploy.com/octopus/{installer_file_name(version)}"


def msiexec_install(msi_path: str, log_path: str | None = None, install_location: str | None = None) -> list[str]:
    """A silent MSI install that never reboots by itself (/norestart: 3010 comes back to us instead)."""
    args = ["msiexec.exe", "/i", msi_path, "/quiet", "/norestart", "RUNMANAGERONEXIT=no"]
    if install_location:
        args.append(f"INSTALLLOCATION={install_location}")
    if log_path:
        args += ["/l*v", log_path]
    return args


def choco_install(version: str) -> list[str]:
    return ["choco.exe", "install", CHOCOLATEY_PACKAGE, "--version", version, "-y", "--no-progress"]


def describe_install(install: InstallSpec, version: str) -> list[str]:
    """The install step's commands as the plan shows them (masked previews, not command lines)."""
    msi = f"C:\\Windows\\Temp\\{installer_file_name(version)}"
    log = f"C:\\Windows\\Temp\\octotui-msi-{version}.log"
    if install.kind == "chocolatey":
        return [preview(choco_install(version))]
    if install.kind == "url":
        return [f"download-file.ps1 {install.source} -> {msi}", preview(msiexec_install(msi, log))]
    if install.kind == "local_file":
        return [f"save-file.ps1 (upload {install.source}) -> {msi}", preview(msiexec_install(msi, log))]
    return [preview(msiexec_install(install.source, log))]


@dataclass(frozen=True)
class InstallerExit:
    """What an msiexec or choco exit code means for the run."""

    code: int
    ok: bool
    reboot_required: bool
    retryable: bool
    text: str
    hint: str = ""


_MSI_CODES: dict[int, tuple[bool, bool, bool, str, str]] = {
    # code: (ok, reboot_required, retryable, text, hint)
    0: (True, False, False, "installed", ""),
    1641: (True, True, False, "installed; the installer started a reboot", "wait for the node to come back"),
    3010: (True, True, False, "installed; a reboot is required to finish", "reboot the node when convenient"),
    350: (False, True, False, "a reboot is pending, so nothing was installed",
          "reboot the node, then run apply again"),
    1601: (False, False, True, "the Windows Installer service could not be accessed",
           "check that the msiserver service can start"),
    1602: (False, False, False, "the installation was cancelled", ""),
    1603: (False, False, False, "a fatal error occurred during installation",
           "read the MSI log on the node (C:\\Windows\\Temp\\octotui-msi-*.log) for the failing action"),
    1604: (False, True, False, "the installation was suspended, incomplete", "reboot the node, then run apply again"),
    1605: (False, False, False, "that action is only valid for products that are installed", ""),
    1618: (False, False, True, "another installation is in progress",
           "wait for the other installer (Windows Update, another MSI) to finish"),
    1619: (False, False, False, "the installation package could not be opened",
           "check the MSI path on the node and that the file is complete"),
    1620: (False, False, False, "the installation package could not be opened (not a valid package)",
           "download the MSI again; the file may be damaged"),
    1622: (False, False, False, "the installer could not open its log file", "check the log folder exists"),
    1625: (False, False, False, "the installation is forbidden by system policy", "ask the node's administrator"),
    1633: (False, False, False, "this package is not supported on this platform", "use the x64 MSI"),
    1638: (False, False, False, "another version of this product is already installed",
           "uninstall it, or set octopus_version to the installed version"),
    1639: (False, False, False, "invalid command line argument", "this is an octotui bug: report it"),
}


def msi_exit_meaning(code: int) -> InstallerExit:
    """Meaning of an msiexec (or Chocolatey, which passes the MSI's code on) exit code: 0 ok, 3010/1641 ok but
    reboot, 1618 worth retrying, 1603/1619/... failures with a hint."""
    if code in _MSI_CODES:
        ok, reboot, retry, text, hint = _MSI_CODES[code]
        return InstallerExit(code, ok, reboot, retry, text, hint)
    return InstallerExit(code, False, False, False, f"the installer failed with exit code {code}",
                         "see the installer's output in the step log")


installer_exit = msi_exit_meaning
