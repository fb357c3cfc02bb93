"""The value parsers: Windows paths, host names, accounts, listen prefixes, versions, connection strings.

Tables of accepted and refused values by the rules each consumer applies (Win32, RFC 1123, Active
Directory, HTTP.sys, SqlClient), plus property tests for the connection-string parser: rendering a parsed
string and parsing it again keeps every value, and redaction never shows a password whatever it holds.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from octotui.secrets.redact import MASK
from octotui.spec.parsers import ParseError
from octotui.spec.parsers.accounts import as_account, parse_account
from octotui.spec.parsers.connstr import (
    as_connection_string,
    canonical_keyword,
    octopus_problems,
    parse_connection_string,
    parse_data_source,
    quote_value,
    redact,
)
from octotui.spec.parsers.hostnames import netbios_from_host, parse_dns_name, parse_host, parse_netbios_name
from octotui.spec.parsers.prefixes import parse_listen_prefix, parse_port
from octotui.spec.parsers.versions import parse_octopus_version
from octotui.spec.parsers.winpath import looks_like_windows_path, parse_windows_path

# --- Windows paths ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "canonical", "kind"), [
    ("C:\\Octopus", "C:\\Octopus", "drive"),
    ("c:\\octopus\\", "C:\\octopus", "drive"),
    ("D:/Data/Octopus", "D:\\Data\\Octopus", "drive"),
    ("C:\\", "C:\\", "drive"),
    ("C:\\Program Files\\Octopus Deploy", "C:\\Program Files\\Octopus Deploy", "drive"),
    ("C:\\a\\\\b", "C:\\a\\b", "drive"),
    ("\\\\files01\\Octopus", "\\\\files01\\Octopus", "unc"),
    ("\\\\files01.corp.example.com\\Octopus$\\Shared", "\\\\files01.corp.example.com\\Octopus$\\Shared", "unc"),
    ("\\\\127.0.0.1\\OctopusData", "\\\\127.0.0.1\\OctopusData", "unc"),
    ("//files01/share/dir", "\\\\files01\\share\\dir", "unc"),
    ("C:\\Ünïcode\\日本", "C:\\Ünïcode\\日本", "drive"),
    ("C:\\file.name.with.dots", "C:\\file.name.with.dots", "drive"),
])
def test_windows_paths_accepted(text: str, canonical: str, kind: str) -> None:
    path = parse_windows_path(text)
    assert str(path) == canonical
    assert path.kind == kind


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("Octopus", "relative"),
    ("Octopus\\Home", "relative"),
    (".\\Octopus", "relative"),
    ("C:Octopus", "current folder of drive"),
    ("C:", "current folder of drive"),
    ("\\Octopus", "no drive letter"),
    ("/home/user/file", "no drive letter"),
    ("\\\\?\\C:\\Octopus", "verbatim"),
    ("\\\\.\\PhysicalDrive0", "device"),
    ("\\??\\C:\\x", "device"),
    ("\\\\server", "no share"),
    ("\\\\server\\", "no share"),
    ("\\\\\\share", "no server"),
    ("\\\\bad_host\\share", "not a valid host"),
    ("\\\\server\\sh:are", "share name"),
    ("C:\\Octo<pus", "does not allow"),
    ("C:\\Octo|pus", "does not allow"),
    ("C:\\Octo?pus", "does not allow"),
    ("C:\\Octo*pus", "does not allow"),
    ('C:\\Octo"pus', "does not allow"),
    ("C:\\a:b", "does not allow"),
    ("C:\\Octo\tpus", "control character"),
    ("C:\\Octopus\\CON", "reserved device name"),
    ("C:\\Octopus\\nul.txt", "reserved device name"),
    ("C:\\COM1\\x", "reserved device name"),
    ("C:\\lpt9", "reserved device name"),
    ("C:\\Octopus.", "ends with a space or a dot"),
    ("C:\\Octopus \\x", "ends with a space or a dot"),
    ("C:\\a\\..\\b", "'..' segment"),
    ("C:\\a\\.\\b", "'.' segment"),
    (" C:\\Octopus", "spaces"),
    ("1:\\x", "not a drive letter"),
    ("C:\\" + "a" * 256, "255"),
    ("C:\\" + "\\".join(["abcdefghij"] * 30), "MAX_PATH"),
])
def test_windows_paths_refused(text: str, why: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_windows_path(text)
    assert why.lower() in info.value.message.lower()
    assert info.value.fix


def test_unc_and_drive_can_be_refused() -> None:
    with pytest.raises(ParseError, match="network"):
        parse_windows_path("\\\\server\\share", allow_unc=False)
    with pytest.raises(ParseError, match="UNC"):
        parse_windows_path("C:\\x", allow_drive=False)


def test_path_helpers() -> None:
    root = parse_windows_path("\\\\files\\Share")
    child = root.joinpath("Artifacts")
    assert str(child) == "\\\\files\\Share\\Artifacts"
    assert child.is_within(root) and root.is_within(root)
    assert not parse_windows_path("\\\\files\\Share2").is_within(root)
    assert parse_windows_path("C:\\OCTOPUS\\x").is_within(parse_windows_path("c:\\octopus"))
    assert not parse_windows_path("C:\\Octopus2").is_within(parse_windows_path("C:\\Octopus"))
    assert parse_windows_path("C:\\").is_drive_root
    with pytest.raises(ParseError):
        root.joinpath("bad|name")
    assert looks_like_windows_path("C:\\x") and looks_like_windows_path("\\\\s\\x")
    assert not looks_like_windows_path("./Octopus.msi") and not looks_like_windows_path("/tmp/x.msi")


# --- host names -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("octo1", "dns", "octo1"),
    ("OCTO1", "dns", "OCTO1"),
    ("octo1.corp.example.com", "dns", "octo1.corp.example.com"),
    ("octo1.corp.example.com.", "dns", "octo1.corp.example.com"),
    ("x-1.a1.b-c.com", "dns", "x-1.a1.b-c.com"),
    ("xn--bcher-kva.example", "dns", "xn--bcher-kva.example"),
    ("10.0.0.5", "ipv4", "10.0.0.5"),
    ("::1", "ipv6", "::1"),
    ("[fe80::1]", "ipv6", "fe80::1"),
    ("2001:DB8::1", "ipv6", "2001:db8::1"),
    ("a" * 63 + ".com", "dns", "a" * 63 + ".com"),
])
def test_hosts_accepted(text: str, kind: str, value: str) -> None:
    host = parse_host(text)
    assert (host.kind, host.value) == (kind, value)


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("octo_1", "underscore"),
    ("-octo", "hyphen"),
    ("octo-", "hyphen"),
    ("octo..corp", "empty label"),
    ("a" * 64 + ".com", "63"),
    (".".join(["abcdefghi"] * 26), "253"),
    ("1.2.3", "neither"),
    ("999.1.1.1", "neither"),
    ("12345", "all digits"),
    ("bücher.example", "punycode"),
    ("octo1:5986", "port"),
    ("http://octo1/", "slash"),
    ("[10.0.0.1]", "IPv6 addresses only"),
    ("[zz::1]", "not a valid IPv6"),
    ("octo 1", "contains"),
])
def test_hosts_refused(text: str, why: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_host(text)
    assert why.lower() in (info.value.message + info.value.fix).lower()


def test_netbios_names() -> None:
    assert parse_netbios_name("OCTO1") == "OCTO1"
    assert parse_netbios_name("A" * 15) == "A" * 15
    for bad, why in [("A" * 16, "15"), ("octo.corp", "dot"), ("123", "all digits"), ("oc_to", "underscore"),
                     ("", "empty")]:
        with pytest.raises(ParseError) as info:
            parse_netbios_name(bad)
        assert why in (info.value.message + info.value.fix)
    assert netbios_from_host(parse_host("octo1.corp.example.com")) == "OCTO1"
    assert netbios_from_host(parse_host("averyveryverylongname.corp")) == "AVERYVERYVERYLO"
    assert netbios_from_host(parse_host("10.0.0.1")) is None
    assert parse_dns_name("Octo1.") == "Octo1"


# --- accounts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "form", "domain", "name", "gmsa"), [
    ("WORK\\labadmin", "downlevel", "WORK", "labadmin", False),
    ("work.lab\\labadmin", "downlevel", "work.lab", "labadmin", False),
    ("CORP\\gmsaOctopus$", "downlevel", "CORP", "gmsaOctopus$", True),
    ("jane.doe@corp.example.com", "upn", "corp.example.com", "jane.doe", False),
    ("CORP\\svc-octopus.prod", "downlevel", "CORP", "svc-octopus.prod", False),
    ("CORP\\" + "a" * 20, "downlevel", "CORP", "a" * 20, False),
    ("CORP\\" + "g" * 15 + "$", "downlevel", "CORP", "g" * 15 + "$", True),
])
def test_domain_accounts_accepted(text: str, form: str, domain: str, name: str, gmsa: bool) -> None:
    account = parse_account(text)
    assert (account.form, account.domain, account.name, account.is_gmsa) == (form, domain, name, gmsa)
    assert str(account) == text


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("labadmin", "no domain"),
    (".\\labadmin", "local account"),
    ("CORP\\" + "a" * 21, "sAMAccountName has at most 20"),
    ("CORP\\" + "g" * 16 + "$", "at most 15"),
    ("CORP\\user[1]", "contains"),
    ("CORP\\us;er", "contains"),
    ("CORP\\us@er", "mixes"),
    ("CORP\\...", "only dots"),
    ("CORP\\user.", "end with a dot"),
    ("CORP\\", "no user name"),
    ("\\user", "empty domain"),
    ("A\\B\\user", "more than one backslash"),
    ("CORP/user", "forward slash"),
    ("CORP\\user@corp.com", "mixes"),
    ("VERYLONGDOMAINNAME1\\user", "longer than 15"),
    ("NT AUTHORITY\\NETWORK SERVICE", "built-in"),
    ("BUILTIN\\Administrators", "built-in"),
    ("user@corp", "dot"),
    ("@corp.com", "no user name"),
    ("user@bad_domain.com", "not a DNS domain"),
    ("gmsa$@corp.example.com", "gMSA"),
    (" CORP\\user", "spaces"),
])
def test_domain_accounts_refused(text: str, why: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_account(text)
    assert why.lower() in (info.value.message + info.value.fix).lower()


def test_local_accounts_only_when_allowed() -> None:
    assert parse_account("Administrator", allow_local=True).form == "local"
    assert str(parse_account("Administrator", allow_local=True)) == "Administrator"
    # The written form is kept: ``.\\user`` is what WinRM's NTLM logon and the keyring entry were given.
    dotted = parse_account(".\\Administrator", allow_local=True)
    assert (dotted.form, dotted.name, str(dotted)) == ("local", "Administrator", ".\\Administrator")
    assert not dotted.is_domain_account and dotted.netbios_domain is None
    assert parse_account("CORP\\x", allow_local=True).form == "downlevel"


# --- listen prefixes and ports -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "canonical", "kind"), [
    ("http://+:80/", "http://+:80/", "strong"),
    ("https://*:443/", "https://*:443/", "weak"),
    ("http://localhost:8080", "http://localhost:8080/", "dns"),
    ("http://octo.corp.example.com/", "http://octo.corp.example.com:80/", "dns"),
    ("https://octo.corp.example.com/octopus", "https://octo.corp.example.com:443/octopus/", "dns"),
    ("HTTPS://+:8443/a/b/", "https://+:8443/a/b/", "strong"),
    ("http://10.0.0.5:81/", "http://10.0.0.5:81/", "ipv4"),
    ("http://[::1]:80/", "http://[::1]:80/", "ipv6"),
    ("http://[fe80::1]/", "http://[fe80::1]:80/", "ipv6"),
    ("http://+:80/a%20b/", "http://+:80/a%20b/", "strong"),
])
def test_listen_prefixes_accepted(text: str, canonical: str, kind: str) -> None:
    prefix = parse_listen_prefix(text)
    assert str(prefix) == canonical
    assert prefix.host_kind == kind


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("+:80", "no scheme"),
    ("ftp://+:21/", "http or https"),
    ("http://+:0/", "outside"),
    ("http://+:65536/", "outside"),
    ("http://+:8o/", "not a number"),
    ("http://+foo:80/", "wildcard"),
    ("http://:80/", "not valid"),
    ("http:///", "no host"),
    ("http://+:80/?a=1", "query"),
    ("http://+:80/#x", "fragment"),
    ("http://user@+:80/", "user"),
    ("http://fe80::1/", "brackets"),
    ("http://[::1/", "closing"),
    ("http://+:80/a b/", "spaces"),
    ("http://+:80/,https://+:443/", "more than one"),
    ("http://bad_host:80/", "not valid"),
    ("http://+:80/a//b/", "empty segment"),
    ("http://+:80/a%zz/", "%-escape"),
])
def test_listen_prefixes_refused(text: str, why: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_listen_prefix(text)
    assert why.lower() in (info.value.message + info.value.fix).lower()


def test_ports() -> None:
    assert parse_port(10943) == 10943
    for bad in (0, 70000, "10943", True, 1.5, None):
        with pytest.raises(ParseError):
            parse_port(bad)
    with pytest.raises(ParseError) as info:
        parse_port("10943")
    assert "without quotes" in info.value.fix


# --- versions ---------------------------------------------------------------------------------------------


def test_octopus_versions() -> None:
    v = parse_octopus_version("2025.3.1234")
    assert str(v) == "2025.3.1234" and v.supports_cluster_shared
    assert not parse_octopus_version("2020.1.18").supports_cluster_shared
    assert parse_octopus_version("2020.2.15").supports_cluster_shared
    assert not parse_octopus_version("2020.2.14").supports_cluster_shared
    assert parse_octopus_version("2024.4.7002.1").parts == (2024, 4, 7002, 1)
    for bad in ("latest", "2025.3", "2025.3.x", "v2025.3.1", "2025.3.1-beta", "", "2.0.0", "1.2.3.4.5"):
        with pytest.raises(ParseError):
            parse_octopus_version(bad)
    with pytest.raises(ParseError, match="string"):
        parse_octopus_version(2025.3)
    with pytest.raises(ParseError) as info:
        parse_octopus_version("latest")
    assert "exact" in info.value.message


# --- connection strings -----------------------------------------------------------------------------------


def test_connection_string_basic_rules() -> None:
    cs = parse_connection_string(
        "  server = sql01,1433 ; DATABASE=Octopus;Integrated Security=SSPI;App=octo=tui;"
        "Trusted_Connection=yes ; Connection Timeout=30")
    assert cs.get("Data Source") == "sql01,1433"
    assert cs.get("initial catalog") == "Octopus"
    assert cs.database == "Octopus"
    assert cs.get("Application Name") == "octo=tui"
    assert cs.get("Integrated Security") == "yes"  # the synonym, later, wins
    assert cs.integrated_security is True
    assert cs.get("Connect Timeout") == "30"
    server = cs.server
    assert server is not None and (server.host, server.port, server.instance) == ("sql01", 1433, None)
    assert cs.unknown_keywords == []


def test_connection_string_quoting_and_last_wins() -> None:
    cs = parse_connection_string("Data Source=a;Data Source=b;Password=\"p;w\"\"x\";Application Name='it''s';"
                                 "Workstation ID = ' spaced ' ;key==with=equals=v")
    assert cs.get("server") == "b"
    assert cs.get("pwd") == 'p;w"x'
    assert cs.get("app") == "it's"
    assert cs.get("wsid") == " spaced "
    assert cs.unknown_keywords == ["key=with"]
    assert [p.keyword for p in cs.pairs][:2] == ["Data Source", "Data Source"]


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"),
    ("Data Source", "no '='"),
    ("Data Source;Initial Catalog=x", "no '='"),
    ("=value", "no keyword"),
    ("Password='abc", "no closing"),
    ('Password="abc" trailing;', "follows the closing quote"),
    ("Data Source=a\x00b", "NUL"),
])
def test_connection_string_syntax_errors(text: str, why: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_connection_string(text)
    assert why in info.value.message


def test_keywords_and_synonyms() -> None:
    assert canonical_keyword("PWD") == "Password"
    assert canonical_keyword(" uid ") == "User ID"
    assert canonical_keyword("addr") == "Data Source"
    assert canonical_keyword("network address") == "Data Source"
    assert canonical_keyword("MultiSubnetFailover") == "Multi Subnet Failover"
    assert canonical_keyword("TrustServerCertificate") == "Trust Server Certificate"
    assert canonical_keyword("IntegratedSecurity") is None
    assert canonical_keyword("data  source") is None


@pytest.mark.parametrize(("text", "host", "instance", "port", "protocol"), [
    ("sql01", "sql01", None, None, None),
    ("sql01,1433", "sql01", None, 1433, None),
    ("sql01\\PROD", "sql01", "PROD", None, None),
    ("sql01\\PROD,14330", "sql01", "PROD", 14330, None),
    ("tcp:sql01.corp,1433", "sql01.corp", None, 1433, "tcp"),
    ("TCP:sql01", "sql01", None, None, "tcp"),
    ("(local)", "(local)", None, None, None),
    (" sql01 , 1433 ", "sql01", None, 1433, None),
])
def test_data_sources(text: str, host: str, instance: str | None, port: int | None, protocol: str | None) -> None:
    s = parse_data_source(text)
    assert (s.host, s.instance, s.port, s.protocol) == (host, instance, port, protocol)


def test_data_source_errors() -> None:
    for bad in ("", "sql01,port", "sql01,0", "sql01\\", "\\INST", "sql01\\" + "i" * 17):
        with pytest.raises(ParseError):
            parse_data_source(bad)


def _problems(text: str) -> str:
    return " | ".join(f"{p.message} {p.fix}" for p in octopus_problems(parse_connection_string(text)))


def test_octopus_requirements() -> None:
    good = "Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True;"
    assert octopus_problems(parse_connection_string(good)) == []
    assert "holds a password" in _problems(good + "Password=x;")
    assert "holds a password" in _problems(good + "PWD=x;")
    assert "no Data Source" in _problems("Initial Catalog=Octopus;Integrated Security=True")
    assert "names no database" in _problems("Data Source=sql01;Integrated Security=True")
    assert "Windows authentication" in _problems("Data Source=sql01;Initial Catalog=O;User ID=sa")
    assert "Windows authentication" in _problems("Data Source=sql01;Initial Catalog=O")
    assert "node itself" in _problems("Data Source=(local);Initial Catalog=O;Integrated Security=True")
    assert "node itself" in _problems("Data Source=.\\SQLEXPRESS;Initial Catalog=O;Integrated Security=True")
    assert "'np:' protocol" in _problems("Data Source=np:\\\\sql01\\pipe\\sql\\query;Initial Catalog=O;"
                                         "Integrated Security=True")
    assert "not a value SqlClient accepts" in _problems("Data Source=s;Initial Catalog=O;Integrated Security=maybe")
    assert "with a space" in _problems("Data Source=s;Initial Catalog=O;IntegratedSecurity=SSPI;Integrated Security=1"
                                       .replace(";Integrated Security=1", ";Trusted_Connection=True"))
    assert "did you mean 'Initial Catalog'" in _problems(good + "Initial Catalogue=x")
    assert "needs a password" in _problems(good + "Authentication=Active Directory Password")


def test_redact_connection_strings() -> None:
    assert redact("Server=s;Password=secret;Database=d") == f"Server=s;Password={MASK};Database=d"
    assert redact("Server=s; pwd = 'se;cret' ;x=1") == f"Server=s; pwd = {MASK} ;x=1"
    assert redact('Password="a""b;c";Password=two') == f"Password={MASK};Password={MASK}"
    assert redact("no secrets here") == "no secrets here"
    # broken strings still lose their password
    broken = redact("Server=s;Password=oops;Name='unclosed")
    assert "oops" not in broken and MASK in broken
    assert parse_connection_string("Data Source=s;Password=x;").redacted() == f"Data Source=s;Password={MASK};"


_values = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)
_keywords = st.sampled_from(["Data Source", "Initial Catalog", "Password", "Application Name", "User ID",
                             "Workstation ID", "Failover Partner"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_keywords, _values), min_size=1, max_size=6))
def test_render_then_parse_keeps_every_value(pairs: list[tuple[str, str]]) -> None:
    text = "".join(f"{k}={quote_value(v)};" for k, v in pairs)
    parsed = parse_connection_string(text)
    expected: dict[str, str] = {}
    for k, v in pairs:
        expected.pop(k, None)
        expected[k] = v
    assert parsed.values == expected
    assert parse_connection_string(parsed.render()).values == parsed.values


@settings(max_examples=400, deadline=None)
@given(_values, st.sampled_from(["Password", "PWD", "pwd"]))
def test_redaction_never_shows_a_password(password: str, keyword: str) -> None:
    text = f"Data Source=sql01;{keyword}={quote_value(password)};Initial Catalog=Octopus;"
    assert redact(text) == f"Data Source=sql01;{keyword}={MASK};Initial Catalog=Octopus;"


@pytest.mark.parametrize(("value", "written"), [("ten", "'ten'"), (True, "true"), (False, "false"), (1.5, "1.5"),
                                                ([1], "a list"), ({"a": 1}, "a table"), (None, "nothing")])
def test_port_messages_say_what_was_written_not_its_python_type(value: object, written: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_port(value, "comms port")
    assert info.value.message == f"the comms port must be a whole number from 1 to 65535, not {written}"


# --- one parser for text from elsewhere, and for what a node reports --------------------------------------


def test_as_account_keeps_a_parsed_account_and_parses_text() -> None:
    parsed = parse_account("WORK\\svcOctopus")
    assert as_account(parsed) is parsed
    assert as_account(" svc@work.lab ") == parse_account("svc@work.lab")
    assert as_account("svc").form == "local"
    with pytest.raises(ParseError):
        as_account("svc", allow_local=False)
    assert (parsed.netbios_domain, parsed.upn_suffix) == ("WORK", None)
    assert (as_account("svc@work.lab").netbios_domain, as_account("svc@work.lab").upn_suffix) == (None, "work.lab")


def test_builtin_accounts_only_when_reported() -> None:
    with pytest.raises(ParseError, match="built-in"):
        parse_account("NT AUTHORITY\\NETWORK SERVICE")
    reported = parse_account("NT AUTHORITY\\NETWORK SERVICE", allow_builtin=True)
    assert (reported.domain, reported.name, str(reported)) == ("NT AUTHORITY", "NETWORK SERVICE",
                                                                "NT AUTHORITY\\NETWORK SERVICE")


def test_version_compare_pads_missing_parts() -> None:
    v = parse_octopus_version("2020.2.0")
    assert v.compare((2020, 2)) == 0 and v.compare((2020, 2, 1)) == -1 and v.compare((2020, 1, 99)) == 1
    assert v.compare(parse_octopus_version("2020.2.0.0")) == 0


def test_connection_string_text_and_as_connection_string() -> None:
    text = "Server=sql01;Database=Octopus;Trusted_Connection=yes"
    cs = parse_connection_string(text)
    assert str(cs) == text and f"{cs}" == text
    assert as_connection_string(cs) is cs and as_connection_string(text) == cs
