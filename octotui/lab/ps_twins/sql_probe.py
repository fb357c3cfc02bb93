"""Twin of ``test-sql``: connect to master with SqlClient as this identity and look at the target database.

Integrated Security from a WinRM session without delegated credentials reaches SQL Server as
ANONYMOUS LOGON (the double hop) and fails with error 18456, exactly as the script reports it; from a
scheduled task or a CredSSP session it logs in as the account itself.
"""

from __future__ import annotations

from typing import Any

from octotui.lab import adonet, sqlserver
from octotui.lab.process import ProcessContext
from octotui.lab.ps_twins.common import ParamError, Params, emit, run_with_params


def _no_access(login: str, database: str) -> dict[str, Any]:
    return {"number": 916, "message": f'The server principal "{login}" is not able to access the database '
                                      f'"{database}" under the current security context.'}


def twin(ctx: ProcessContext, params_json: str) -> int:
    def body(params: Params) -> int:
        connection_string = params.string("connection_string")
        database = params.string("database")
        if not connection_string:
            raise ParamError("missing parameter 'connection_string'")
        runtime = ctx.runtime
        world = runtime.world
        try:
            options = adonet.parse(connection_string)
        except adonet.ConnectionStringError as exc:
            emit(ctx, {"ok": False, "stage": "connection_string", "number": None, "message": str(exc)})
            return 0
        database = database or options.initial_catalog
        try:
            session = sqlserver.connect(world, connection_string, ctx.identity, machine=runtime.node.name,
                                        open_catalog=False)
        except sqlserver.SqlError as exc:
            emit(ctx, {"ok": False, "stage": "connect", "number": exc.number, "message": exc.message})
            return 0
        with world.lock:
            sql = world.sql
            roles = session.login.server_roles
            db = sql.database(database) if database else None
            result: dict[str, Any] = {
                "ok": True,
                "server_version": sql.version,
                "edition": sql.edition,
                "server_collation": sql.collation,
                "login": session.login.name,
                "is_sysadmin": session.is_sysadmin,
                "is_dbcreator": "dbcreator" in roles,
                "can_create_database": session.is_sysadmin or "dbcreator" in roles,
                "database": database,
                "database_exists": db is not None,
                "database_collation": db.collation if db is not None else None,
                "database_accessible": None,
                "is_db_owner": None,
                "octopus_schema": None,
                "octopus_version": None,
                "database_error": None,
            }
            if db is not None:
                if session.has_access(database):
                    octopus = session.is_octopus(database)
                    # dbo.OctopusServerInstallationHistory's latest Version: the version the cluster runs.
                    result.update(database_accessible=True, is_db_owner=True, octopus_schema=octopus,
                                  octopus_version=db.octopus.version if octopus and db.octopus else None)
                else:
                    result.update(database_accessible=False, is_db_owner=False,
                                  database_error=_no_access(session.login.name, database))
        emit(ctx, result)
        return 0

    return run_with_params(ctx, params_json, body)
