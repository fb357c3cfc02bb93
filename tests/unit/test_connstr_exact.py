"""ADO.NET connection strings (octotui.spec.parsers.connstr): exact results, exact messages, full problem lists.

The companion of test_parsers.py, written against the mutants that survived it (bench/mutation.py): every test
here compares the whole result (every pair with its offsets, the whole message and fix, the FULL list of
problems in order) so that a parser that adds a spurious problem, moves a redaction by one character or says
the wrong thing in a message fails, where a substring check would pass. The cases are the ones a user meets:
a password in quotes at the very end, a keyword left empty, ports at the edges of the range, the protocols and
Authentication methods SqlClient knows.
"""

from __future__ import annotations

import pytest

from octotui.secrets.redact import MASK
from octotui.spec.parsers import ParseError
from octotui.spec.parsers.connstr import (
    ConnectionString,
    Pair,
    ServerAddress,
    as_connection_string,
    canonical_keyword,
    known_keywords,
    octopus_problems,
    parse_connection_string,
    parse_data_source,
    quote_value,
    redact,
)

SYNTAX_FIX = ("write it as Keyword=value;Keyword=value; and quote a value that holds ';' in double quotes "
              "(doubling any \" inside)")
GOOD = "Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True;"

# The problems octopus_problems reports, each as (message, fix), to build the full expected lists below.
PASSWORD = ("the connection string holds a password, and the answers file must never hold a secret",
            "remove Password/PWD and use Windows authentication: Integrated Security=True (each node connects as "
            "the Octopus service account)")
NO_SOURCE = ("the connection string has no Data Source", "add Data Source=<SQL Server host>[\\instance][,port]")
NO_DATABASE = ("the connection string names no database",
               "add Initial Catalog=<database name>, e.g. Initial Catalog=Octopus")
NOT_WINDOWS = ("the connection string does not use Windows authentication, and a SQL login would need a password "
               "in the answers file", "add Integrated Security=True (the nodes connect as the service account)")
LOCAL_FIX = "give the shared SQL Server's host name (or the availability group listener)"
PROTOCOL_FIX = "use TCP: write the host (optionally tcp:host,port)"


def problems(text: str) -> list[tuple[str, str]]:
    return [(p.message, p.fix) for p in octopus_problems(parse_connection_string(text))]


def syntax_error(text: str) -> tuple[str, str]:
    with pytest.raises(ParseError) as info:
        parse_connection_string(text)
    return info.value.message, info.value.fix


# --- pairs: every keyword, value and offset ---------------------------------------------------------------


@pytest.mark.parametrize(("text", "pairs"), [
    # A quoted value at the very end, with no ';' after it.
    ("Password='x'", [Pair("Password", "Password", "x", 9, 12)]),
    ('PWD="a""b"', [Pair("PWD", "Password", 'a"b', 4, 10)]),
    ("Password=''", [Pair("Password", "Password", "", 9, 11)]),
    # A keyword with nothing after '=' at the end, and in the middle.
    ("Data Source=", [Pair("Data Source", "Data Source", "", 12, 12)]),
    ("Data Source= ;x=1", [Pair("Data Source", "Data Source", "", 13, 13), Pair("x", None, "1", 16, 17)]),
    # Spaces around keywords and values are not part of them; a quoted value keeps its own.
    ("  a = 1  ; b =  ' 2 '  ;", [Pair("a", None, "1", 6, 7), Pair("b", None, " 2 ", 16, 21)]),
    ("\tserver\t=\tsql01\t", [Pair("server", "Data Source", "sql01", 10, 15)]),
    # ';;' and leading ';' are empty pairs, skipped.
    (";;Initial Catalog=O;;", [Pair("Initial Catalog", "Initial Catalog", "O", 18, 19)]),
    # '==' in a keyword is one literal '='; a value may hold '=' and the other quote unquoted.
    ("a==b=c=d", [Pair("a=b", None, "c=d", 5, 8)]),
    ("x===y", [Pair("x=", None, "y", 4, 5)]),
    ("App=it's \"ok\"", [Pair("App", "Application Name", "it's \"ok\"", 4, 13)]),
    # A quoted value holding both quotes: its own quote doubled, the other as is.
    ("App=\"it's \"\"ok\"\"\";x=1", [Pair("App", "Application Name", "it's \"ok\"", 4, 17),
                                    Pair("x", None, "1", 20, 21)]),
    ("App='it''s \"ok\"'", [Pair("App", "Application Name", "it's \"ok\"", 4, 16)]),
    # A quoted value followed by blanks, then ';' or the end.
    ("Password='p' ; x=1", [Pair("Password", "Password", "p", 9, 12), Pair("x", None, "1", 17, 18)]),
    ("Password=\"p\"  ", [Pair("Password", "Password", "p", 9, 12)]),
])
def test_pairs_with_their_offsets(text: str, pairs: list[Pair]) -> None:
    assert list(parse_connection_string(text).pairs) == pairs


