"""create-instance, delete-instance, list-instances: the instance registry and the config file it points at.

Messages are the ones Octopus's shared instance code logs ("Creating empty configuration file: ...",
"Setting home directory to: ...", "Saving instance: ...", "Deleted instance: ..."). ``delete-instance``
removes only the registration, never the service or the config file, as on Windows.
"""

from __future__ import annotations

import json
import ntpath

from octotui.lab.octopus import config as cfgmod
from octotui.lab.octopus.host import INSTANCE_OPTS, Command, Host, select_instance
from octotui.lab.octopus.options import ControlledFailure, Opt, Parsed


def create_instance(host: Host, p: Parsed) -> int:
    name = p.get("instance") or cfgmod.DEFAULT_INSTANCE
    config_arg, home_arg = p.get("config"), p.get("home")
    if home_arg:
        home = host.full_path(home_arg)
    elif config_arg:
        home = ntpath.dirname(host.full_path(config_arg))
    else:
        home = host.ctx.cwd
    config_path = config_arg or f"{cfgmod.APPLICATION}.config"
    config_path = host.full_path(config_path if ntpath.isabs(config_path) else ntpath.join(home, config_path))
    node = host.node
    with host.world.lock:
        node.fs.makedirs(ntpath.dirname(config_path))
        if not node.fs.is_file(config_path):
            host.info(f"Creating empty configuration file: {config_path}")
            node.fs.write(config_path, cfgmod.EMPTY_CONFIG.encode("utf-8"))
        else:
            host.info(f"Configuration file at {config_path} already exists.")
        cfg = cfgmod.NodeConfig.load(node, config_path)
        host.info(f"Setting home directory to: {home}")
        cfg.set(cfgmod.HOME, home)
        node_name = p.get("serverNodeName")
        if node_name or not cfg.get(cfgmod.NODE_NAME):
            cfg.set(cfgmod.NODE_NAME, node_name or node.name)
        cfg.save(node)
        cfgmod.register_instance(node, name, config_path)
    host.log.set_home(home)
    host.info(f"Saving instance: {name}")
    return 0


def delete_instance(host: Host, p: Parsed) -> int:
    sel = select_instance(host, p)
    if sel.name is None:
        raise ControlledFailure("Please pass --instance=INSTANCENAME to choose the instance to delete.")
    with host.world.lock:
        cfgmod.delete_registration(host.node, sel.name)
    host.info(f"Deleted instance: {sel.name}")
    return 0


def list_instances(host: Host, p: Parsed) -> int:
    fmt = (p.get("format") or "text").strip().lower()
    if fmt not in ("text", "json"):
        raise ControlledFailure(f"The format '{p.get('format')}' is not supported. Try text or json.")
    with host.world.lock:
        records = cfgmod.list_instances(host.node)
    if fmt == "json":
        doc = [{"InstanceName": r.name, "ConfigurationFilePath": r.config_path} for r in records]
        host.payload(json.dumps(doc, indent=2) + "\n")
    elif not records:
        host.payload("No instances installed\n")
    else:
        host.payload("".join(f"Instance '{r.name}' uses configuration '{r.config_path}'.\n" for r in records))
    return 0


COMMANDS = (
    Command("create-instance", "Registers a new instance of the Octopus Server",
            (Opt("instance", help="Name of the instance to create"),
             Opt("config", help="Path to configuration file to create"),
             Opt("home", help="[Optional] Path to the home directory - defaults to the same directory as the "
                              "config file"),
             Opt("serverNodeName", help="[Optional] The unique name for this Octopus Server node in the "
                                        "cluster - defaults to the machine name")),
            create_instance, uses_instance=False),
    Command("delete-instance", "Deletes an instance of the Octopus Server", INSTANCE_OPTS, delete_instance),
    Command("list-instances", "Lists all installed Octopus Server instances",
            (Opt("format", help="The format of the output (text,json). Defaults to text."),),
            list_instances, uses_instance=False),
)
