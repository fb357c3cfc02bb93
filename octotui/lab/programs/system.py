"""hostname.exe and whoami.exe: the first things an installer runs to learn where, and as whom, it is.

Both print what Windows prints, in the case Windows prints it (whoami lower-cases ``domain\\user``),
because an installer that compares these strings must cope with exactly that.
"""

from __future__ import annotations

import hashlib

from octotui.lab import timing
from octotui.lab.process import ProcessContext, Program


def hostname(ctx: ProcessContext, argv: list[str], command_line: str) -> int:
    """Print the computer name; any argument is refused as the real hostname.exe refuses it."""
    if len(argv) > 1:
        if argv[1] == "/?":
            ctx.println("Prints the name of the current host.")
            ctx.println()
            ctx.println("hostname")
            return 0
        if argv[1] == "-s":
            ctx.eprintln("hostname -s is not supported.")
        else:
            ctx.eprintln("sethostname: Use the Network Control Panel Applet to set hostname.")
        return 1
    ctx.println(ctx.runtime.node.name)
    return 0


def _fake_sid(account: str) -> str:
    """A stable, made-up domain SID for an account: real SIDs are not derivable, only their shape."""
    digest = hashlib.sha256(account.lower().encode("utf-8")).digest()
    domain = hashlib.sha256(account.split("\\")[0].lower().encode("utf-8")).digest()
    parts = [int.from_bytes(domain[i:i + 4], "little") for i in (0, 4, 8)]
    rid = 1100 + int.from_bytes(digest[:2], "little") % 8000
    return f"S-1-5-21-{parts[0]}-{parts[1]}-{parts[2]}-{rid}"


def whoami(ctx: ProcessContext, argv: list[str], command_line: str) -> int:
    """``whoami``, ``/upn``, ``/fqdn`` and ``/user``; options are case-insensitive and take ``-`` too."""
    account = ctx.identity.account
    options = [a.lower().replace("-", "/", 1) if a.startswith("-") else a.lower() for a in argv[1:]]
    if not options:
        ctx.println(account.lower())
        return 0
    option = options[0]
    world = ctx.runtime.world
    domain = account.split("\\", 1)[0] if "\\" in account else ""
    in_domain = domain.lower() in (world.directory.domain.lower(), world.directory.dns_name.lower())
    found = world.directory.find(account) if in_domain else None
    if option == "/upn" and len(options) == 1:
        if found is None:
            ctx.eprintln("ERROR: Unable to get User Principal Name (UPN) as the current logged-on user")
            ctx.eprintln("       is not a domain user.")
            return 1
        ctx.println(f"{found.sam}@{world.directory.dns_name}")
        return 0
    if option == "/fqdn" and len(options) == 1:
        if found is None:
            ctx.eprintln("ERROR: Unable to get Fully Qualified Distinguished Name (FQDN) as the current")
            ctx.eprintln("       logged-on user is not a domain user.")
            return 1
        dcs = ",".join(f"DC={p}" for p in world.directory.dns_name.split("."))
        ctx.println(f"CN={found.sam},CN=Users,{dcs}")
        return 0
    if option == "/user" and len(options) == 1:
        name = account.lower()
        sid = _fake_sid(account)
        width = max(len(name), len("User Name"))
        ctx.println()
        ctx.println("USER INFORMATION")
        ctx.println("----------------")
        ctx.println()
        ctx.println(f"{'User Name':<{width}} SID")
        ctx.println(f"{'=' * width} {'=' * len(sid)}")
        ctx.println(f"{name:<{width}} {sid}")
        return 0
    if option == "/?":
        ctx.println("WhoAmI has three ways of working: whoami, whoami /UPN | /FQDN | /LOGONID, and "
                    "whoami [/USER] [/GROUPS] [/CLAIMS] [/PRIV] [/FO format] [/NH].")
        return 0
    # An unknown option, or a second option where the first allows none.
    bad = argv[2] if option in ("/upn", "/fqdn", "/user") and len(argv) > 2 else argv[1]
    ctx.eprintln(f"ERROR: Invalid argument/option - '{bad}'.")
    ctx.eprintln('Type "WHOAMI /?" for usage.')
    return 1


PROGRAMS: dict[str, Program] = {
    "hostname": timing.timed(timing.START_NATIVE_TOOL, hostname),
    "whoami": timing.timed(timing.START_NATIVE_TOOL, whoami),
}
