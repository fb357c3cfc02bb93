"""The value parsers other than connection strings: exact results and whole messages.

The companion of test_parsers.py, written against the mutants that survived it (bench/mutation.py). A parser
is the first thing a user's mistake meets; the message and the fix it prints are the product, so each case
here compares both whole, and each accepted value compares everything the parser returns. Boundaries are
tried on both sides (ports 0, 1, 65535, 65536; 3 and 4 parts of a version, not 2 or 5).
"""

from __future__ import annotations

import datetime

import pytest

from octotui.spec.parsers import ParseError
from octotui.spec.parsers.accounts import Account, as_account, parse_account, parse_domain_account
from octotui.spec.parsers.errors import written
from octotui.spec.parsers.hostnames import (
    Host,
    netbios_from_host,
    parse_dns_name,
    parse_host,
    parse_netbios_name,
)
from octotui.spec.parsers.prefixes import ListenPrefix, parse_listen_prefix, parse_port
from octotui.spec.parsers.versions import GATES, OctopusVersion, parse_octopus_version
from octotui.spec.parsers.winpath import WinPath, looks_like_windows_path, parse_windows_path
from octotui.textsafe import shown


def error_of(parse: object, *args: object) -> tuple[str, str]:
    with pytest.raises(ParseError) as info:
        parse(*args)  # type: ignore[operator]
    return info.value.message, info.value.fix


# --- Octopus versions -----------------------------------------------------------------------------------------

NOT_A_VERSION = "is not an Octopus version (three numbers with dots, e.g. 2025.3.1234)"
EXACT_FIX = 'write the exact version, e.g. octopus_version = "2025.3.1234"'


@pytest.mark.parametrize(("text", "parts"), [
    ("3.0.0", (3, 0, 0)),
    ("2025.3.1234", (2025, 3, 1234)),
    ("2025.3.1234.5", (2025, 3, 1234, 5)),
    ("2025.3.123456789", (2025, 3, 123456789)),
    ("2025.03.0001", (2025, 3, 1)),
])
def test_versions(text: str, parts: tuple[int, ...]) -> None:
    version = parse_octopus_version(text)
    assert version == OctopusVersion(parts)
    assert str(version) == ".".join(str(p) for p in parts)


@pytest.mark.parametrize(("text", "message", "fix"), [
    ("1.2", f"'1.2' {NOT_A_VERSION}", EXACT_FIX),
    ("2025.3", f"'2025.3' {NOT_A_VERSION}", EXACT_FIX),
    ("1.2.3.4.5", f"'1.2.3.4.5' {NOT_A_VERSION}", EXACT_FIX),
    ("2025.3.x", f"'2025.3.x' {NOT_A_VERSION}", EXACT_FIX),
    ("2025..1", f"'2025..1' {NOT_A_VERSION}", EXACT_FIX),
    ("2025.3.1234567890", f"'2025.3.1234567890' {NOT_A_VERSION}", EXACT_FIX),
    ("\u0663.1.1", f"'\u0663.1.1' {NOT_A_VERSION}", EXACT_FIX),
    ("latest", f"'latest' {NOT_A_VERSION}; octotui installs an exact version so that a rerun installs the same one",
     EXACT_FIX),
    ("Newest", f"'Newest' {NOT_A_VERSION}; octotui installs an exact version so that a rerun installs the same one",
     EXACT_FIX),
    ("current", f"'current' {NOT_A_VERSION}; octotui installs an exact version so that a rerun installs the same "
                "one", EXACT_FIX),
    ("2.9.9", "'2.9.9' is not an Octopus Server version (they start at 3.0)",
     "check the version on the installer, e.g. Octopus.2025.3.1234-x64.msi"),
    (3, "the version must be a string, not 3", 'write it in quotes, e.g. octopus_version = "2025.3.1234"'),
    (None, "the version must be a string, not nothing", 'write it in quotes, e.g. octopus_version = "2025.3.1234"'),
])
def test_version_errors_exactly(text: object, message: str, fix: str) -> None:
    assert error_of(parse_octopus_version, text) == (message, fix)


def test_version_comparisons_and_gates() -> None:
    v = parse_octopus_version("2020.2.15")
    assert v.compare((2020, 2, 15)) == 0 and v.compare((2020, 2, 15, 0)) == 0
    assert v.compare((2020, 2, 15, 1)) == -1 and v.compare((2020, 2, 16)) == -1 and v.compare((2020, 3)) == -1
    assert v.compare((2020, 2, 14, 99)) == 1 and v.compare((2020,)) == 1 and v.compare(()) == 1
    assert v.compare(OctopusVersion((2021, 1))) == -1
    assert v.at_least((2020, 2, 15)) is True and v.at_least((2020, 2, 16)) is False
    assert v.supports("cluster_shared") is True and v.supports_cluster_shared is True
    assert parse_octopus_version("2020.2.14").supports_cluster_shared is False
    assert parse_octopus_version("2020.2.14").supports("imports_folder") is False
    assert parse_octopus_version("2021.1.0").supports("imports_folder") is True
    assert str(GATES["database_upgrade"]) == "3.13.9"


# --- ports and listen prefixes --------------------------------------------------------------------------------


@pytest.mark.parametrize("port", [1, 80, 65535])
def test_ports(port: int) -> None:
    assert parse_port(port, "comms port") == port


