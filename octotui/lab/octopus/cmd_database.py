"""``database``: point a node at its SQL database, create or upgrade it, grant access, agree the master key.

It runs in the calling process, so SQL Server sees the caller: from a WinRM network logon with
Integrated Security that is ANONYMOUS LOGON and the command dies on the SqlException. Octopus has no
clean-failure path for a SqlException, so like any unhandled exception it exits 100 (the exit code seen
in the wild for a failing Octopus.Server.exe, Issues #568).

Choices where the reference is silent or inferred:
- ``--create`` on a database that already holds Octopus "says it already exists and won't do anything";
  the master key given (``--masterKey``, or the one in the config) must still match the database's.
- A wrong master key for an existing database is a clean failure (exit 1) in the wizard's words.
- The connection string and the key are written to the config only when every step succeeded, so a
  failed run leaves the node as it was.
- A new key is 16 random bytes, base64 (``openssl rand 16 | base64`` in the docs).
- The progress lines below are the lab's wording; Octopus's exact text was not found.
"""

from __future__ import annotations

import base64
import secrets

from octotui.lab import timing
from octotui.lab.octopus import config as cfgmod
from octotui.lab.octopus.host import (
    INSTANCE_OPTS,
    Command,
    Host,
    Selected,
    connect,
    parse_cs,
    save_config,
    select_instance,
)
from octotui.lab.octopus.options import ControlledFailure, Opt, Parsed, Unhandled
from octotui.lab.sqlserver import SqlSession
from octotui.lab.state import OctopusSchema


def new_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


def _configured_key(host: Host, sel: Selected) -> str | None:
    blob = sel.config.get(cfgmod.MASTER_KEY)
    if not blob:
        return None
    try:
        return cfgmod.unprotect_master_key(host.node.name, blob)
    except cfgmod.ConfigError as exc:
        inner = (("System.Security.Cryptography.CryptographicException", cfgmod.DPAPI_ERROR),)
        message = f"Unable to parse configuration key '{cfgmod.MASTER_KEY}' as a 'Byte[]'."
        raise Unhandled("System.ArgumentException", message, inner) from exc


def _check_key(schema: OctopusSchema, key: str | None, db: str) -> str:
    if key is None:
        raise ControlledFailure(f"The database '{db}' already contains Octopus data. Provide its master key "
                                "with --masterKey to use it from this node.")
    if key.strip() != schema.master_key:
        raise ControlledFailure(f"The master key provided does not match the master key of the existing "
                                f"database '{db}'. Please enter a valid master key for the existing "
                                "database.")
    return schema.master_key


def _install(host: Host, session: SqlSession, key: str | None) -> str:
    key = key or new_master_key()
    host.log.add_sensitive(key)
    host.info(f"Upgrading the database schema to version {host.version}")
    timing.spend(host.ctx, timing.DATABASE_CREATE)  # every migration script of the release runs here
    session.install_schema(host.version, key)
    host.info("Database upgrade successful")
    return key


def _upgrade(host: Host, session: SqlSession, schema: OctopusSchema) -> None:
    current, target = cfgmod.version_tuple(schema.version), cfgmod.version_tuple(host.version)
    if current == target:
        host.info(f"The database schema is already at version {schema.version}; no upgrade is needed")
    elif current > target:
        raise ControlledFailure(f"The database schema is for Octopus Server {schema.version}, which is "
                                f"newer than this Octopus Server ({host.version}). Install Octopus Server "
                                f"{schema.version} or later on this node.")
    else:
        host.info(f"Upgrading the database schema from version {schema.version} to {host.version}")
        session.upgrade_schema(host.version)
        host.info("Database upgrade successful")


