"""The lab's SQL Server front: TDS 7.x on loopback over the simulated SQL Server state.

What it speaks (enough for FreeTDS through unixODBC and pyodbc):
- PRELOGIN with VERSION, ENCRYPTION (always answered NOT_SUP: no TLS, so a client that requires
  encryption gives up), INSTOPT, THREADID and MARS (which FreeTDS needs to stay on TDS 7.4);
- LOGIN7 for SQL logins, and Windows logins by NTLM in SSPI packets (pyspnego's acceptor);
- LOGINACK, ENVCHANGE (database, language, collation, packet size, transactions), INFO, ERROR with SQL
  Server's numbers and wording (18456, 18452, 4060, 916, 911, 262, 208, 2812), DONE/DONEPROC/DONEINPROC;
- SQL batches; RPC for sp_executesql, sp_prepare, sp_prepexec, sp_execute, sp_unprepare and an empty
  sp_datatype_info*; transaction-manager BEGIN/COMMIT/ROLLBACK; attention;
- result columns of type int, bigint, bit and nvarchar, answered by ``answers.Answerer``.
"""

from octotui.lab.tds.server import TdsServer

__all__ = ["TdsServer"]