@pytest.mark.parametrize(("value", "message", "fix"), [
    (0, "the comms port 0 is outside 1-65535", "use a TCP port between 1 and 65535"),
    (-1, "the comms port -1 is outside 1-65535", "use a TCP port between 1 and 65535"),
    (65536, "the comms port 65536 is outside 1-65535", "use a TCP port between 1 and 65535"),
    ("80", "the comms port must be a whole number from 1 to 65535, not '80'", "write the number without quotes: 80"),
    (" 80 ", "the comms port must be a whole number from 1 to 65535, not ' 80 '",
     "write the number without quotes: 80"),
    ("x", "the comms port must be a whole number from 1 to 65535, not 'x'", "write a number between 1 and 65535"),
    (True, "the comms port must be a whole number from 1 to 65535, not true", "write a number between 1 and 65535"),
    (8.0, "the comms port must be a whole number from 1 to 65535, not 8.0", "write a number between 1 and 65535"),
])
def test_port_errors_exactly(value: object, message: str, fix: str) -> None:
    assert error_of(parse_port, value, "comms port") == (message, fix)


def test_port_default_name() -> None:
    assert error_of(parse_port, 0) == ("the port 0 is outside 1-65535", "use a TCP port between 1 and 65535")


@pytest.mark.parametrize(("text", "prefix", "canonical", "key"), [
    ("http://+:80/", ListenPrefix("http", "+", "strong", 80, "/"), "http://+:80/", "http://+:80/"),
    ("https://*", ListenPrefix("https", "*", "weak", 443, "/"), "https://*:443/", "https://*:443/"),
    ("http://+", ListenPrefix("http", "+", "strong", 80, "/"), "http://+:80/", "http://+:80/"),
    ("HTTP://Octo.Corp:8080/octo", ListenPrefix("http", "Octo.Corp", "dns", 8080, "/octo/"),
     "http://Octo.Corp:8080/octo/", "http://octo.corp:8080/octo/"),
    ("HTTPS://+:1/", ListenPrefix("https", "+", "strong", 1, "/"), "https://+:1/", "https://+:1/"),
    ("http://[::1]/", ListenPrefix("http", "::1", "ipv6", 80, "/"), "http://[::1]:80/", "http://[::1]:80/"),
    ("http://[FE80::1]:81/x/y/", ListenPrefix("http", "fe80::1", "ipv6", 81, "/x/y/"), "http://[fe80::1]:81/x/y/",
     "http://[fe80::1]:81/x/y/"),
    ("http://10.0.0.1:65535", ListenPrefix("http", "10.0.0.1", "ipv4", 65535, "/"), "http://10.0.0.1:65535/",
     "http://10.0.0.1:65535/"),
    ("http://+/a%20b", ListenPrefix("http", "+", "strong", 80, "/a%20b/"), "http://+:80/a%20b/",
     "http://+:80/a%20b/"),
    ("http://+/%2F%2f/", ListenPrefix("http", "+", "strong", 80, "/%2F%2f/"), "http://+:80/%2F%2f/",
     "http://+:80/%2f%2f/"),
    # A %-escape at the very end of the path, before the slash is added.
    ("http://+/a%20", ListenPrefix("http", "+", "strong", 80, "/a%20/"), "http://+:80/a%20/", "http://+:80/a%20/"),
])
def test_listen_prefixes_exactly(text: str, prefix: ListenPrefix, canonical: str, key: str) -> None:
    parsed = parse_listen_prefix(text)
    assert parsed == prefix
    assert (str(parsed), parsed.key, parsed.is_https) == (canonical, key, prefix.scheme == "https")
    assert parsed.url_host == (f"[{prefix.host}]" if prefix.host_kind == "ipv6" else prefix.host)


LIKE = "write it like http://+:80/"