def test_values_last_wins_and_takes_the_last_position() -> None:
    cs = parse_connection_string("Server=a;Database=d;ADDR=b;Unknown=u;Pwd=p")
    assert cs.values == {"Initial Catalog": "d", "Data Source": "b", "Password": "p"}
    assert list(cs.values) == ["Initial Catalog", "Data Source", "Password"]
    assert cs.render() == "Initial Catalog=d;Data Source=b;Password=p;"
    assert cs.render(mask=True) == f"Initial Catalog=d;Data Source=b;Password={MASK};"
    assert cs.unknown_keywords == ["Unknown"]
    assert cs.has_password is True
    assert cs.text == "Server=a;Database=d;ADDR=b;Unknown=u;Pwd=p"


def test_get_and_contains_by_any_spelling() -> None:
    cs = parse_connection_string("UID=sa;Database=;Nonsense=1")
    assert cs.get("user") == "sa" and cs.get(" User ID ") == "sa"
    assert cs.get("Nonsense") is None  # unknown keywords are kept as pairs, not as settings
    assert cs.get("Password") is None
    assert "uid" in cs and "User ID" in cs and "Initial Catalog" in cs  # present, even when empty
    assert "Password" not in cs and "Nonsense" not in cs and 3 not in cs
    assert cs.database == ""
    assert cs.has_password is False
    assert cs.server is None
    assert cs.integrated_security is None


@pytest.mark.parametrize(("value", "expected"), [
    ("True", True), (" yes ", True), ("SSPI", True), ("true", True),
    ("False", False), ("no", False), (" NO ", False),
])
def test_integrated_security_values(value: str, expected: bool) -> None:
    assert parse_connection_string(f"Integrated Security={value}").integrated_security is expected


def test_integrated_security_refuses_other_values_exactly() -> None:
    with pytest.raises(ParseError) as info:
        _ = parse_connection_string("Trusted_Connection=1").integrated_security
    assert (info.value.message, info.value.fix) == (
        "Integrated Security='1' is not a value SqlClient accepts", "write Integrated Security=True (or SSPI)")


def test_str_redacted_and_as_connection_string() -> None:
    text = "Data Source=s; pwd = 'a;b' ;Initial Catalog=O"
    cs = parse_connection_string(text)
    assert str(cs) == text
    assert cs.redacted() == f"Data Source=s; pwd = {MASK} ;Initial Catalog=O"
    assert as_connection_string(cs) is cs
    again = as_connection_string(text)
    assert isinstance(again, ConnectionString) and again == cs


def test_keywords() -> None:
    assert canonical_keyword("  Persist Security Info ") == "Persist Security Info"
    assert canonical_keyword("WSID") == "Workstation ID"
    assert canonical_keyword("nope") is None
    names = known_keywords()
    assert names == sorted(names) and len(names) == len(set(names))
    assert names[:3] == ["addr", "address", "app"]
    assert "password" in names and "pwd" in names and "Password" not in names


# --- syntax errors: the whole message ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("Data Source", "the connection string is not valid at character 1 (near 'Data Sourc'): 'Data Source' has no "
                    "'=' and no value"),
    ("x=1; Data Source ", "the connection string is not valid at character 6 (near 'x=1; Data Sourc'): 'Data "
                          "Source' has no '=' and no value"),
    ("a=1;Initial Catalog;b=2", "the connection string is not valid at character 5 (near 'a=1;Initial Ca'): "
                                "'Initial Catalog' has no '=' and no value"),
    ("=v", "the connection string is not valid at character 1 (near '=v'): a '=' has no keyword before it"),
    # '==' at the very end is an escaped '=' in the keyword, which then has no '=' of its own.
    ("x==", "the connection string is not valid at character 1 (near 'x=='): 'x==' has no '=' and no value"),
    ("a=1;  =v", "the connection string is not valid at character 7 (near 'a=1;  =v'): a '=' has no keyword "
                 "before it"),
    ("Password='abc", "the connection string is not valid at character 10 (near 'Password='abc'): the value of "
                      "'Password' has no closing '"),
    ('Password="a""', "the connection string is not valid at character 10 (near 'Password=\"a\"\"'): the value of "
                      "'Password' has no closing \""),
    ("Password='a' b;", "the connection string is not valid at character 14 (near 'sword='a' b;'): text follows "
                        "the closing quote of 'Password'"),
    # NUL in a keyword and in a value: the position is the NUL's own.
    ("Data\x00Source=x", "the connection string is not valid at character 5 (near 'Data\\x00Source=x'): it contains "
                         "a NUL character"),
    ("k=a\x00b\x00c", "the connection string is not valid at character 4 (near 'k=a\\x00b\\x00c'): it contains a "
                     "NUL character"),  # the first NUL
    ("0123456789abcdef=ab\x00c", "the connection string is not valid at character 20 (near "
                                 "'9abcdef=ab\\x00c'): it contains a NUL character"),
])
def test_syntax_errors_exactly(text: str, message: str) -> None:
    assert syntax_error(text) == (message, SYNTAX_FIX)


