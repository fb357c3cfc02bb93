"""``service`` and ``checkservices``: the Windows service that runs an instance, driven as Octopus drives it.

Octopus's shared service code (quoted in the reference) fixes the behaviour: whatever the argument
order, one call does restart -> stop -> uninstall -> install -> reconfigure -> credentials -> start;
stop, restart and uninstall of a missing service are skipped (logged to the file only); start of a
missing service is a clean failure; ``--install`` on an existing service turns into reconfigure;
credentials with a password grant "Log on as a service" first.

How a failed start looks: when the service control manager refuses synchronously (error 1069, no
"Log on as a service" right or a bad account) ``ServiceController.Start`` throws, is retried five times
with "Failed to start the windows service. Trying again in..." and then ends the command as an
unhandled InvalidOperationException (exit 100). When the service process starts and then dies (the
Octopus service could not reach SQL Server, ...) the wait for "Running" runs out ("Exceeded max
retries", exit 100) and the reason is only in OctopusServer.txt. The lab keeps the messages but not
the minutes of waiting: it retries and polls a few times without sleeping.

The lab checks the service account's password when credentials are set (Windows only finds out at
the next start, as error 1069): a wrong password or unknown account fails the call with Windows'
"The account name is invalid or does not exist, or the password is invalid for the account name
specified." (error 1057), exit 1. A gMSA (``DOMAIN\\name$``) and the built-in accounts need no password.
Without a password no right is granted, as in Octopus (``sc config obj=``): a gMSA needs "Log on as a
service" from elsewhere.
"""

from __future__ import annotations

from octotui.lab import timing
from octotui.lab.octopus import config as cfgmod
from octotui.lab.octopus.host import Command, Host, select_instance
from octotui.lab.octopus.options import ControlledFailure, Opt, Parsed, Unhandled
from octotui.lab.octopus.service import SYNCHRONOUS_START_ERRORS, is_builtin_account
from octotui.lab.state import Service

INVALID_ACCOUNT = ("The account name is invalid or does not exist, or the password is invalid for the "
                   "account name specified.")
_RETRIES = 5
_POLLS = 3


class _State:
    def __init__(self, p: Parsed, host: Host) -> None:
        env = host.ctx.env
        self.start, self.stop, self.restart = p.has("start"), p.has("stop"), p.has("restart")
        self.install, self.reconfigure = p.has("install"), p.has("reconfigure")
        self.uninstall = p.has("uninstall")
        self.username = p.get("username") or env.get("OCTOPUS_SERVICE_USERNAME") or None
        self.password = p.get("password") or env.get("OCTOPUS_SERVICE_PASSWORD") or None
        self.depend_on = p.get("dependOn")
        if self.password:
            host.log.add_sensitive(self.password)


def _svc(host: Host, name: str) -> Service | None:
    with host.world.lock:
        return host.node.service(name)


def _try_stop(host: Host, name: str) -> bool:
    svc = _svc(host, name)
    if svc is None or svc.state != "Running":
        return False
    host.info("Stopping service...")
    host.ctx.runtime.stop_service(name)
    host.info("Service stopped")
    return True


def _start(host: Host, name: str) -> None:
    svc = _svc(host, name)
    if svc is None:
        raise ControlledFailure(f"Start requested for service {name}, but no service with this name was "
                                "found.")
    if svc.state == "Running":
        return
    timing.spend(host.ctx, timing.SERVICE_START)  # StartPending until the service reports Running
    error = host.ctx.runtime.start_service(name)
    attempt = 0
    while error in SYNCHRONOUS_START_ERRORS:
        if attempt == _RETRIES:
            raise Unhandled("System.InvalidOperationException",
                            f"Cannot start service {name} on computer '.'.",
                            (("System.ComponentModel.Win32Exception", error),))
        attempt += 1
        host.warn(f"Failed to start the windows service. Trying again in...00:00:{attempt * attempt:02d} ")
        error = host.ctx.runtime.start_service(name)
    if error is not None:
        for _ in range(_POLLS):
            host.info("Waiting for service to become Running. Current status: Stopped")
        raise Unhandled("System.Exception", "Exceeded max retries")
    host.info("Waiting for service to become Running. Current status: StartPending")
    host.info("Waiting for service to become Running. Current status: Running")
    host.info("Service started")


def _write_service(host: Host, name: str, instance: str | None, config_path: str | None,
                   deps: list[str], existing: Service | None) -> None:
    binpath = cfgmod.service_binary_path(host.exe, instance, config_path)
    with host.world.lock:
        if existing is None:
            host.node.services[name.lower()] = Service(
                name=name, display_name=name, binary_path=binpath, start_type="Automatic", state="Stopped",
                account="LocalSystem", dependencies=list(deps), description=cfgmod.SERVICE_DESCRIPTION)
        else:
            existing.binary_path, existing.display_name = binpath, name
            existing.dependencies, existing.start_type = list(deps), "Automatic"
            existing.description = cfgmod.SERVICE_DESCRIPTION


def _set_credentials(host: Host, name: str, st: _State) -> None:
    account = st.username or ""
    svc = _svc(host, name)
    if svc is None:
        host.error("[SC] OpenService FAILED 1060:\n\nThe specified service does not exist as an installed "
                   "service.\n")
        return
    if st.password:
        host.info(f"Granting log on as a service right to {account}")
    if not is_builtin_account(account) and host.world.directory.logon_error(account, st.password or ""):
        raise ControlledFailure(f"Unable to set username/password on service '{name}'. {INVALID_ACCOUNT}")
    with host.world.lock:
        if st.password:
            host.node.grant_right("SeServiceLogonRight", account)
        svc.account = account
    host.info("Service credentials set")


