"""msiexec and choco installing Octopus on a node, run the way WinRS runs them (through cmd.exe)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from octotui.lab.faults import FaultPlan
from octotui.lab.identity import Identity
from octotui.lab.process import ProcessContext
from octotui.lab.programs import installers, system
from octotui.lab.programs.installers import (
    DEFAULT_LOCATION,
    UNINSTALL_KEY,
    install_mutex,
    parse_msiexec,
    split_msiexec_args,
)
from octotui.lab.runtime import NodeRuntime, RunningProcess
from octotui.lab.settings import LabSettings
from octotui.lab.state import OCTOPUS_REG_KEY, Account, NodeState, Service, StagedInstaller, World
from tests.fixtures.waiting import wait_until

ADMIN = Identity("WORK\\labadmin")
MARKERS = {
    "C:\\Windows\\System32\\cmd.exe": "cmd",
    "C:\\Windows\\System32\\hostname.exe": "hostname",
    "C:\\Windows\\System32\\whoami.exe": "whoami",
    "C:\\Windows\\System32\\msiexec.exe": "msiexec",
    "C:\\ProgramData\\chocolatey\\bin\\choco.exe": "choco",
}
VERSIONS = ("2024.1.1", "2024.2.3")
EXE = DEFAULT_LOCATION + "Octopus.Server.exe"


def msi(version: str) -> str:
    return f"C:\\Install\\Octopus.{version}-x64.msi"


@dataclass
class Lab:
    world: World
    node: NodeState
    runtime: NodeRuntime

    def spawn(self, line: str, stdin: bytes = b"", skip_cmd_shell: bool = False) -> Running:
        proc = self.runtime.spawn(line, ADMIN, skip_cmd_shell=skip_cmd_shell)
        proc.stdin.feed(stdin, True)
        return Running(proc)

    def run(self, line: str, stdin: bytes = b"", skip_cmd_shell: bool = False) -> tuple[int, str, str]:
        return self.spawn(line, stdin, skip_cmd_shell).wait()

    def read(self, path: str) -> str:
        with self.world.lock:
            return self.node.fs.read(path).decode("cp1252")

    def exists(self, path: str) -> bool:
        with self.world.lock:
            return self.node.fs.exists(path)

    def reg(self, key: str, value: str) -> str | None:
        with self.world.lock:
            return self.node.reg_get(key, value)

    def msiexec_records(self) -> list[tuple[str, int | None]]:
        return [(r.command_line, r.exit_code) for r in self.node.process_log
                if "msiexec" in r.command_line.lower()
                and not r.command_line.lower().startswith("c:\\windows\\system32\\cmd.exe")]


class Running:
    def __init__(self, proc: RunningProcess) -> None:
        self.proc = proc
        self.out, self.err = bytearray(), bytearray()
        self.code: int | None = None

    def poll(self, timeout: float) -> bool:
        o, e, done, code = self.proc.output.drain(1 << 20, timeout)
        self.out += o
        self.err += e
        if done:
            self.code = code
        return done

    def wait(self, timeout: float = 10.0) -> tuple[int, str, str]:
        deadline = time.monotonic() + timeout
        while not self.poll(min(5.0, max(0.01, deadline - time.monotonic()))):
            assert time.monotonic() < deadline, "command did not finish"
        assert self.code is not None
        return self.code, self.out.decode("cp437"), self.err.decode("cp437")


def make_lab(faults: list[str] | None = None) -> Lab:
    world = World()
    world.directory.accounts["labadmin"] = Account(sam="labadmin", password="pw", domain_admin=True)
    node = NodeState(name="OCTO1")
    for path, program in MARKERS.items():
        node.fs.write(path, f"#lab-program:{program}\n".encode(), make_parents=True)
    for version in VERSIONS:
        name = f"Octopus.{version}-x64.msi"
        node.fs.write(msi(version), f"#lab-msi:{version}\n".encode(), make_parents=True)
        world.installers[version] = StagedInstaller(version, name, "0" * 64, 300_000_000)
    world.nodes.append(node)
    settings = LabSettings(faults=FaultPlan.parse(faults) if faults else None)
    runtime = NodeRuntime(world, node, settings, {**system.PROGRAMS, **installers.PROGRAMS}, {})
    return Lab(world, node, runtime)


@pytest.fixture
def lab() -> Iterator[Lab]:
    yield make_lab()


def assert_installed(lab: Lab, version: str, location: str = DEFAULT_LOCATION) -> None:
    assert lab.read(location + "Octopus.Server.exe") == f"#lab-program:octopus-server\nversion={version}\n"
    assert lab.reg(OCTOPUS_REG_KEY, "InstallLocation") == location
    assert lab.reg(UNINSTALL_KEY, "DisplayName") == "Octopus Deploy Server"
    assert lab.reg(UNINSTALL_KEY, "DisplayVersion") == version


def assert_not_installed(lab: Lab) -> None:
    assert not lab.exists(EXE)
    assert lab.reg(OCTOPUS_REG_KEY, "InstallLocation") is None
    assert lab.reg(UNINSTALL_KEY, "DisplayVersion") is None


# --- argument syntax -----------------------------------------------------------------------------------

def test_msiexec_argument_syntax() -> None:
    assert split_msiexec_args('/i "C:\\a b.msi" INSTALLLOCATION="C:\\X\\" P="say ""hi""" E=""') == [
        "/i", "C:\\a b.msi", "INSTALLLOCATION=C:\\X\\", 'P=say "hi"', "E="]
    line = '-I x.msi /QN /NoRestart /L*V "C:\\l.log" installlocation=C:\\Y\\'
    req = parse_msiexec(split_msiexec_args(line))
    assert req is not None
    assert (req.action, req.package, req.ui, req.norestart, req.log_path) == (
        "install", "x.msi", "none", True, "C:\\l.log")
    assert req.properties == {"INSTALLLOCATION": "C:\\Y\\"}
    assert parse_msiexec(["/i"]) is None
    assert parse_msiexec(["/bogus"]) is None
    assert parse_msiexec(["/qn"]) is None
    assert parse_msiexec(["/i", "a.msi", "stray"]) is None