@pytest.mark.parametrize(("text", "message", "fix"), [
    ("", "the listen prefix is empty", LIKE),
    (None, "the listen prefix is empty", LIKE),
    ("http://+:0/", "the port of the listen prefix 0 is outside 1-65535", "use a TCP port between 1 and 65535"),
    ("http://+:65536/", "the port of the listen prefix 65536 is outside 1-65535",
     "use a TCP port between 1 and 65535"),
    ("http://+:x/", "'http://+:x/': the port 'x' is not a number", "write it like http://+:8080/"),
    ("http://+:/", "'http://+:/': the port '' is not a number", "write it like http://+:8080/"),
    ("http://+:\u0663/", "'http://+:\u0663/': the port '\u0663' is not a number", "write it like http://+:8080/"),
    ("http://[::1", "'http://[::1': the IPv6 address has no closing ']'", "write it like http://[::1]:80/"),
    ("http://[::1]x/", "'http://[::1]x/': unexpected text after the IPv6 address", "write it like http://[::1]:80/"),
    ("http://[::1]:/", "'http://[::1]:/': the port '' is not a number", "write it like http://+:8080/"),
    ("http://a::b/", "'http://a::b/': an IPv6 address must be in brackets", "write it like http://[fe80::1]:80/"),
    ("http://+a/", "'http://+a/': '+' is a wildcard and must stand alone as the host",
     "write http://+:80/ or name the host"),
    ("http://*.corp/", "'http://*.corp/': '*' is a wildcard and must stand alone as the host",
     "write http://+:80/ or name the host"),
    ("ftp://+/", "'ftp://+/': the scheme must be http or https, not 'ftp'", "use http:// or https://"),
    ("+:80/", "'+:80/' has no scheme", LIKE),
    ("octo.corp/x/", "'octo.corp/x/' has no scheme", "write it like http://octo.corp/x/"),
    ("OCTOX", "'OCTOX' has no scheme", "write it like http://OCTOX/"),
    (" http://+/", "' http://+/' contains spaces or control characters", LIKE),
    ("http:// +/", "'http:// +/' contains spaces or control characters", LIKE),
    # DEL and the C1 controls are control characters too (they once passed, and printed invisibly).
    ("http://+/\x7f", "'http://+/\\x7f' contains spaces or control characters", LIKE),
    ("http://+/\x9f", "'http://+/\\x9f' contains spaces or control characters", LIKE),
    ("http://+:80/,https://+:443/", "'http://+:80/,https://+:443/' holds more than one prefix",
     'list each prefix on its own: listen_prefixes = ["http://+:80/", "https://+:443/"]'),
    ("http://+/a;b", "'http://+/a;b' holds more than one prefix",
     'list each prefix on its own: listen_prefixes = ["http://+:80/", "https://+:443/"]'),
    ("http://+/?q", "'http://+/?q' has a query string or fragment, which HTTP.sys does not accept",
     "remove everything from ? or #"),
    ("http://+/#f", "'http://+/#f' has a query string or fragment, which HTTP.sys does not accept",
     "remove everything from ? or #"),
    ("http://u@h/", "'http://u@h/' holds user information before the host", "remove the user@ part"),
    ("http://", "'http://' has no host", "write it like http://+:80/ (+ means every host name)"),
    ("http:///x", "'http:///x' has no host", "write it like http://+:80/ (+ means every host name)"),
    ("http://+/a\\b", "'http://+/a\\b': the path contains a backslash or a bad %-escape", "use / in the path"),
    ("http://+/a%2", "'http://+/a%2': the path contains a backslash or a bad %-escape", "use / in the path"),
    ("http://+/a%zz", "'http://+/a%zz': the path contains a backslash or a bad %-escape", "use / in the path"),
    ("http://+/a%20%g0", "'http://+/a%20%g0': the path contains a backslash or a bad %-escape", "use / in the path"),
    ("http://+/a%zz%20", "'http://+/a%zz%20': the path contains a backslash or a bad %-escape", "use / in the path"),
    ("http://+/%20%zz%20", "'http://+/%20%zz%20': the path contains a backslash or a bad %-escape",
     "use / in the path"),
    ("http://+/a%XX", "'http://+/a%XX': the path contains a backslash or a bad %-escape", "use / in the path"),
    ("http://+/a//b", "'http://+/a//b': the path has an empty segment (//)", "remove the extra slash"),
    ("http://+/a://b", "'http://+/a://b': the path has an empty segment (//)", "remove the extra slash"),
    ("http://[::1]]/", "'http://[::1]]/': unexpected text after the IPv6 address", "write it like http://[::1]:80/"),
    ("http://-bad/", "'http://-bad/': the host is not valid: the label '-bad' in '-bad' starts or ends with a hyphen",
     "a hyphen may only stand between letters or digits"),
])
def test_listen_prefix_errors_exactly(text: str, message: str, fix: str) -> None:
    assert error_of(parse_listen_prefix, text) == (message, fix)


def test_user_information_only_counts_before_the_path() -> None:
    assert str(parse_listen_prefix("http://+/me@home/")) == "http://+:80/me@home/"


# --- host names -----------------------------------------------------------------------------------------------

EMPTY_LABEL_FIX = "write the name without empty parts, e.g. octo1.example.com"
HYPHEN_FIX = "a hyphen may only stand between letters or digits"
LABEL_63 = "a" * 63
NAME_253 = ".".join([LABEL_63] * 3 + ["a" * 61])


@pytest.mark.parametrize(("text", "name"), [
    ("a.", "a"),
    ("A-B.Example.COM.", "A-B.Example.COM"),
    ("1.a", "1.a"),
    ("a1.b2", "a1.b2"),
    (LABEL_63, LABEL_63),
    (NAME_253, NAME_253),
    (NAME_253 + ".", NAME_253),
])
def test_dns_names(text: str, name: str) -> None:
    assert parse_dns_name(text) == name


@pytest.mark.parametrize(("text", "message", "fix"), [
    ("", "the host name is empty", "give the node's DNS name, e.g. octo1.example.com"),
    (None, "the host name is empty", "give the node's DNS name, e.g. octo1.example.com"),
    (" a", "' a' has leading or trailing spaces", "remove the spaces"),
    ("a\t", "'a\\t' has leading or trailing spaces", "remove the spaces"),
    (".", "'.' has an empty label (two dots in a row, or a leading dot)", EMPTY_LABEL_FIX),
    ("a..b", "'a..b' has an empty label (two dots in a row, or a leading dot)", EMPTY_LABEL_FIX),
    (".a", "'.a' has an empty label (two dots in a row, or a leading dot)", EMPTY_LABEL_FIX),
    ("a" * 64, f"the label '{'a' * 20}...' in '{'a' * 64}' is 64 characters long; DNS allows at most 63",
     "shorten that part of the name"),
    (NAME_253 + "a", "the host name is 254 characters long; DNS allows at most 253", "use a shorter name"),
    ("a_b", "'a_b' contains '_', which a DNS host name cannot",
     "use only letters, digits and hyphens (an underscore is not allowed in a host name)"),
    ("\u00e9.com", "'\u00e9.com' contains '\u00e9', which a DNS host name cannot",
     "use only letters, digits and hyphens; write an internationalised name in its xn-- (punycode) form"),
    ("b_a_\u00e9", "'b_a_\u00e9' contains '_' '\u00e9', which a DNS host name cannot",
     "use only letters, digits and hyphens (an underscore is not allowed in a host name); write an "
     "internationalised name in its xn-- (punycode) form"),
    ("a b", "'a b' contains ' ', which a DNS host name cannot", "use only letters, digits and hyphens"),
    ("a\x7f", "'a\\x7f' contains '\\x7f', which a DNS host name cannot", "use only letters, digits and hyphens"),
    ("a\x80", "'a\\x80' contains '\\x80', which a DNS host name cannot",
     "use only letters, digits and hyphens; write an internationalised name in its xn-- (punycode) form"),
    ("a.b.1", "'a.b.1' is neither an IPv4 address nor a host name (its last label is all digits)",
     "write a full IPv4 address (four numbers 0-255) or a DNS name"),
    ("-a", "the label '-a' in '-a' starts or ends with a hyphen", HYPHEN_FIX),
    ("x.a-", "the label 'a-' in 'x.a-' starts or ends with a hyphen", HYPHEN_FIX),
    ("a.1", "'a.1' is neither an IPv4 address nor a host name (its last label is all digits)",
     "write a full IPv4 address (four numbers 0-255) or a DNS name"),
    ("123", "'123' is all digits: not a host name", "write the computer's name or its IP address"),
    ("123.", "'123.' is all digits: not a host name", "write the computer's name or its IP address"),
])
def test_dns_name_errors_exactly(text: str, message: str, fix: str) -> None:
    assert error_of(parse_dns_name, text) == (message, fix)


