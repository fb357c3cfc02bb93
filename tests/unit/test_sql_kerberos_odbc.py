"""What the ODBC driver is told for a Kerberos login with a password ([winrm] transport = "kerberos").

FreeTDS names the service principal without a realm unless told one, and MIT Kerberos then wants a default
realm the console may not have: the realm goes onto ``ServerSPN`` (taken as written) or into ``REALM``
(applied to the SPN FreeTDS derives). NTLM logins keep the connection string as before.
"""

from __future__ import annotations

from octotui.checks.odbc import Credentials, OdbcDriver, to_odbc
from octotui.checks.sql_kerberos import SqlKerberos, realm_of, service_principal
from octotui.spec.parsers.connstr import parse_connection_string

FREETDS = OdbcDriver("FreeTDS", "freetds", "libtdsodbc.so", (1, 3, 17))
LAB = "Data Source=127.0.0.1,50507;Initial Catalog=Octo;Integrated Security=True;" \
      "Server SPN=MSSQLSvc/sql1.work.lab:50507;"


def test_kerberos_with_a_server_spn_names_its_realm_and_sends_no_password() -> None:
    cs = parse_connection_string(LAB)
    text = to_odbc(cs, FREETDS, Credentials("kerberos", "WORK\\svc", "s3cret", realm="WORK.LAB"), database="master")
    assert text == ("DRIVER={FreeTDS};SERVER=127.0.0.1;PORT=50507;TDS_Version=7.4;DATABASE=master;"
                    "Trusted_Connection=yes;ServerSPN={MSSQLSvc/sql1.work.lab:50507@WORK.LAB};")


def test_kerberos_without_a_server_spn_gives_freetds_the_realm() -> None:
    cs = parse_connection_string("Data Source=sql1.work.lab;Initial Catalog=Octo;Integrated Security=True;")
    text = to_odbc(cs, FREETDS, Credentials("kerberos", "WORK\\svc", "s3cret", realm="WORK.LAB"), database="Octo")
    assert text.endswith("Trusted_Connection=yes;REALM=WORK.LAB;")
    assert "s3cret" not in text


def test_ntlm_keeps_the_server_spn_as_written() -> None:
    cs = parse_connection_string(LAB)
    text = to_odbc(cs, FREETDS, Credentials("ntlm", "WORK\\svc", "pw"), database="master")
    assert "UID=WORK\\svc;PWD=pw;ServerSPN=MSSQLSvc/sql1.work.lab:50507;" in text
    assert "REALM" not in text


def test_service_principal_and_realm_follow_freetds_and_the_answers() -> None:
    assert service_principal(None, "sql1.work.lab", None) == "MSSQLSvc/sql1.work.lab:1433"
    assert service_principal(" MSSQLSvc/db.corp:1500 ", "10.0.0.5", 1500) == "MSSQLSvc/db.corp:1500"
    assert realm_of("WORK\\svc", SqlKerberos(dns_domain="work.lab."), "MSSQLSvc/x:1") == "WORK.LAB"
    assert realm_of("svc@corp.example.com", SqlKerberos(), "MSSQLSvc/db.other:1") == "CORP.EXAMPLE.COM"
    assert realm_of("CORP\\svc", SqlKerberos(), "MSSQLSvc/db.corp.example.com:1433") == "CORP.EXAMPLE.COM"
    assert realm_of("CORP\\svc", SqlKerberos(), "MSSQLSvc/db:1433@AD.CORP") == "AD.CORP"