# --- msiexec install -----------------------------------------------------------------------------------

def test_documented_silent_install(lab: Lab) -> None:
    line = f"msiexec /i {msi('2024.1.1')} /quiet RUNMANAGERONEXIT=no"
    assert lab.run(line) == (0, "", "")
    assert_installed(lab, "2024.1.1")
    assert lab.msiexec_records() == [(line, 0)]
    assert lab.node.process_log[0].command_line == "C:\\Windows\\System32\\cmd.exe /c " + line
    assert lab.node.process_log[0].exit_code == 0


def test_verbose_log_and_missing_log_folder(lab: Lab) -> None:
    log = "C:\\Octopus\\logs\\Octopus-x64.msi.log"
    line = f"msiexec /i {msi('2024.1.1')} /qn /norestart /l*v {log}"
    assert lab.run(line)[0] == 1622  # Windows Installer does not create the log folder
    assert_not_installed(lab)
    assert lab.run(f"mkdir C:\\Octopus\\logs && {line}")[0] == 0
    text = lab.read(log)
    assert text.startswith("=== Verbose logging started:")
    assert "Product: Octopus Deploy Server -- Installation completed successfully." in text
    assert "MainEngineThread is returning 0\r\n" in text
    assert text.rstrip().endswith("===")


def test_install_location_with_trailing_backslash(lab: Lab) -> None:
    line = f'msiexec /i {msi("2024.1.1")} /qn INSTALLLOCATION="C:\\Octo Custom\\" RUNMANAGERONEXIT=no'
    assert lab.run(line)[0] == 0
    assert_installed(lab, "2024.1.1", "C:\\Octo Custom\\")
    assert not lab.exists(EXE)


def test_url_package_and_skip_cmd_shell(lab: Lab) -> None:
    url = "https://download.octopusdeploy.com/octopus/Octopus.2024.2.3-x64.msi"
    assert lab.run(f"MsiExec.exe -i {url} -QN", skip_cmd_shell=True)[0] == 0
    assert_installed(lab, "2024.2.3")
    assert lab.run("msiexec /i https://example.test/Octopus.9.9.9-x64.msi /qn")[0] == 1619