@pytest.mark.parametrize(("text", "host", "is_ip", "url_host", "key"), [
    ("10.0.0.1", Host("ipv4", "10.0.0.1"), True, "10.0.0.1", "10.0.0.1"),
    ("[::1]", Host("ipv6", "::1"), True, "[::1]", "::1"),
    ("FE80::A", Host("ipv6", "fe80::a"), True, "[fe80::a]", "fe80::a"),
    ("::FFFF:1.2.3.4", Host("ipv6", "::ffff:102:304"), True, "[::ffff:102:304]", "::ffff:102:304"),
    ("Octo1.Corp", Host("dns", "Octo1.Corp"), False, "Octo1.Corp", "octo1.corp"),
])
def test_hosts_exactly(text: str, host: Host, is_ip: bool, url_host: str, key: str) -> None:
    parsed = parse_host(text)
    assert (parsed, parsed.is_ip, parsed.url_host, parsed.key, str(parsed)) == (host, is_ip, url_host, key,
                                                                                host.value)


@pytest.mark.parametrize(("text", "message", "fix"), [
    ("", "the host is empty", "give the node's DNS name or IP address"),
    (None, "the host is empty", "give the node's DNS name or IP address"),
    ("[10.0.0.1]", "'[10.0.0.1]': brackets are for IPv6 addresses only", "remove the brackets"),
    ("[bad]", "'[bad]' is not a valid IPv6 address", "write it like [fe80::1] or without brackets"),
    ("[::1", "'[::1' is not a valid IPv6 address", "write it like [fe80::1] or without brackets"),
    ("http://x", "'http://x' is not a host name (it contains a slash)",
     "give only the host, e.g. octo1.example.com; a full URL goes in 'endpoint'"),
    ("a\\b", "'a\\b' is not a host name (it contains a slash)",
     "give only the host, e.g. octo1.example.com; a full URL goes in 'endpoint'"),
    ("a:80", "'a:80' contains ':' but is not an IPv6 address",
     "give the host alone; put a port in the [winrm] port key or the endpoint URL"),
    ("1.2.3", "'1.2.3' is neither an IPv4 address nor a host name (its last label is all digits)",
     "write a full IPv4 address (four numbers 0-255) or a DNS name"),
])
def test_host_errors_exactly(text: str, message: str, fix: str) -> None:
    assert error_of(parse_host, text) == (message, fix)


@pytest.mark.parametrize("text", ["OCTO1", "a" * 15, "a1-b"])
def test_netbios_names(text: str) -> None:
    assert parse_netbios_name(text) == text


@pytest.mark.parametrize(("text", "message", "fix"), [
    ("", "the name is empty", "give the computer name, e.g. OCTO1"),
    (None, "the name is empty", "give the computer name, e.g. OCTO1"),
    ("octo1.corp.lab", "'octo1.corp.lab' contains a dot; a computer name is one label",
     "write only the first part, e.g. 'octo1'"),
    ("a" * 16, f"'{'a' * 16}' is 16 characters long; a Windows computer name has at most 15",
     f"shorten it, e.g. '{'a' * 15}'"),
    ("a" * 14 + "-xy", f"'{'a' * 14}-xy' is 17 characters long; a Windows computer name has at most 15",
     f"shorten it, e.g. '{'a' * 14}'"),
    ("12345", "'12345' is all digits; Windows does not allow that for a computer name", "add a letter"),
    ("OCTOPUSSERVERXX1", "'OCTOPUSSERVERXX1' is 16 characters long; a Windows computer name has at most 15",
     "shorten it, e.g. 'OCTOPUSSERVERXX'"),
    ("-x", "the label '-x' in '-x' starts or ends with a hyphen", HYPHEN_FIX),
    ("a_b", "'a_b' contains '_', which a DNS host name cannot",
     "use only letters, digits and hyphens (an underscore is not allowed in a host name)"),
])
def test_netbios_name_errors_exactly(text: str, message: str, fix: str) -> None:
    assert error_of(parse_netbios_name, text) == (message, fix)


@pytest.mark.parametrize(("text", "netbios"), [
    ("octo1.corp", "OCTO1"),
    ("Octo1", "OCTO1"),
    ("10.0.0.1", None),
    ("[::1]", None),
    ("a" * 20 + ".x", "A" * 15),
    ("a" * 14 + "-b.x", "A" * 14),
    ("123.x", None),
    ("xn--bcher-kva.example", "XN--BCHER-KVA"),
    ("OCTOPUSSERVERXX1.corp", "OCTOPUSSERVERXX"),
])
def test_netbios_from_host(text: str, netbios: str | None) -> None:
    assert netbios_from_host(parse_host(text)) == netbios


# --- the error type ---------------------------------------------------------------------------------------------


def test_parse_error_text() -> None:
    assert str(ParseError("it is wrong", "write it right")) == "it is wrong (write it right)"
    assert str(ParseError("it is wrong")) == "it is wrong"
    assert ParseError("it is wrong").fix == ""
    error = ParseError("bad\x1b[31m", "fix\x07")
    assert (error.message, error.fix) == ("bad\\x1b[31m", "fix\\x07")
    assert error.args == ("bad\\x1b[31m",)