def database(host: Host, p: Parsed) -> int:
    sel = select_instance(host, p)
    cs = p.get("connectionString") or sel.config.get(cfgmod.CONNECTION_STRING)
    if not cs:
        raise ControlledFailure("No database connection string has been configured. Pass one with "
                                "--connectionString=VALUE")
    options = parse_cs(cs)
    host.log.add_sensitive(options.password)
    db = options.initial_catalog
    key_arg = p.get("masterKey")
    if key_arg is not None and not cfgmod.valid_master_key(key_arg):
        raise ControlledFailure("The master key provided is not valid: it must be the base64 encoding of a "
                                "16-byte (or 32-byte) key, as shown by show-master-key.")
    key = key_arg.strip() if key_arg is not None else _configured_key(host, sel)

    if p.has("delete"):
        session = connect(host, cs, open_catalog=False)
        host.info(f"Deleting database '{db}'")
        session.drop_database()
        host.info(f"Database '{db}' deleted")
        return 0

    if p.has("create"):
        session = connect(host, cs, open_catalog=False)
        if not session.database_exists():
            host.info(f"Creating database '{db}'")
            session.create_database()
            host.info(f"Database '{db}' created")
            key = _install(host, session, key)
        else:
            schema = session.schema()
            if schema is None:
                host.info(f"Database '{db}' already exists and is empty; installing the Octopus schema")
                key = _install(host, session, key)
            else:
                host.info(f"Database '{db}' already exists and won't be created again")
                key = _check_key(schema, key, db)
                if p.has("upgrade"):
                    _upgrade(host, session, schema)
    else:
        session = connect(host, cs, open_catalog=True)
        schema = session.schema()
        if schema is None:
            if p.has("upgrade"):
                key = _install(host, session, key)
            else:
                host.warn(f"The database '{db}' does not contain an Octopus Server schema yet. Create it "
                          "with database --create, or install it with database --upgrade")
        else:
            key = _check_key(schema, key, db)
            if p.has("upgrade"):
                _upgrade(host, session, schema)

    grant = p.get("grant")
    if grant:
        host.info(f"Granting db_owner on database '{db}' to '{grant}'")
        login = session.grant_db_owner(grant)
        host.info(f"'{login}' is now db_owner of database '{db}'")

    if p.get("connectionString") is not None:
        sel.config.set(cfgmod.CONNECTION_STRING, cs)
        host.info("Saving the database connection string")
    if key is not None:
        sel.config.set(cfgmod.MASTER_KEY, cfgmod.protect_master_key(host.node.name, key))
        host.info("Saving the master key")
    save_config(host, sel)
    return 0


def set_master_key(host: Host, p: Parsed) -> int:
    """Only rewrites the config, after a rotation was done on another node."""
    sel = select_instance(host, p)
    key = p.get("masterKey")
    if not key or not cfgmod.valid_master_key(key):
        raise ControlledFailure("Please provide a valid master key with --masterKey=VALUE")
    sel.config.set(cfgmod.MASTER_KEY, cfgmod.protect_master_key(host.node.name, key.strip()))
    save_config(host, sel)
    host.info("The master key has been saved to the configuration file")
    return 0


COMMANDS = (
    Command("database", "Create or drop an Octopus database", (
        *INSTANCE_OPTS,
        Opt("create", value=False, help="Creates a new empty database and upgrades it to the schema"),
        Opt("connectionString", help="Set the database connection string to use"),
        Opt("masterKey", sensitive=True, help="Set the Master Key used for encryption and decryption"),
        Opt("upgrade", value=False, help="Upgrade the database to the latest schema"),
        Opt("skipLicenseCheck", value=False, since="2018.8.9",
            help="Skips the license check when performing a schema upgrade"),
        Opt("skipDatabaseCompatibilityCheck", value=False, help="Skips the database compatibility check"),
        Opt("delete", value=False, help="Deletes the database"),
        Opt("grant", help="Gives the specified Windows user db_owner access to the database"),
    ), database),
    Command("set-master-key", "Updates the master key in the configuration file",
            (*INSTANCE_OPTS, Opt("masterKey", sensitive=True, help="The new master key")), set_master_key),
)
