"""Building a new lab world: a domain, N freshly built Windows nodes, an empty SQL Server and a share.

A new node looks like a Windows Server that an administrator has just joined to the domain: system
programs on disk, the Octopus installers staged under ``C:\\Install``, its built-in local Administrator,
nothing of Octopus installed.
"""

from __future__ import annotations

import hashlib
import secrets
import string

from octotui.lab.runtime import PROGRAM_MARKER
from octotui.lab.state import (
    Account,
    Directory,
    FileServerState,
    Login,
    NodeState,
    Share,
    SqlServerState,
    StagedInstaller,
    World,
)
from octotui.lab.winfs import WinFS

#: Octopus versions the lab can install: one before ``path --clusterShared`` existed (2020.2.15) and
#: two current ones, so that version gates and upgrades can be exercised.
DEFAULT_VERSIONS = ("2020.1.18", "2024.4.7002", "2025.3.1234")

SYSTEM_PROGRAMS = {
    "C:\\Windows\\System32\\cmd.exe": "cmd",
    "C:\\Windows\\System32\\hostname.exe": "hostname",
    "C:\\Windows\\System32\\whoami.exe": "whoami",
    "C:\\Windows\\System32\\msiexec.exe": "msiexec",
    "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe": "powershell",
    "C:\\ProgramData\\chocolatey\\bin\\choco.exe": "choco",
}

SHARE_NAME = "OctopusData"
DATABASE_NAME = "OctopusDeploy"


def installer_file_name(version: str) -> str:
    return f"Octopus.{version}-x64.msi"


def installer_bytes(version: str) -> bytes:
    """The staged MSI's content: a marker msiexec recognises, padded so downloads move real bytes."""
    header = f"#lab-msi:{version}\n".encode("ascii")
    return header + hashlib.sha256(version.encode()).digest() * 256


def make_password() -> str:
    """A password that satisfies AD's default complexity rules and needs no quoting anywhere."""
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(16))
    return "Lab-" + body + "9a"


#: The built-in local administrator every node has (``OCTO1\\Administrator``); WinRM takes Basic for it.
LOCAL_ADMIN = "Administrator"


def ensure_local_admins(world: World) -> str:
    """Give every node the local Administrator it lacks (a world saved before nodes had one) and return its
    password. The nodes share one password, as machines built from one image do before LAPS rotates it,
    so one answers file with ``transport = "basic"`` reaches them all."""
    with world.lock:
        existing = [n.local_accounts[LOCAL_ADMIN.lower()] for n in world.nodes
                    if LOCAL_ADMIN.lower() in n.local_accounts]
        password = existing[0].password if existing else make_password()
        for node in world.nodes:
            node.local_accounts.setdefault(LOCAL_ADMIN.lower(), Account(sam=LOCAL_ADMIN, password=password))
    return password


def new_node(name: str, versions: tuple[str, ...]) -> NodeState:
    fs = WinFS()
    for path, program in SYSTEM_PROGRAMS.items():
        fs.write(path, PROGRAM_MARKER + program.encode() + b"\n", make_parents=True)
    for folder in ("C:\\Users\\Public", "C:\\Program Files", "C:\\Program Files (x86)", "C:\\ProgramData",
                   "C:\\Windows\\Temp", "C:\\Install"):
        fs.makedirs(folder)
    for version in versions:
        fs.write("C:\\Install\\" + installer_file_name(version), installer_bytes(version))
    node = NodeState(name=name, fs=fs)
    node.reg_set("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion", "ProductName",
                 "Windows Server 2022 Datacenter")
    node.reg_set("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion", "CurrentBuildNumber", "20348")
    for svc_right in ("SeServiceLogonRight",):
        node.rights[svc_right] = ["NT SERVICE\\ALL SERVICES"]
    return node


def new_world(node_count: int = 3, versions: tuple[str, ...] = DEFAULT_VERSIONS) -> World:
    directory = Directory(domain="WORK", dns_name="work.lab")
    directory.accounts["labadmin"] = Account(sam="labadmin", password=make_password(), domain_admin=True)
    directory.accounts["svcoctopus"] = Account(sam="svcOctopus", password=make_password())
    sql = SqlServerState(host="127.0.0.1")
    sql.logins["work\\labadmin"] = Login(name="WORK\\labadmin", kind="windows", server_roles=["sysadmin"])
    sql.logins["nt authority\\system"] = Login(name="NT AUTHORITY\\SYSTEM", kind="windows",
                                               server_roles=["sysadmin"])
    files = FileServerState(host="127.0.0.1")
    share = Share(name=SHARE_NAME, acl={"WORK\\svcOctopus": "full", "WORK\\labadmin": "full"})
    share.fs.makedirs("\\\\127.0.0.1\\" + SHARE_NAME)
    files.shares[SHARE_NAME.lower()] = share
    installers = {
        v: StagedInstaller(version=v, file_name=installer_file_name(v),
                           sha256=hashlib.sha256(installer_bytes(v)).hexdigest(), size=len(installer_bytes(v)))
        for v in versions
    }
    nodes = [new_node(f"OCTO{i}", versions) for i in range(1, node_count + 1)]
    world = World(directory=directory, nodes=nodes, sql=sql, files=files, installers=installers)
    ensure_local_admins(world)
    return world
