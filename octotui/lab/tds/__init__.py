"""The lab's SQL Server front: TDS 7.x on loopback over the simulated SQL Server state.

What it speaks (enough for FreeTDS through unixODBC and pyodbc):
- PRELOGIN with VERSION, ENCRYPTION (always answered NOT_SUP: no TLS, so a client that requires
  encryption gives up), INSTOPT, THREADID and MARS (which FreeTDS needs to stay on TDS 7.4);
- LOGIN7 for SQL logins, and Windows logins by NTLM in SSPI packets (pyspnego's acceptor);
- LOGINACK, ENVCHANGE (database, language, collation from TDS 7.1, packet size, and begin/commit/rollback
  transaction from TDS 7.2), INFO (PRINT is message 0), ERROR with SQL Server's numbers and wording
  (18456, 18452, 4060, 916, 911, 262, 208, 226, 3902, 3903, 15010), DONE/DONEPROC/DONEINPROC;
- SQL batches; RPC for sp_executesql, sp_prepare, sp_prepexec, sp_execute, sp_unprepare, sp_who,
  sp_helpdb, sp_databases and an empty sp_datatype_info*; transactions by the transaction manager or in
  SQL (BEGIN TRAN, COMMIT, ROLLBACK, SAVE TRAN, IF @@TRANCOUNT > 0 ...), one @@TRANCOUNT per session;
  attention;
- result columns of type smallint, int, bigint, bit and nvarchar, answered by ``answers.Answerer``, with
  the catalog views and system procedures of ``catalog``; TDS 7.0 to 7.4 clients.

What it does not model is error 50001 (severity 16) "The octotui lab does not model this statement: ...",
quoting the statement; a fault in the lab itself is 50002. Neither is a number SQL Server uses for its own
errors, so no client mistakes a lab limit for a missing procedure (2812) or view (208).
"""

from octotui.lab.tds.server import TdsServer

__all__ = ["TdsServer"]
