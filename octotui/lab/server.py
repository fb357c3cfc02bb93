"""``octotui lab up``: assemble a world, serve every node's endpoints, and keep the world on disk.

The lab owns its state folder: ``world.json`` (the simulated machines, SQL Server and share, saved on
shutdown and resumed on the next start), ``lab.json`` (ports and the control token of the running lab),
the NTLM credential file the acceptor needs, and for ``--https`` the CA, the server certificate and a
client certificate for the lab admin (``admin-client.pem``/``.key``). Every node's HTTPS listener maps that
certificate to WORK\\labadmin, as ``winrm create winrm/config/service/certmapping`` would on Windows.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from octotui.lab.certs import ClientCertificate, ensure_certificates, ensure_client_certificate, file_thumbprint
from octotui.lab.faults import FaultPlan
from octotui.lab.identity import same_account
from octotui.lab.ntlm_users import write_user_file
from octotui.lab.private import write_private
from octotui.lab.provision import (
    DATABASE_NAME,
    LOCAL_ADMIN,
    SHARE_NAME,
    ensure_local_admins,
    installer_bytes,
    new_world,
)
from octotui.lab.runtime import NodeRuntime
from octotui.lab.settings import LabSettings
from octotui.lab.state import World
from octotui.lab.timing import TimingSpecError, parse_timing
from octotui.lab.wiring import all_programs, all_services

if TYPE_CHECKING:
    from octotui.lab.winrm.auth import CertMapping


#: Share permission levels, as ``Share.acl`` holds them (``full`` and ``change`` may write, ``read`` may not).
SHARE_ACCESS = ("full", "change", "read", "none")


class LabError(Exception):
    """A lab start-up problem the user can fix; the message says how."""


@dataclass
class LabOptions:
    nodes: int = 3
    state_dir: Path = field(default_factory=lambda: Path("lab-state"))
    auth: str = "ntlm"
    https: bool = False
    allow_unencrypted: bool = False
    latency_ms: int = 0
    faults: list[str] = field(default_factory=list)
    #: Share permissions set at start, ``ACCOUNT=LEVEL`` (``full``, ``change``, ``read`` or ``none``) on the
    #: cluster's share, as ``set_share_access`` sets them while the lab runs.
    share_access: list[str] = field(default_factory=list)
    #: Run a real Samba AD DC for the lab's domain and serve the share over SMB (``octotui.lab.dc``; root only).
    dc: bool = False
    #: How long simulated programs take: ``instant``, ``realistic`` or ``realistic:SCALE`` (``timing``).
    timing: str = "instant"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Lab:
    """A running lab; ``start()`` returns the ready-line document, ``stop()`` saves the world."""

    def __init__(self, options: LabOptions) -> None:
        if options.auth not in ("ntlm", "basic"):
            raise LabError(f"--auth {options.auth!r}: use ntlm or basic")
        if options.auth == "basic" and not options.https and not options.allow_unencrypted:
            raise LabError("--auth basic over plain HTTP sends passwords in the clear: add --https, or "
                           "--allow-unencrypted to serve it anyway (as WinRM's AllowUnencrypted=true does)")
        if options.nodes < 1 or options.nodes > 256:
            raise LabError(f"--nodes {options.nodes}: choose between 1 and 256")
        self.options = options
        self._grants: list[tuple[str, str]] = []
        for grant in options.share_access:
            account, sep, level = grant.rpartition("=")
            if not sep or "\\" not in account or level.strip().lower() not in SHARE_ACCESS:
                raise LabError(f"--share-access {grant!r}: write it as DOMAIN\\account=LEVEL, LEVEL one of "
                               f"{', '.join(SHARE_ACCESS)} (e.g. WORK\\svcOctopus=read)")
            self._grants.append((account, level))
        try:
            self.timing = parse_timing(options.timing)
        except TimingSpecError as exc:
            raise LabError(str(exc)) from None
        self.state_dir = options.state_dir.resolve()
        self.faults = FaultPlan.parse(options.faults)
        if options.latency_ms:
            self.faults.add(f"latency:ms={options.latency_ms}")
        self.world: World
        self.runtimes: list[NodeRuntime] = []
        self.endpoints: list[Any] = []
        self.webs: list[Any] = []
        self._http_servers: list[ThreadingHTTPServer] = []
        self.token = secrets.token_urlsafe(24)
        self.ready: dict[str, Any] = {}
        self._stopped = False
        self._save_lock = threading.Lock()
        self.tds: Any = None
        self.dc: Any = None  # octotui.lab.dc.lab_dc.LabDC, imported only with --dc
        self.dc_info: Any = None

    # --- life cycle ------------------------------------------------------------------------------
    @property
    def world_file(self) -> Path:
        return self.state_dir / "world.json"

    def _load_or_create(self) -> World:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        if self.world_file.exists():
            world = World.load(self.world_file)
            if len(world.nodes) != self.options.nodes:
                # The saved world decides: resuming must never drop or invent machines silently.
                self.options.nodes = len(world.nodes)
            return world
        world = new_world(self.options.nodes)
        world.save(self.world_file)
        return world

    def set_share_access(self, account: str, access: str, share: str | None = None) -> dict[str, str]:
        """Give ``account`` ``access`` to a share of the file server (``none`` takes it away), as an
        administrator edits a share's permissions: every node sees the change at its next access, and it
        is kept with the world. ValueError (with what is allowed) for an unknown share or level."""
        level = access.strip().lower()
        if level not in SHARE_ACCESS:
            raise ValueError(f"share access {access!r}: use one of {', '.join(SHARE_ACCESS)}")
        who = account.strip()
        if not who or "\\" not in who:
            raise ValueError(f"account {account!r}: give it as DOMAIN\\name")
        with self.world.lock:
            name = share or SHARE_NAME
            target = self.world.files.share(name)
            if target is None:
                served = ", ".join(s.name for s in self.world.files.shares.values())
                raise ValueError(f"no share {name!r} on {self.world.files.host}; the lab serves {served}")
            for holder in [h for h in target.acl if same_account(h, who)]:
                del target.acl[holder]
            if level != "none":
                target.acl[who] = level
        self.save()
        return {"share": target.name, "account": who, "access": level}

    def start(self) -> dict[str, Any]:
        from octotui.lab.web import NodeWebServer
        from octotui.lab.winrm import WinRMEndpoint

        self.world = self._load_or_create()
        ensure_local_admins(self.world)  # a world saved before nodes had their local Administrator
        for account, level in self._grants:
            self.set_share_access(account, level)
        previous = self._previous_ports()
        ntlm_file = Path(write_user_file(self.world, self.state_dir / "ntlm-users.txt"))
        from octotui.lab.tds import TdsServer

        tds_port = self._free_port(self.world.sql.port)
        if self.options.dc:
            self._start_dc(tds_port)  # before any listener: the SQL SPN names the port, the acceptors the keytab
        self.tds = TdsServer(self.world, host="127.0.0.1", port=tds_port,
                             ntlm_user_file=str(ntlm_file),
                             kerberos_keytab=self.dc_info.keytab if self.options.dc else None)
        self.tds.start()
        with self.world.lock:
            self.world.sql.port = self.tds.port
        certs = ensure_certificates(self.state_dir, [n.name for n in self.world.nodes]) if self.options.https \
            else None
        client_cert: ClientCertificate | None = None
        mappings: list[CertMapping] = []
        if certs is not None:
            from octotui.lab.winrm.auth import CertMapping

            d = self.world.directory
            admin = d.accounts["labadmin"]
            upn = f"{admin.sam}@{d.dns_name}"
            client_cert = ensure_client_certificate(certs, self.state_dir / "admin-client.pem",
                                                    self.state_dir / "admin-client.key", upn=upn)
            mappings.append(CertMapping(issuer=file_thumbprint(certs.ca_cert), subject=upn,
                                        username=d.qualified(admin.sam), password=admin.password))

        installer_port = self._serve_installers(previous.get("installer_port", 0))
        settings = LabSettings(installer_base_url=f"http://127.0.0.1:{installer_port}/octopus/", faults=self.faults,
                               timing=self.timing)
        if self.dc_info is not None:
            settings.kerberos_keytab = self.dc_info.keytab
            settings.kerberos_realm = self.dc_info.realm
        programs, services = all_programs(), all_services()
        for node in self.world.nodes:
            runtime = NodeRuntime(self.world, node, settings, programs, services)
            self.runtimes.append(runtime)
            web = NodeWebServer(runtime, host="127.0.0.1", port=self._free_port(node.web_port))
            node.web_port = web.port
            settings.web_hooks[node.name] = web.set_open
            self.webs.append(web)
            endpoint = WinRMEndpoint(
                runtime, host="127.0.0.1", port=self._free_port(node.winrm_port), auth=self.options.auth,
                https=(str(certs.server_cert), str(certs.server_key)) if certs else None,
                allow_basic_http=self.options.allow_unencrypted, ntlm_user_file=str(ntlm_file),
                on_reboot=self._reboot_callback(runtime),
                client_ca=str(certs.ca_cert) if certs else None, cert_mappings=mappings,
            )
            endpoint.start()
            node.winrm_port = endpoint.port
            self.endpoints.append(endpoint)
        with self.world.lock:
            for runtime in self.runtimes:
                runtime.boot()
        control_port = self._serve_control(previous.get("control_port", 0))
        self.ready = self._ready_document(installer_port, certs.ca_cert if certs else None)
        if client_cert is not None:
            self.ready["admin_client_cert"] = {"cert": str(client_cert.cert), "key": str(client_cert.key)}
        write_private(self.state_dir / "lab.json", json.dumps({
            "pid": os.getpid(), "control_port": control_port, "installer_port": installer_port,
            "token": self.token, "ready": self.ready,
        }, indent=2))
        write_private(self.state_dir / "answers.toml", self._answers_toml())
        self.save()
        return self.ready

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for endpoint in self.endpoints:
            endpoint.stop()
        with self.world.lock:
            for runtime in self.runtimes:
                runtime.shutdown()
        for web in self.webs:
            web.close()
        if self.tds is not None:
            self.tds.stop()
        for server in self._http_servers:
            server.shutdown()
            server.server_close()
        self.save()
        if self.dc is not None:
            self.dc.stop()
        lab_json = self.state_dir / "lab.json"
        if lab_json.exists():
            lab_json.unlink()

    def save(self) -> None:
        with self._save_lock:
            self.world.save(self.world_file)

    # --- pieces ----------------------------------------------------------------------------------
    def _start_dc(self, sql_port: int) -> None:
        """Start the lab's Samba DC and move the share into the folder smbd serves; LabError saying why not."""
        try:
            from octotui.lab.dc.diskfs import DiskFS
            from octotui.lab.dc.lab_dc import LabDC
            from octotui.lab.dc.sambadc import DCUnavailable
        except ImportError as exc:  # the DC's Python needs (cryptography, ldap3) come with the test extra
            raise LabError(f"--dc: {exc}; install octotui with its test extra (scripts/setup.sh does)") from exc
        from octotui.lab.kerberos import gssapi_missing

        missing = gssapi_missing()  # the nodes and the SQL Server accept Kerberos with --dc
        if missing:
            raise LabError(f"--dc: {missing}")
        self.dc = LabDC(self.state_dir, self.world, SHARE_NAME)
        try:
            self.dc_info = self.dc.start(sql_port)
        except DCUnavailable as exc:
            self.dc = None
            raise LabError(f"--dc: the lab's domain controller cannot start: {exc}") from exc
        with self.world.lock:
            share = self.world.files.share(SHARE_NAME)
            if share is not None and not isinstance(share.fs, DiskFS):
                disk = DiskFS(self.dc_info.share_folder, f"\\\\{self.world.files.host}\\{share.name}")
                disk.load_from(share.fs)
                share.fs = disk

    def _previous_ports(self) -> dict[str, int]:
        saved = self.state_dir / "ports.json"
        try:
            data: dict[str, int] = json.loads(saved.read_text())
            return data
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _free_port(preferred: int) -> int:
        """Reuse the port a resumed world had, so its answers file stays valid, when it is still free."""
        import socket

        if preferred:
            with socket.socket() as s:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind(("127.0.0.1", preferred))
                    return preferred
                except OSError:
                    pass
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
            return port

    def _reboot_callback(self, runtime: NodeRuntime) -> Any:
        def reboot() -> None:
            idx = self.runtimes.index(runtime)
            endpoint = self.endpoints[idx]
            endpoint.stop()
            with self.world.lock:
                runtime.shutdown()
                runtime.node.boot_count += 1
            time.sleep(self.faults.reboot_down_seconds(runtime.node.name))
            if self._stopped:
                return
            with self.world.lock:
                runtime.boot()
            endpoint.restart_listener()

        return reboot

    def _serve_installers(self, preferred: int) -> int:
        installers = self.world.installers

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                for inst in installers.values():
                    if self.path.startswith("/octopus/") and inst.file_name.lower() == name.lower():
                        body = installer_bytes(inst.version)
                        self.send_response(200)
                        self.send_header("Content-Type", "application/x-msi")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                self.send_error(404)

        server = _QuietServer(("127.0.0.1", self._free_port(preferred)), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._http_servers.append(server)
        return server.server_address[1]

    def _serve_control(self, preferred: int) -> int:
        lab = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _reply(self, code: int, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorised(self) -> bool:
                if secrets.compare_digest(self.headers.get("X-Lab-Token", ""), lab.token):
                    return True
                self._reply(403, {"error": "wrong or missing X-Lab-Token"})
                return False

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                if self.path == "/inspect":
                    from octotui.lab.inspect import inspect_world

                    self._reply(200, inspect_world(lab.world))
                else:
                    self._reply(404, {"error": "unknown path"})

            def do_POST(self) -> None:
                if not self._authorised():
                    return
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/fault":
                    try:
                        fault = lab.faults.add(str(body.get("spec", "")))
                    except ValueError as exc:
                        self._reply(400, {"error": str(exc)})
                        return
                    self._reply(200, {"added": fault.spec()})
                elif self.path == "/share-access":
                    try:
                        change = lab.set_share_access(str(body.get("account", "")), str(body.get("access", "")),
                                                      str(body["share"]) if body.get("share") else None)
                    except ValueError as exc:
                        self._reply(400, {"error": str(exc)})
                        return
                    self._reply(200, change)
                elif self.path == "/save":
                    lab.save()
                    self._reply(200, {"saved": str(lab.world_file)})
                else:
                    self._reply(404, {"error": "unknown path"})

        server = _QuietServer(("127.0.0.1", self._free_port(preferred)), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._http_servers.append(server)
        return server.server_address[1]

    def _ready_document(self, installer_port: int, ca_cert: Path | None) -> dict[str, Any]:
        d = self.world.directory
        admin, svc = d.accounts["labadmin"], d.accounts["svcoctopus"]
        scheme = "https" if self.options.https else "http"
        local = self.world.nodes[0].local_accounts[LOCAL_ADMIN.lower()]
        local_admin = {"username": local.sam, "password": local.password}
        domain_admin = {"username": f"{d.domain}\\{admin.sam}", "password": admin.password}
        doc: dict[str, Any] = {
            "domain": d.domain,
            # Windows' WinRM takes Basic for local accounts only: with --auth basic, WinRM's admin is local.
            "admin": local_admin if self.options.auth == "basic" else domain_admin,
            "domain_admin": domain_admin,
            "local_admin": local_admin,
            "service_account": {"username": f"{d.domain}\\{svc.sam}", "password": svc.password},
            "nodes": [
                {"name": n.name, "endpoint": f"{scheme}://127.0.0.1:{n.winrm_port}/wsman", "web_port": n.web_port}
                for n in self.world.nodes
            ],
            "installers": {
                v: {"node_path": f"C:\\Install\\{i.file_name}",
                    "url": f"http://127.0.0.1:{installer_port}/octopus/{i.file_name}",
                    "sha256": i.sha256}
                for v, i in self.world.installers.items()
            },
            "share": f"\\\\{self.world.files.host}\\{SHARE_NAME}",
            "sql": {"connection_string": f"Data Source={self.world.sql.host},{self.world.sql.port};"
                                         f"Initial Catalog={DATABASE_NAME};Integrated Security=True;"},
            "state_dir": str(self.state_dir),
            "auth": self.options.auth,
        }
        if ca_cert is not None:
            doc["ca_cert"] = str(ca_cert)
        if self.dc_info is not None:
            from octotui.lab.dc.lab_dc import node_fqdn

            doc["dc"] = self.dc_info.ready()
            doc["share"] = f"\\\\{self.dc_info.address}\\{SHARE_NAME}"  # where real SMB clients find it
            # The connection goes to 127.0.0.1, but the DC knows the SQL Server by its FQDN: a Kerberos client
            # must ask for that service principal (NTLM logins ignore it).
            doc["sql"]["connection_string"] += f"Server SPN=MSSQLSvc/{self.dc_info.sql_fqdn}:{self.world.sql.port};"
            for entry in doc["nodes"]:
                entry["host"] = node_fqdn(entry["name"], self.dc_info.dns_domain)
        ports = {"installer_port": installer_port}
        write_private(self.state_dir / "ports.json", json.dumps(ports))
        return doc

    def _answers_toml(self) -> str:
        """A ready answers file for this world (no secrets: those come from the environment or keyring)."""
        r = self.ready
        versions = sorted(self.world.installers, key=lambda v: [int(p) for p in v.split(".")])
        lines = [
            "# Written by `octotui lab up` for the lab world in this folder.",
            "# Secrets are not here: set OCTOTUI_WINRM_PASSWORD and OCTOTUI_SERVICE_PASSWORD",
            "# (the lab printed them on its ready line), or store them in the keyring.",
            'mode = "create"',
            f'octopus_version = "{versions[-1]}"',
            'instance = "Default"',
            "",
            "[winrm]",
            f'username = "{_toml_escape(r["admin"]["username"])}"',
            f'transport = "{r["auth"]}"',
            f"https = {'true' if self.options.https else 'false'}",
        ]
        if "ca_cert" in r:
            lines.append(f'ca_cert = "{_toml_escape(r["ca_cert"])}"')
        for n in r["nodes"]:
            lines += ["", "[[nodes]]", f'host = "{n.get("host", n["name"])}"', f'endpoint = "{n["endpoint"]}"',
                      'home = "C:\\\\Octopus"']
        lines += [
            "", "[service_account]", f'username = "{_toml_escape(r["service_account"]["username"])}"',
            "", "[sql]", f'connection_string = "{_toml_escape(r["sql"]["connection_string"])}"',
            "", "[storage]", f'cluster_shared = "{_toml_escape(r["share"])}"',
            "", "[web]", 'listen_prefixes = ["http://+:80/"]', "force_ssl = false", "comms_port = 10943",
            "", "[install]", f'source = "{_toml_escape(r["installers"][versions[-1]]["node_path"])}"',
            "", "[admin]", f'username = "{_toml_escape(r["domain_admin"]["username"])}"', "",
        ]
        if "dc" in r:
            dc = r["dc"]
            lines += [
                "[ad]", f'domain_controller = "{dc["address"]}"', f'dns_domain = "{dc["dns_domain"]}"',
                f'ca_cert = "{_toml_escape(dc["ca_cert"])}"', f'nameservers = ["{dc["nameserver"]}"]', "",
            ]
        return "\n".join(lines)


def _toml_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