def _configure(host: Host, name: str, instance: str | None, config_path: str | None, st: _State) -> None:
    if st.restart:
        if _svc(host, name) is None:
            host.file_only(f"Restart requested for service {name}, but service controller was not found. "
                           "Skipping.")
        else:
            host.info(f"Restarting service {name}")
            if _try_stop(host, name):
                _start(host, name)
            else:
                host.info(f"Service {name} wasn't restarted as it is not running.")
    if st.stop:
        if _svc(host, name) is None:
            host.file_only(f"Stop requested for service {name}, but service controller was not found. "
                           "Skipping.")
        else:
            _try_stop(host, name)
    if st.uninstall:
        svc = _svc(host, name)
        if svc is None:
            host.file_only(f"Uninstall requested for service {name}, but service controller was not found. "
                           "Skipping.")
        else:
            host.ctx.runtime.stop_service(name)
            with host.world.lock:
                for key, value in list(host.node.services.items()):
                    if value is svc:
                        del host.node.services[key]
            host.info("Service uninstalled")
    deps = ["LanmanWorkstation", "TCPIP"]
    if st.depend_on and st.depend_on.strip():
        if _svc(host, st.depend_on) is None:
            raise ControlledFailure(f"Unable to set dependency on service '{st.depend_on}' as no service "
                                    "was found with that name.")
        deps.append(st.depend_on)
    reconfigure = st.reconfigure
    if st.install:
        existing = _svc(host, name)
        if existing is not None:
            host.file_only(f"Install requested for service {name}, but service controller already existing. "
                           "Triggering 'Reconfigure' mode.")
            reconfigure = True
        else:
            _write_service(host, name, instance, config_path, deps, None)
        host.info("Service installed")
    if reconfigure:
        existing = _svc(host, name)
        if existing is None:
            host.error("[SC] OpenService FAILED 1060:\n\nThe specified service does not exist as an "
                       "installed service.\n")
        else:
            _write_service(host, name, instance, config_path, deps, existing)
        host.info("Service reconfigured")
    if (st.install or reconfigure) and st.username and st.username.strip():
        _set_credentials(host, name, st)
    if st.start:
        _start(host, name)


def service(host: Host, p: Parsed) -> int:
    st = _State(p, host)
    if p.get("instance") == "*":
        if st.reconfigure or st.install or st.uninstall:
            raise ControlledFailure("--instance=* can only be used for --start, --stop, and --restart flags")
        with host.world.lock:
            records = cfgmod.list_instances(host.node)
        failures: list[Exception] = []
        for rec in records:
            try:
                _configure(host, cfgmod.service_name(rec.name), rec.name, None, st)
            except (ControlledFailure, Unhandled) as exc:
                failures.append(exc)
        if failures:
            raise Unhandled("System.AggregateException", "One or more errors occurred.",
                            tuple((type(e).__name__, str(e)) for e in failures))
        return 0
    sel = select_instance(host, p)
    if sel.name is None and (st.install or st.reconfigure):
        host.warn("Please note, currently there can only be one un-named instance configured as a service "
                  "on a machine at a time.")
    config_path = sel.config_path if sel.name is None else None
    _configure(host, cfgmod.service_name(sel.name), sel.name, config_path, st)
    return 0


def checkservices(host: Host, p: Parsed) -> int:
    wanted = p.get("instances")
    if wanted is None:
        raise ControlledFailure("Use --instances argument to specify which instances to check. Use "
                                "--instances=* to check all instances.")
    names = {n for n in wanted.replace(";", ",").split(",")}
    start_all = names == {"*"}
    with host.world.lock:
        records = cfgmod.list_instances(host.node)
    for rec in records:
        if not start_all and rec.name not in names:
            continue
        name = cfgmod.service_name(rec.name)
        svc = _svc(host, name)
        if svc is None or svc.state == "Running":
            continue
        timing.spend(host.ctx, timing.SERVICE_START)
        error = host.ctx.runtime.start_service(name)
        host.info(f"Service {name} starting")
        if error is None:
            host.info("Waiting for service to start. Current status: Running")
            host.info(f"Service {name} started")
        else:
            host.info("Waiting for service to start. Current status: Stopped")
            host.info(f"Service {name} doesn't have Running status after 30sec. Status will be assessed "
                      "again at the time of the next scheduled check.")
    return 0


COMMANDS = (
    Command("service", "Start, stop, install and configure the Octopus Server service", (
        Opt("start", value=False, help="Start the service if it is not already running"),
        Opt("stop", value=False, help="Stop the service if it is running"),
        Opt("restart", value=False, help="Restart the service if it is running"),
        Opt("reconfigure", value=False, help="Reconfigure the service"),
        Opt("install", value=False, help="Install the service"),
        Opt("username", aliases=("user",),
            help="Username to run the service under (DOMAIN\\Username format). Only used when --install or "
                 "--reconfigure are used."),
        Opt("uninstall", value=False, help="Uninstall the service"),
        Opt("password", sensitive=True, help="Password for the username specified with --username. Only used "
                                             "when --install or --reconfigure are used."),
        Opt("dependOn"),
        Opt("instance", help="Name of the instance to use, or * to use all instances"),
        Opt("config", help="Configuration file to use"),
    ), service),
    Command("checkservices", "Checks the Octopus instances are running", (
        Opt("instances", help="Comma-separated list of instances to check, or * to check all instances"),
    ), checkservices, uses_instance=False),
)