def test_upgrade_same_version_and_downgrade(lab: Lab) -> None:
    assert lab.run(f'msiexec /i {msi("2024.1.1")} /qn INSTALLLOCATION="C:\\Octo\\"')[0] == 0
    assert lab.run(f"msiexec /i {msi('2024.2.3')} /qn /l*v C:\\up.log")[0] == 0
    assert_installed(lab, "2024.2.3", "C:\\Octo\\")  # an upgrade keeps the folder
    assert "Upgrading Octopus Deploy Server 2024.1.1 to 2024.2.3." in lab.read("C:\\up.log")
    assert lab.run(f"msiexec /i {msi('2024.2.3')} /qn /l*v C:\\again.log")[0] == 0
    assert "Configuration completed successfully." in lab.read("C:\\again.log")
    assert lab.run(f"msiexec /i {msi('2024.1.1')} /qn /l*v C:\\down.log")[0] == 1603
    assert "A newer version of Octopus Deploy Server is already installed." in lab.read("C:\\down.log")
    assert_installed(lab, "2024.2.3", "C:\\Octo\\")


def test_package_that_cannot_be_opened(lab: Lab) -> None:
    assert lab.run("msiexec /i C:\\Install\\missing.msi /qn /l*v C:\\m.log")[0] == 1619
    assert "MainEngineThread is returning 1619" in lab.read("C:\\m.log")
    with lab.world.lock:
        lab.node.fs.write("C:\\Install\\notes.msi", b"not an msi")
    assert lab.run("msiexec /i C:\\Install\\notes.msi /qn")[0] == 1619
    assert_not_installed(lab)


def test_invalid_command_line(lab: Lab) -> None:
    assert lab.run("msiexec")[0] == 1639
    assert lab.run(f"msiexec /i {msi('2024.1.1')} /bogus")[0] == 1639
    assert_not_installed(lab)


def test_another_install_in_progress(lab: Lab) -> None:
    mutex = install_mutex(lab.node)
    with mutex:
        assert lab.run(f"msiexec /i {msi('2024.1.1')} /qn /l*v C:\\busy.log")[0] == 1618
    assert "Failed to grab execution mutex" in lab.read("C:\\busy.log")
    assert_not_installed(lab)