def test_not_text_and_empty() -> None:
    with pytest.raises(ParseError) as info:
        parse_connection_string(42)  # type: ignore[arg-type]
    assert (info.value.message, info.value.fix) == ("the connection string must be text, not 42", "put it in quotes")
    for empty in ("", "  \t "):
        with pytest.raises(ParseError) as info:
            parse_connection_string(empty)
        assert (info.value.message, info.value.fix) == (
            "the connection string is empty",
            'write it like "Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True;"')


# --- quoting a value the way SqlConnectionStringBuilder does -------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("plain", "plain"),
    ("", ""),
    ("a=b", "a=b"),
    ("it's", "it's"),  # a quote inside needs nothing
    ('say "x"', 'say "x"'),
    ("a;b", '"a;b"'),
    (" lead", '" lead"'),
    ("trail ", '"trail "'),
    ("tab\tinside", '"tab\tinside"'),
    ("\x1f", '"\x1f"'),
    (" ", '" "'),
    ("=x", '"=x"'),
    ("'x", "\"'x\""),
    ('"x', "'\"x'"),  # only a double quote: single quotes around it, nothing doubled
    ('a;"b"', "'a;\"b\"'"),
    ("a;'b'", "\"a;'b'\""),
    # Both quotes: double quotes around it, its double quotes doubled (the doubling rule).
    ("a'b\";", '"a\'b"";"'),
    ("'\"", '"\'"""'),
])
def test_quote_value(value: str, expected: str) -> None:
    assert quote_value(value) == expected
    assert parse_connection_string(f"k={expected};").pairs[0].value == value  # and SqlClient reads it back


# --- Data Source ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "address", "written"), [
    ("sql01,1", ServerAddress("sql01", None, 1, None), "sql01,1"),
    ("sql01,65535", ServerAddress("sql01", None, 65535, None), "sql01,65535"),
    ("sql01 , 01433 ", ServerAddress("sql01", None, 1433, None), "sql01,1433"),
    ("tcp:sql01\\PROD,1433", ServerAddress("sql01", "PROD", 1433, "tcp"), "tcp:sql01\\PROD,1433"),
    ("NP:\\\\sql01\\pipe\\sql\\query", ServerAddress("\\\\sql01\\pipe\\sql\\query", None, None, "np"),
     "np:\\\\sql01\\pipe\\sql\\query"),
    ("lpc:sql01", ServerAddress("sql01", None, None, "lpc"), "lpc:sql01"),
    ("Admin: sql01", ServerAddress("sql01", None, None, "admin"), "admin:sql01"),
    ("sql01\\" + "I" * 16, ServerAddress("sql01", "I" * 16, None, None), "sql01\\" + "I" * 16),
    ("a,b,1433", ServerAddress("a,b", None, 1433, None), "a,b,1433"),
    ("udp:sql01", ServerAddress("udp:sql01", None, None, None), "udp:sql01"),
])
def test_data_sources_exactly(text: str, address: ServerAddress, written: str) -> None:
    parsed = parse_data_source(text)
    assert parsed == address
    assert str(parsed) == written