@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (False, "false"), ("ten", "'ten'"), ("a\nb", "'a\\nb'"), (3, "3"), (1.5, "1.5"),
    ([1], "a list"), ((1,), "a list"), ({"a": 1}, "a table"), (datetime.date(2025, 1, 2), "a date or time"),
    (datetime.time(1, 2), "a date or time"), (datetime.datetime(2025, 1, 2), "a date or time"), (None, "nothing"),
    (object(), "a value of another kind"), (b"x", "a value of another kind"),
])
def test_written(value: object, text: str) -> None:
    assert written(value) == text


# --- accounts ---------------------------------------------------------------------------------------------------

SAM_FIX = 'remove " / \\ [ ] : ; | = , + * ? < > @'
ONE_FORM = "write it as DOMAIN\\user or user@domain.tld"


@pytest.mark.parametrize(("text", "kwargs", "account", "written_as", "key"), [
    ("corp.example.com\\u", {}, Account("downlevel", "u", "corp.example.com"), "corp.example.com\\u",
     "corp.example.com\\u"),
    ("corp.example.com.\\u", {}, Account("downlevel", "u", "corp.example.com"), "corp.example.com\\u",
     "corp.example.com\\u"),
    ("ABCDEFGHIJKLMNO\\u", {}, Account("downlevel", "u", "ABCDEFGHIJKLMNO"), "ABCDEFGHIJKLMNO\\u",
     "abcdefghijklmno\\u"),
    ("CORP\\" + "g" * 15 + "$", {}, Account("downlevel", "g" * 15 + "$", "CORP"), "CORP\\" + "g" * 15 + "$",
     "corp\\" + "g" * 15 + "$"),
    ("CORP\\" + "u" * 20, {}, Account("downlevel", "u" * 20, "CORP"), "CORP\\" + "u" * 20, "corp\\" + "u" * 20),
    ("CORP\\a b", {}, Account("downlevel", "a b", "CORP"), "CORP\\a b", "corp\\a b"),
    ("u" * 64 + "@corp.com", {}, Account("upn", "u" * 64, "corp.com"), "u" * 64 + "@corp.com",
     "u" * 64 + "@corp.com"),
    ("User@Corp.Example.COM.", {}, Account("upn", "User", "Corp.Example.COM"), "User@Corp.Example.COM",
     "user@corp.example.com"),
    (".\\svc", {"allow_local": True}, Account("local", "svc", "."), ".\\svc", ".\\svc"),
    ("Svc", {"allow_local": True}, Account("local", "Svc", None), "Svc", "svc"),
    ("NT AUTHORITY\\SYSTEM", {"allow_builtin": True}, Account("downlevel", "SYSTEM", "NT AUTHORITY"),
     "NT AUTHORITY\\SYSTEM", "nt authority\\system"),
])
def test_accounts_exactly(text: str, kwargs: dict[str, bool], account: Account, written_as: str, key: str) -> None:
    parsed = parse_account(text, **kwargs)
    assert parsed == account
    assert (str(parsed), parsed.key) == (written_as, key)
    assert parsed.is_gmsa is account.name.endswith("$")
    assert parsed.is_domain_account is (account.form != "local")
    assert parsed.netbios_domain == (account.domain if account.form == "downlevel" else None)
    assert parsed.upn_suffix == (account.domain if account.form == "upn" else None)


