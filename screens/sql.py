"""SQL: the shared database every node uses, as an ADO.NET connection string."""

from __future__ import annotations

from typing import ClassVar

from octotui.screens.base import WizardScreen
from textual.app import ComposeResult


class SqlScreen(WizardScreen):
    NAME = "sql"
    SECTION = "sql"
    TITLE_TEXT = "SQL database"
    OWNS: ClassVar[tuple[str, ...]] = (r"sql(\..*)?",)
    HELP = """
The connection string of the cluster's database, as Octopus takes it, e.g.
  Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True;
Windows authentication: the nodes sign in as the service account. No password belongs here.

Checked from this console (the server answers, its version and collation, the rights to create or use the
database, and the database's state: create mode refuses a database that already holds a cluster) and from
every node as the service account.
"""

    def form(self) -> ComposeResult:
        yield self.field("sql.connection_string", "Connection string",
                         placeholder="Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True;")