@pytest.mark.parametrize(("text", "message", "fix"), [
    ("", "Data Source is empty", "give the SQL Server's host name, e.g. Data Source=sql01"),
    ("tcp:", "Data Source 'tcp:' has no host", "write it like sql01 or sql01\\INSTANCE"),
    (",1433", "Data Source ',1433' has no host", "write it like sql01 or sql01\\INSTANCE"),
    ("sql01,0", "Data Source 'sql01,0': '0' is not a TCP port", "write the port after a comma, e.g. sql01,1433"),
    ("sql01,65536", "Data Source 'sql01,65536': '65536' is not a TCP port",
     "write the port after a comma, e.g. sql01,1433"),
    ("sql01,", "Data Source 'sql01,': '' is not a TCP port", "write the port after a comma, e.g. sql01,1433"),
    ("sql01,-1", "Data Source 'sql01,-1': '-1' is not a TCP port", "write the port after a comma, e.g. sql01,1433"),
    ("sql01,\u0661\u0664", "Data Source 'sql01,\u0661\u0664': '\u0661\u0664' is not a TCP port",
     "write the port after a comma, e.g. sql01,1433"),
    ("sql01\\", "Data Source 'sql01\\': '' is not a SQL Server instance name",
     "write it as host\\INSTANCE (instance names have at most 16 characters)"),
    ("sql01\\A\\B", "Data Source 'sql01\\A\\B': 'A\\B' is not a SQL Server instance name",
     "write it as host\\INSTANCE (instance names have at most 16 characters)"),
    ("sql01\\" + "I" * 17, f"Data Source 'sql01\\{'I' * 17}': '{'I' * 17}' is not a SQL Server instance name",
     "write it as host\\INSTANCE (instance names have at most 16 characters)"),
    ("\\INST", "Data Source '\\INST' has no host", "write it like sql01 or sql01\\INSTANCE"),
])
def test_data_source_errors_exactly(text: str, message: str, fix: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_data_source(text)
    assert (info.value.message, info.value.fix) == (message, fix)


@pytest.mark.parametrize(("host", "protocol", "local"), [
    ("(local)", None, True), ("(LOCAL)", None, True), (".", None, True), ("LocalHost", None, True),
    ("(localdb)", None, True), ("sql01", "lpc", True), ("sql01", "tcp", False), ("sql01", None, False),
    ("localhost.corp", None, False),
])
def test_is_local(host: str, protocol: str | None, local: bool) -> None:
    assert ServerAddress(host, protocol=protocol).is_local is local  # type: ignore[arg-type]


def test_server_address_text_without_optional_parts() -> None:
    assert str(ServerAddress("sql01")) == "sql01"
    assert str(ServerAddress("sql01", "", 0, None)) == "sql01,0"  # port 0 is still written; an empty instance not


# --- what stops an Octopus cluster: the FULL list, in order --------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    (GOOD, []),
    ("Password='x'", [PASSWORD, NO_SOURCE, NO_DATABASE]),
    (GOOD + "PWD=x", [PASSWORD]),
    ("Data Source=", [("Data Source is empty", "give the SQL Server's host name, e.g. Data Source=sql01"),
                      NO_DATABASE, NOT_WINDOWS]),
    ("Initial Catalog=O;Integrated Security=True", [NO_SOURCE]),
    ("Data Source=sql01;Integrated Security=True", [NO_DATABASE]),
    ("Data Source=sql01;Initial Catalog=;Integrated Security=True", [NO_DATABASE]),
    ("Data Source=sql01;Initial Catalog=O", [NOT_WINDOWS]),
    ("Data Source=sql01;Initial Catalog=O;Integrated Security=no", [NOT_WINDOWS]),
    ("Data Source=sql01;Initial Catalog=O;User ID=sa;Password=p", [PASSWORD]),
    ("Data Source=sql01,0;Initial Catalog=O;Integrated Security=True",
     [("Data Source 'sql01,0': '0' is not a TCP port", "write the port after a comma, e.g. sql01,1433")]),
    ("Data Source=sql01,65536;Initial Catalog=O;Integrated Security=True",
     [("Data Source 'sql01,65536': '65536' is not a TCP port", "write the port after a comma, e.g. sql01,1433")]),
    ("Data Source=sql01,65535;Initial Catalog=O;Integrated Security=True", []),
    ("Data Source=sql01,1;Initial Catalog=O;Integrated Security=True", []),
    ("Data Source=(local);Initial Catalog=O;Integrated Security=True",
     [("Data Source '(local)' means the node itself: every node would use its own SQL Server", LOCAL_FIX)]),
    ("Data Source=lpc:sql01;Initial Catalog=O;Integrated Security=True",
     [("Data Source 'lpc:sql01' means the node itself: every node would use its own SQL Server", LOCAL_FIX),
      ("Data Source uses the 'lpc:' protocol", PROTOCOL_FIX)]),
    ("Data Source=admin:sql01;Initial Catalog=O;Integrated Security=True",
     [("Data Source uses the 'admin:' protocol", PROTOCOL_FIX)]),
    ("Data Source=np:\\\\sql01\\pipe\\sql\\query;Initial Catalog=O;Integrated Security=True",
     [("Data Source uses the 'np:' protocol", PROTOCOL_FIX)]),
    ("Data Source=tcp:sql01,1433;Initial Catalog=O;Integrated Security=True", []),
    ("Data Source=s;Initial Catalog=O;Integrated Security=maybe",
     [("Integrated Security='maybe' is not a value SqlClient accepts", "write Integrated Security=True (or SSPI)")]),
    # Authentication: Windows integrated needs no password; the password methods do; others are not Windows auth.
    ("Data Source=sql01;Initial Catalog=O;Authentication=ActiveDirectoryIntegrated", []),
    ("Data Source=sql01;Initial Catalog=O;Authentication=Active Directory Integrated", []),
    ("Data Source=sql01;Initial Catalog=O;Authentication=SqlPassword", [NOT_WINDOWS]),
    ("Data Source=sql01;Initial Catalog=O;Authentication=Sql Password;Integrated Security=True", []),
    ("Data Source=sql01;Initial Catalog=O;Authentication=ActiveDirectoryPassword;Integrated Security=True",
     [("Authentication=ActiveDirectoryPassword needs a password", "use Integrated Security=True")]),
    ("Data Source=sql01;Initial Catalog=O;Authentication=Active Directory Password",
     [("Authentication=Active Directory Password needs a password", "use Integrated Security=True"), NOT_WINDOWS]),
    ("Data Source=sql01;Initial Catalog=O;Authentication=ActiveDirectoryMSI", [NOT_WINDOWS]),
    ("Data Source=sql01;Initial Catalog=O;Authentication=ActiveDirectoryMSI;Integrated Security=SSPI", []),
    ("Data Source=sql01;Initial Catalog=O;Authentication=;Integrated Security=True", []),
    # Unknown keywords: a suggestion when one is close, the IntegratedSecurity spelling named.
    (GOOD + "Initial Catalogue=x",
     [("SqlClient does not support the keyword 'Initial Catalogue'", "did you mean 'Initial Catalog'?")]),
    (GOOD + "Servr=x", [("SqlClient does not support the keyword 'Servr'", "did you mean 'Data Source'?")]),
    (GOOD + "Frobnicate=1", [("SqlClient does not support the keyword 'Frobnicate'", "remove it")]),
    # A suggestion only when it is close (difflib ratio 0.75): 'Catalog' alone is not close enough.
    (GOOD + "Catalog=x", [("SqlClient does not support the keyword 'Catalog'", "remove it")]),
    ("Data Source=s;Initial Catalog=O;IntegratedSecurity=SSPI;Trusted_Connection=True",
     [("SqlClient does not support the keyword 'IntegratedSecurity'",
       "write 'Integrated Security' with a space: SqlClient does not know 'IntegratedSecurity'")]),
    ("Data Source=s;Initial Catalog=O; integrated  security =SSPI;Trusted_Connection=True",
     [("SqlClient does not support the keyword 'integrated  security'",
       "write 'Integrated Security' with a space: SqlClient does not know 'IntegratedSecurity'")]),
    # Everything wrong at once: each problem once, in this order.
    ("Bogus=1;PWD=x;Data Source=.;Integrated Security=maybe;Authentication=SqlPassword",
     [("SqlClient does not support the keyword 'Bogus'", "remove it"), PASSWORD,
      ("Data Source '.' means the node itself: every node would use its own SQL Server", LOCAL_FIX),
      NO_DATABASE,
      ("Integrated Security='maybe' is not a value SqlClient accepts", "write Integrated Security=True (or SSPI)")]),
])
def test_octopus_problems_full_list(text: str, expected: list[tuple[str, str]]) -> None:
    assert problems(text) == expected


# --- redaction ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("Password='x'", f"Password={MASK}"),
    ("Data Source=s;Password='x'", f"Data Source=s;Password={MASK}"),
    ("Password=", f"Password={MASK}"),
    ("PWD = \"a;b\" ; Server=s", f"PWD = {MASK} ; Server=s"),
    ("Password=a;Server=s;pwd=b", f"Password={MASK};Server=s;pwd={MASK}"),
    ("Server=s;User ID=u", "Server=s;User ID=u"),
    # Broken strings: the fallback pattern, which still masks every password it finds.
    ("Password=oops;Name='unclosed", f"Password={MASK};Name='unclosed"),
    ("Server=s;PWD = 'a;b' trailing;Password=\"c\"\"d\"", f"Server=s;PWD = {MASK} trailing;Password={MASK}"),
    ("Password\x00=x; Password = y", f"Password\x00=x; Password = {MASK}"),
    ("MyPassword=x;Server", "MyPassword=x;Server"),
])
def test_redact_exactly(text: str, expected: str) -> None:
    assert redact(text) == expected