@pytest.mark.parametrize(("text", "kwargs", "message", "fix"), [
    ("", {}, "the account name is empty", "write it as DOMAIN\\user"),
    (None, {}, "the account name is empty", "write it as DOMAIN\\user"),
    (" a\\b", {}, "' a\\b' has leading or trailing spaces", "remove the spaces"),
    ("svc ", {"allow_local": True}, "'svc ' has leading or trailing spaces", "remove the spaces"),
    ("CORP/user", {}, "'CORP/user' uses a forward slash", "write it with a backslash: CORP\\user"),
    ("a\\b\\c", {}, "'a\\b\\c' has more than one backslash",
     "write it as DOMAIN\\user (one backslash; in TOML write it as 'DOMAIN\\user' in single quotes or "
     "\"DOMAIN\\\\user\")"),
    ("CORP\\u@x.com", {}, "'CORP\\u@x.com' mixes DOMAIN\\user and user@domain", "write one form or the other"),
    (".\\svc", {}, "'.\\svc' is a local account; a domain account is needed here", ONE_FORM),
    (".\\", {"allow_local": True}, "'.\\' has no user name", ONE_FORM),
    ("CORP\\", {}, "'CORP\\' has no user name", ONE_FORM),
    ("\\user", {}, "'\\user' has an empty domain before the backslash", "write it as DOMAIN\\user"),
    ("nt authority\\system", {}, "'nt authority\\system' is a built-in Windows account; it cannot sign in to SQL "
                                 "Server or the share as itself from every node",
     "use a domain account or a gMSA (DOMAIN\\name$)"),
    ("IIS APPPOOL\\x", {}, "'IIS APPPOOL\\x' is a built-in Windows account; it cannot sign in to SQL Server or the "
                           "share as itself from every node", "use a domain account or a gMSA (DOMAIN\\name$)"),
    ("NT AUTHORITY\\a[b", {"allow_builtin": True},
     "'NT AUTHORITY\\a[b': the user name 'a[b' contains '[', which Active Directory does not allow in an account "
     "name", SAM_FIX),
    ("corp..com\\u", {}, "'corp..com\\u': the domain 'corp..com' is not a valid DNS name: 'corp..com' has an empty "
                         "label (two dots in a row, or a leading dot)",
     "write the name without empty parts, e.g. octo1.example.com"),
    ("CO RP\\u", {}, "'CO RP\\u': the domain 'CO RP' contains ' '", "write the domain's NetBIOS name, e.g. CORP\\user"),
    ("C~O*RP\\u", {}, "'C~O*RP\\u': the domain 'C~O*RP' contains '*' '~'",
     "write the domain's NetBIOS name, e.g. CORP\\user"),
    ("CO\x01RP\\u", {}, "'CO\\x01RP\\u': the domain 'CO\\x01RP' contains '\\x01'",
     "write the domain's NetBIOS name, e.g. CORP\\user"),
    ("ABCDEFGHIJKLMNOP\\u", {}, "'ABCDEFGHIJKLMNOP\\u': the NetBIOS domain name 'ABCDEFGHIJKLMNOP' is longer than 15 "
                                "characters",
     "write the domain's NetBIOS name (as 'echo %USERDOMAIN%' shows it) or use user@dns.domain"),
    ("CORP\\a[b", {}, "'CORP\\a[b': the user name 'a[b' contains '[', which Active Directory does not allow in an "
                      "account name", SAM_FIX),
    # A slash with a backslash or an '@' is not the forward-slash mistake: it is a character the name cannot hold.
    ("CORP\\a/b", {}, "'CORP\\a/b': the user name 'a/b' contains '/', which Active Directory does not allow in an "
                      "account name", SAM_FIX),
    ("u/x@corp.com", {}, "'u/x@corp.com': the user part 'u/x' contains '/'",
     "check the account's user principal name in Active Directory"),
    ("CORP\\a]b=c", {}, "'CORP\\a]b=c': the user name 'a]b=c' contains '=' ']', which Active Directory does not "
                        "allow in an account name", SAM_FIX),
    ("CORP\\a\x01b", {}, "'CORP\\a\\x01b': the user name 'a\\x01b' contains U+0001, which Active Directory does not "
                         "allow in an account name", SAM_FIX),
    ("CORP\\a\x1fb", {}, "'CORP\\a\\x1fb': the user name 'a\\x1fb' contains U+001F, which Active Directory does "
                         "not allow in an account name", SAM_FIX),
    ("CORP\\ a", {}, "'CORP\\ a': the user name has leading or trailing spaces", "remove the spaces"),
    ("CORP\\..", {}, "'CORP\\..': a user name cannot be only dots and spaces", "give the real account name"),
    ("CORP\\. .", {}, "'CORP\\. .': a user name cannot be only dots and spaces", "give the real account name"),
    ("CORP\\a.", {}, "'CORP\\a.': a user name cannot end with a dot", "remove the trailing dot"),
    ("CORP\\" + "g" * 16 + "$", {}, f"'CORP\\{'g' * 16}$': a managed service account name has at most 15 characters "
                                    "before the '$' (this one has 16)",
     "use the account's real sAMAccountName, as Get-ADServiceAccount shows it"),
    ("CORP\\" + "u" * 21, {}, f"'CORP\\{'u' * 21}': the user name is 21 characters long; a sAMAccountName has at "
                              "most 20", "use the pre-Windows 2000 logon name (sAMAccountName), or the UPN "
                                         "user@domain.tld"),
    ("@corp.com", {}, "'@corp.com' has no user name before '@'", "write it as user@domain.tld"),
    ("a@b@corp.com", {}, "'a@b@corp.com' has more than one '@'", "write it as user@domain.tld"),
    ("u@corp", {}, "'u@corp': a user principal name ends in a DNS domain with a dot",
     "write it as user@corp.example.com, or as DOMAIN\\user"),
    ("u@-bad.com", {}, "'u@-bad.com': the part after '@' is not a DNS domain: the label '-bad' in '-bad.com' starts "
                       "or ends with a hyphen", "a hyphen may only stand between letters or digits"),
    ("g$@corp.com", {}, "'g$@corp.com' looks like a managed service account in UPN form",
     "write a gMSA as DOMAIN\\name$"),
    ("a b@corp.com", {}, "'a b@corp.com': the user part 'a b' contains ' '",
     "check the account's user principal name in Active Directory"),
    ("a[b\x01@corp.com", {}, "'a[b\\x01@corp.com': the user part 'a[b\\x01' contains '\\x01' '['",
     "check the account's user principal name in Active Directory"),
    ("u" * 65 + "@corp.com", {}, f"'{'u' * 65}@corp.com': the user part is longer than 64 characters",
     "check the account's UPN"),
    ("svc", {}, "'svc' has no domain", "write it as DOMAIN\\svc or svc@domain.tld"),
    ("a[b", {"allow_local": True}, "'a[b': the user name 'a[b' contains '[', which Active Directory does not allow "
                                   "in an account name", SAM_FIX),
])
def test_account_errors_exactly(text: str, kwargs: dict[str, bool], message: str, fix: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_account(text, **kwargs)
    assert (info.value.message, info.value.fix) == (message, fix)


def test_domain_accounts_and_as_account() -> None:
    with pytest.raises(ParseError) as info:
        parse_domain_account("svc")
    assert info.value.message == "'svc' has no domain"
    assert parse_domain_account("CORP\\svc") == Account("downlevel", "svc", "CORP")
    parsed = Account("local", "svc", None)
    assert as_account(parsed) is parsed
    assert as_account(" CORP\\x ") == Account("downlevel", "x", "CORP")
    assert as_account(".\\x") == Account("local", "x", ".")
    with pytest.raises(ParseError) as info:
        as_account(".\\x", allow_local=False)
    assert info.value.message == "'.\\x' is a local account; a domain account is needed here"


# --- Windows paths ----------------------------------------------------------------------------------------------

ABSOLUTE_FIX = "give an absolute path such as C:\\Octopus"
UNC_FIX = "write it as \\\\server\\share\\folder"
DEVICE_FIX = "write a plain path such as C:\\Octopus or \\\\server\\share"
COMPONENT_FIX = 'remove the characters < > : " | ? * and control characters'
SHARE_FIX = "share names cannot contain \" / \\ [ ] : | < > + = ; , ? * or control characters"


@pytest.mark.parametrize(("text", "path", "canonical", "root"), [
    ("c:/a/b/", WinPath("drive", ("a", "b"), drive="C"), "C:\\a\\b", "C:\\"),
    ("C:\\", WinPath("drive", (), drive="C"), "C:\\", "C:\\"),
    ("z:\\console\\nul1\\com0", WinPath("drive", ("console", "nul1", "com0"), drive="Z"), "Z:\\console\\nul1\\com0",
     "Z:\\"),
    ("C:\\CONX\\auxx.txt", WinPath("drive", ("CONX", "auxx.txt"), drive="C"), "C:\\CONX\\auxx.txt", "C:\\"),
    ("\\\\Srv.Corp\\Share\\A\\\\b\\", WinPath("unc", ("A", "b"), server="Srv.Corp", share="Share"),
     "\\\\Srv.Corp\\Share\\A\\b", "\\\\Srv.Corp\\Share"),
    ("//10.0.0.1/s", WinPath("unc", (), server="10.0.0.1", share="s"), "\\\\10.0.0.1\\s", "\\\\10.0.0.1\\s"),
    ("\\\\srv\\" + "s" * 80, WinPath("unc", (), server="srv", share="s" * 80), "\\\\srv\\" + "s" * 80,
     "\\\\srv\\" + "s" * 80),
    ("C:\\" + "a" * 255, WinPath("drive", ("a" * 255,), drive="C"), "C:\\" + "a" * 255, "C:\\"),
    ("C:\\" + "a" * 200 + "\\" + "b" * 55, WinPath("drive", ("a" * 200, "b" * 55), drive="C"),
     "C:\\" + "a" * 200 + "\\" + "b" * 55, "C:\\"),
])
def test_windows_paths_exactly(text: str, path: WinPath, canonical: str, root: str) -> None:
    parsed = parse_windows_path(text)
    assert parsed == path
    assert (str(parsed), parsed.key, parsed.root) == (canonical, canonical.lower(), root)
    assert parsed.is_unc is (path.kind == "unc")
    assert parsed.is_drive_root is (path.kind == "drive" and not path.parts)
    assert looks_like_windows_path(text) is True


@pytest.mark.parametrize(("text", "kwargs", "message", "fix"), [
    ("", {}, "the path is empty", ABSOLUTE_FIX),
    (None, {}, "the path is empty", ABSOLUTE_FIX),
    (" C:\\x", {}, "' C:\\x' has leading or trailing spaces", "remove the spaces"),
    ("C:\\a\x01b", {}, "the path contains a control character (U+0001)", "remove it"),
    ("C:\\a\x1fb", {}, "the path contains a control character (U+001F)", "remove it"),
    ("C:\\a\x7fb", {}, "the path contains a control character (U+007F)", "remove it"),
    ("\\\\?\\C:\\x", {}, "'\\\\?\\C:\\x' is a device or verbatim (\\\\?\\ or \\\\.\\) path", DEVICE_FIX),
    ("//./pipe/x", {}, "'//./pipe/x' is a device or verbatim (\\\\?\\ or \\\\.\\) path", DEVICE_FIX),
    ("\\??\\C:\\x", {}, "'\\??\\C:\\x' is a device or verbatim (\\\\?\\ or \\\\.\\) path", DEVICE_FIX),
    ("\\\\srv\\share", {"allow_unc": False},
     "'\\\\srv\\share' is a network (UNC) path; this must be a local path on the node",
     "use a folder on one of the node's own disks, e.g. C:\\Octopus"),
    ("\\\\", {}, "'\\\\' has no server name after \\\\", UNC_FIX),
    ("\\\\\\s", {}, "'\\\\\\s' has no server name after \\\\", UNC_FIX),
    ("\\\\srv", {}, "'\\\\srv' names a server but no share", UNC_FIX),
    ("\\\\srv\\", {}, "'\\\\srv\\' names a server but no share", UNC_FIX),
    ("\\\\bad_name\\s", {}, "'\\\\bad_name\\s': the server 'bad_name' is not a valid host: 'bad_name' contains '_', "
                            "which a DNS host name cannot",
     "use only letters, digits and hyphens (an underscore is not allowed in a host name)"),
    ("\\\\[::1]\\s", {}, "'\\\\[::1]\\s': an IPv6 address cannot stand in a UNC path as it is",
     "use the server's name (or the ipv6-literal.net form)"),
    ("\\\\srv\\s[x]", {}, "'\\\\srv\\s[x]': the share name 's[x]' contains '[' ']'", SHARE_FIX),
    ("\\\\srv\\" + "s" * 81, {}, f"'\\\\srv\\{'s' * 81}': the share name has 81 characters; Windows allows 80",
     "use a shorter share name"),
    ("\\\\srv\\s.", {}, "'\\\\srv\\s.': the share name 's.' starts or ends with a space or dot", "remove it"),
    ("\\\\srv\\s \\x", {}, "'\\\\srv\\s \\x': the share name 's ' starts or ends with a space or dot", "remove it"),
    ("\\\\srv\\ s", {}, "'\\\\srv\\ s': the share name ' s' starts or ends with a space or dot", "remove it"),
    ("C:", {}, "'C:' is relative to the current folder of drive C:", "write it from the drive root, e.g. C:\\"),
    ("c:x", {}, "'c:x' is relative to the current folder of drive C:", "write it from the drive root, e.g. C:\\x"),
    ("C:\\x", {"allow_drive": False}, "'C:\\x' is a local drive path; a network (UNC) path is needed here", UNC_FIX),
    ("\\x", {}, "'\\x' has no drive letter, so Windows would take it on the current drive",
     "write the drive too, e.g. C:\\x"),
    ("\\x", {"allow_drive": False}, "'\\x' has no drive letter, so Windows would take it on the current drive",
     "write it as \\\\server\\share"),
    ("1:\\x", {}, "'1:\\x': '1' is not a drive letter", "use a letter A-Z, e.g. C:\\Octopus"),
    ("1:", {}, "'1:': '1' is not a drive letter", "use a letter A-Z, e.g. C:\\Octopus"),
    ("\\\\srv\\s\\a<b", {}, "'\\\\srv\\s\\a<b': the name 'a<b' contains '<', which Windows does not allow in a file "
                           "or folder name", COMPONENT_FIX),
    ("x\\y", {}, "'x\\y' is a relative path; Windows would resolve it against a current folder",
     ABSOLUTE_FIX + " or \\\\server\\share"),
    ("x\\y", {"allow_unc": False}, "'x\\y' is a relative path; Windows would resolve it against a current folder",
     ABSOLUTE_FIX),
    ("C:\\a\\.\\b", {}, "'C:\\a\\.\\b' contains a '.' segment", "write the full path without '.' or '..' segments"),
    ("C:\\a\\..", {}, "'C:\\a\\..' contains a '..' segment", "write the full path without '.' or '..' segments"),
    ("C:\\a<b>", {}, "'C:\\a<b>': the name 'a<b>' contains '<' '>', which Windows does not allow in a file or folder "
                     "name", COMPONENT_FIX),
    ("C:\\a.", {}, "'C:\\a.': the name 'a.' ends with a space or a dot, which Windows silently removes",
     "remove the trailing space or dot"),
    ("C:\\a \\b", {}, "'C:\\a \\b': the name 'a ' ends with a space or a dot, which Windows silently removes",
     "remove the trailing space or dot"),
    ("C:\\ a", {}, "'C:\\ a': the name ' a' starts with a space", "remove the leading space"),
    ("C:\\con", {}, "'C:\\con': 'con' is a reserved device name on Windows (CON)",
     "choose another name for that folder or file"),
    ("C:\\Com1.txt", {}, "'C:\\Com1.txt': 'Com1.txt' is a reserved device name on Windows (COM1)",
     "choose another name for that folder or file"),
    ("C:\\lpt\u00b9", {}, "'C:\\lpt\u00b9': 'lpt\u00b9' is a reserved device name on Windows (LPT\u00b9)",
     "choose another name for that folder or file"),
    ("C:\\CON .x", {}, "'C:\\CON .x': 'CON .x' is a reserved device name on Windows (CON)",
     "choose another name for that folder or file"),
    ("C:\\conout$", {}, "'C:\\conout$': 'conout$' is a reserved device name on Windows (CONOUT$)",
     "choose another name for that folder or file"),
    ("C:\\abc", {"max_length": 5}, "'C:\\abc' is 6 characters long; Windows' MAX_PATH allows 5 here",
     "use a shorter path"),
])
def test_windows_path_errors_exactly(text: str, kwargs: dict[str, object], message: str, fix: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_windows_path(text, **kwargs)  # type: ignore[arg-type]
    assert (info.value.message, info.value.fix) == (message, fix)


def test_windows_path_length_limits() -> None:
    assert str(parse_windows_path("C:\\ab", max_length=5)) == "C:\\ab"
    long_name = "C:\\" + "a" * 256
    with pytest.raises(ParseError) as info:
        parse_windows_path(long_name, max_length=400)
    assert (info.value.message, info.value.fix) == (
        f"'{shown(long_name)}': a name is 256 characters long; Windows allows 255", "shorten it")
    with pytest.raises(ParseError) as info:
        parse_windows_path("C:\\" + "a" * 200 + "\\" + "b" * 56)
    assert info.value.message.endswith("' is 260 characters long; Windows' MAX_PATH allows 259 here")


def test_joinpath_and_is_within() -> None:
    octopus = parse_windows_path("C:\\Octopus")
    assert octopus.joinpath("a", "b") == WinPath("drive", ("Octopus", "a", "b"), drive="C")
    with pytest.raises(ParseError) as info:
        octopus.joinpath("ok", "a|b")
    assert info.value.message == ("'a|b': the name 'a|b' contains '|', which Windows does not allow in a file or "
                                  "folder name")
    with pytest.raises(ParseError) as info:
        octopus.joinpath("a\x01b")
    assert info.value.message == ("'a\\x01b': the name 'a\\x01b' contains U+0001, which Windows does not allow in a "
                                  "file or folder name")
    assert octopus.is_within(parse_windows_path("c:\\octopus")) is True
    assert parse_windows_path("C:\\Octopus\\x").is_within(octopus) is True
    assert parse_windows_path("C:\\Octopusx").is_within(octopus) is False
    assert octopus.is_within(parse_windows_path("C:\\")) is True
    assert octopus.is_within(parse_windows_path("D:\\")) is False
    share = parse_windows_path("\\\\srv\\s")
    assert parse_windows_path("\\\\SRV\\S\\x").is_within(share) is True


@pytest.mark.parametrize(("text", "looks"), [
    ("C:\\x", True), ("c:/x", True), ("\\\\s", True), ("//s", True), ("C:", True), ("x", False), ("1:\\", False),
    ("C", False), ("", False), ("\\x", False), ("/x", False),
])
def test_looks_like_windows_path(text: str, looks: bool) -> None:
    assert looks_like_windows_path(text) is looks