def test_concurrent_installs_on_one_node(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second install is started while the first one provably holds the ``_MSIExecute`` mutex, and
    the first is held mid-install (its install time waits on a gate) until the second has answered, so
    neither a slow nor a fast machine changes which one gets there first."""
    gate, installing = threading.Event(), threading.Event()
    slept = ProcessContext.sleep

    def gated_sleep(ctx: ProcessContext, seconds: float) -> None:
        if sys._getframe(1).f_code is installers._install.__code__:  # the install's own time, nothing else
            installing.set()
            assert gate.wait(30), "the test never opened the gate"
        slept(ctx, seconds)

    monkeypatch.setattr(ProcessContext, "sleep", gated_sleep)
    mutex = install_mutex(lab.node)
    first = lab.spawn(f"msiexec /i {msi('2024.1.1')} /qn")
    wait_until(installing.is_set, what="the first msiexec to be installing (holding the _MSIExecute mutex)")
    assert mutex.locked()
    second = lab.spawn(f"msiexec /i {msi('2024.2.3')} /qn")
    assert second.wait()[0] == 1618
    assert first.code is None and not first.poll(0), "the first install ended before the gate opened"
    gate.set()
    assert first.wait()[0] == 0
    assert_installed(lab, "2024.1.1")
    assert not mutex.locked()


def test_non_silent_install_waits_for_a_click_until_terminated(lab: Lab) -> None:
    running = lab.spawn(f"msiexec /i {msi('2024.1.1')}")
    # Not ending on its own IS the behaviour under test: there is no event to wait for, so give it a
    # moment in which a silent install (INSTALL_SECONDS, 0.05 s) would long have finished.
    assert not running.poll(0.3)
    running.proc.terminate()
    assert running.wait()[0] == -1073741510
    assert_not_installed(lab)


def test_cancel_during_install_releases_the_mutex(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(installers, "INSTALL_SECONDS", 60)  # terminating wakes it at once
    mutex = install_mutex(lab.node)
    running = lab.spawn(f"msiexec /i {msi('2024.1.1')} /qn")
    wait_until(mutex.locked, what="msiexec to hold the _MSIExecute mutex (the install under way)")
    assert not running.poll(0)
    running.proc.terminate()
    running.wait()
    assert not mutex.locked()
    assert_not_installed(lab)
    monkeypatch.setattr(installers, "INSTALL_SECONDS", 0.01)
    assert lab.run(f"msiexec /i {msi('2024.1.1')} /qn")[0] == 0


# --- faults --------------------------------------------------------------------------------------------

def test_fault_1603_installs_nothing_once() -> None:
    lab = make_lab(["msi:exit=1603"])
    assert lab.run(f"msiexec /i {msi('2024.1.1')} /qn /l*v C:\\f.log")[0] == 1603
    text = lab.read("C:\\f.log")
    assert "Fatal error during installation." in text and "Return value 3." in text
    assert "MainEngineThread is returning 1603" in text
    assert_not_installed(lab)
    assert lab.run(f"msiexec /i {msi('2024.1.1')} /qn")[0] == 0


def test_fault_3010_installs_and_asks_for_a_reboot() -> None:
    lab = make_lab(["msi@OCTO1:exit=3010"])
    assert lab.run(f"msiexec /i {msi('2024.1.1')} /qn /norestart /l*v C:\\r.log")[0] == 3010
    assert_installed(lab, "2024.1.1")
    assert "Windows Installer requires a system restart." in lab.read("C:\\r.log")
    assert "MainEngineThread is returning 3010" in lab.read("C:\\r.log")


@pytest.mark.parametrize("code", [1618, 1619])
def test_fault_busy_and_unreadable(code: int) -> None:
    lab = make_lab([f"msi:exit={code}"])
    assert lab.run(f"msiexec /i {msi('2024.1.1')} /qn")[0] == code
    assert_not_installed(lab)


def test_fault_for_another_node_does_not_fire() -> None:
    lab = make_lab(["msi@OCTO2:exit=1603"])
    assert lab.run(f"msiexec /i {msi('2024.1.1')} /qn")[0] == 0


# --- uninstall -----------------------------------------------------------------------------------------

def test_uninstall_keeps_configuration(lab: Lab) -> None:
    assert lab.run("msiexec /x {OctopusServer} /qn")[0] == 1605
    assert lab.run(f"msiexec /i {msi('2024.1.1')} /qn")[0] == 0
    with lab.world.lock:
        lab.node.fs.write("C:\\Octopus\\OctopusServer.config", b"<config/>", make_parents=True)
        lab.node.reg_set(OCTOPUS_REG_KEY, "Other", "kept")
        lab.node.services["OctopusDeploy"] = Service(
            "OctopusDeploy", "OctopusDeploy", f'"{EXE}" run --instance="OctopusServer"', state="Running")
    assert lab.run(f"msiexec /x {msi('2024.1.1')} /qn /l*v C:\\x.log")[0] == 0
    assert_not_installed(lab)
    assert lab.exists("C:\\Octopus\\OctopusServer.config")
    assert lab.reg(OCTOPUS_REG_KEY, "Other") == "kept"
    assert lab.node.services["OctopusDeploy"].state == "Stopped"
    assert "Removal completed successfully." in lab.read("C:\\x.log")
    assert lab.run("msiexec /x {OtherProduct} /qn")[0] == 1605


# --- choco ---------------------------------------------------------------------------------------------

CHOCO = "choco install OctopusDeploy --version {v} -y --no-progress"


def test_choco_install(lab: Lab) -> None:
    code, out, err = lab.run(CHOCO.format(v="2024.1.1"))
    assert (code, err) == (0, "")
    for text in ("Chocolatey v2.2.2", "Installing the following packages:",
                 "OctopusDeploy v2024.1.1 [Approved]", "The install of octopusdeploy was successful.",
                 "Chocolatey installed 1/1 packages."):
        assert text in out
    assert "Progress:" not in out
    assert_installed(lab, "2024.1.1")
    [(line, exit_code)] = lab.msiexec_records()
    assert line.startswith('"C:\\Windows\\System32\\msiexec.exe" /i "C:\\Users\\labadmin\\AppData\\')
    assert exit_code == 0
    choco_log = lab.read("C:\\ProgramData\\chocolatey\\logs\\chocolatey.log")
    assert "Chocolatey installed 1/1 packages." in choco_log
    code, out, _ = lab.run("choco list")
    assert (code, out) == (0, "Chocolatey v2.2.2\r\nchocolatey 2.2.2\r\nOctopusDeploy 2024.1.1\r\n"
                              "2 packages installed.\r\n")


@pytest.mark.parametrize("options", ["--version=2024.1.1 --yes", "-version 2024.1.1 -y --params \"/x\"",
                                     "--Version 2024.1.1 --confirm"])
def test_choco_option_spellings(lab: Lab, options: str) -> None:
    code, out, _ = lab.run(f"choco install octopusdeploy {options}")
    assert code == 0, out
    assert_installed(lab, "2024.1.1")


def test_choco_unknown_version(lab: Lab) -> None:
    code, out, _ = lab.run(CHOCO.format(v="1.2.3"))
    assert code == 1
    assert "OctopusDeploy not installed. The package was not found with the source(s) listed." in out
    assert "Chocolatey installed 0/1 packages. 1 packages failed." in out
    assert_not_installed(lab)
    assert lab.msiexec_records() == []


def test_choco_already_installed_and_upgrade(lab: Lab) -> None:
    assert lab.run(CHOCO.format(v="2024.1.1"))[0] == 0
    code, out, _ = lab.run(CHOCO.format(v="2024.1.1"))
    assert code == 0
    assert "OctopusDeploy v2024.1.1 already installed." in out
    assert "Chocolatey installed 0/1 packages." in out
    assert len(lab.msiexec_records()) == 1
    assert lab.run(CHOCO.format(v="2024.2.3"))[0] == 0
    assert_installed(lab, "2024.2.3")


def test_choco_latest_without_version(lab: Lab) -> None:
    assert lab.run("choco install OctopusDeploy -y")[0] == 0
    assert_installed(lab, "2024.2.3")


def test_choco_mirrors_msi_failure() -> None:
    lab = make_lab(["msi:exit=1603"])
    code, out, _ = lab.run(CHOCO.format(v="2024.1.1"))
    assert code == 1603
    assert "Exit code was '1603'" in out and "The install of octopusdeploy was NOT successful." in out
    assert "Chocolatey installed 0/1 packages. 1 packages failed." in out
    assert_not_installed(lab)
    assert lab.run("choco list -r")[1] == "chocolatey|2.2.2\r\n"


def test_choco_mirrors_reboot_required() -> None:
    lab = make_lab(["msi:exit=3010"])
    code, out, _ = lab.run(CHOCO.format(v="2024.1.1"))
    assert code == 3010
    assert "Packages requiring reboot:\r\n - octopusdeploy (exit code 3010)" in out
    assert "The recent package changes indicate a reboot is necessary." in out
    assert_installed(lab, "2024.1.1")


def test_choco_while_msiexec_is_busy(lab: Lab) -> None:
    with install_mutex(lab.node):
        code, out, _ = lab.run(CHOCO.format(v="2024.1.1"))
    assert code == 1618 and "Another installation currently in progress." in out


def test_choco_asks_without_yes(lab: Lab) -> None:
    code, out, _ = lab.run("choco install OctopusDeploy --version 2024.1.1", stdin=b"n\r\n")
    assert code == 1 and "Do you want to run the script?" in out
    assert_not_installed(lab)
    assert lab.run("choco install OctopusDeploy --version 2024.1.1", stdin=b"y\r\n")[0] == 0


def test_choco_unknown_command(lab: Lab) -> None:
    code, out, _ = lab.run("choco frobnicate")
    assert code == 1 and "Could not find a command registered that meets 'frobnicate'." in out
    assert lab.run("choco --version") == (0, "2.2.2\r\n", "")


def test_two_nodes_of_one_world_install_at_the_same_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installer mutex is per node: two nodes of one World install at once."""
    monkeypatch.setattr(installers, "INSTALL_SECONDS", 0.3)
    world_lab = make_lab()
    other = NodeState(name="OCTO2")
    for path, program in MARKERS.items():
        other.fs.write(path, f"#lab-program:{program}\n".encode(), make_parents=True)
    other.fs.write(msi("2024.1.1"), b"#lab-msi:2024.1.1\n", make_parents=True)
    world_lab.world.nodes.append(other)
    runtime2 = NodeRuntime(world_lab.world, other, LabSettings(), world_lab.runtime.programs, {})
    results: list[int] = []

    def go(rt: NodeRuntime) -> None:
        proc = rt.spawn(f"msiexec /i {msi('2024.1.1')} /qn", ADMIN)
        proc.stdin.close()
        results.append(Running(proc).wait()[0])

    threads = [threading.Thread(target=go, args=(rt,)) for rt in (world_lab.runtime, runtime2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [0, 0]
    assert other.reg_get(UNINSTALL_KEY, "DisplayVersion") == "2024.1.1"
