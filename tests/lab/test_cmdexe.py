"""cmd.exe /c as WinRS runs it: through NodeRuntime.spawn, with real programs and the node's disk."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from octotui.lab.cmdexe import expand_percent, parse_line, strip_c_quotes, utf16_length
from octotui.lab.identity import Identity
from octotui.lab.inspect import inspect_world
from octotui.lab.programs import installers, system
from octotui.lab.runtime import NodeRuntime
from octotui.lab.settings import LabSettings
from octotui.lab.state import Account, FileServerState, NodeState, Share, StagedInstaller, World

ADMIN = Identity("WORK\\labadmin")
MARKERS = {
    "C:\\Windows\\System32\\cmd.exe": "cmd",
    "C:\\Windows\\System32\\hostname.exe": "hostname",
    "C:\\Windows\\System32\\whoami.exe": "whoami",
    "C:\\Windows\\System32\\msiexec.exe": "msiexec",
    "C:\\ProgramData\\chocolatey\\bin\\choco.exe": "choco",
    "C:\\Program Files\\Lab Tools\\whoami.exe": "whoami",
}


@dataclass
class Lab:
    world: World
    node: NodeState
    runtime: NodeRuntime

    def run(self, line: str, stdin: bytes = b"", identity: Identity = ADMIN, codepage: int = 437,
            skip_cmd_shell: bool = False, timeout: float = 10.0) -> tuple[int, str, str]:
        proc = self.runtime.spawn(line, identity, codepage=codepage, skip_cmd_shell=skip_cmd_shell)
        proc.stdin.feed(stdin, True)
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        while True:
            o, e, done, code = proc.output.drain(1 << 20, 5)
            out += o
            err += e
            if done:
                assert code is not None
                enc = "utf-8" if codepage == 65001 else "cp437"
                return code, out.decode(enc), err.decode(enc)
            assert time.monotonic() < deadline, "command did not finish"

    def read(self, path: str) -> str:
        with self.world.lock:
            return self.node.fs.read(path).decode("cp437")

    def write(self, path: str, text: str) -> None:
        with self.world.lock:
            self.node.fs.write(path, text.encode("cp437"), make_parents=True)


def make_lab() -> Lab:
    world = World()
    world.directory.accounts["labadmin"] = Account(sam="labadmin", password="pw", domain_admin=True)
    node = NodeState(name="OCTO1")
    for path, program in MARKERS.items():
        node.fs.write(path, f"#lab-program:{program}\n".encode(), make_parents=True)
    world.nodes.append(node)
    runtime = NodeRuntime(world, node, LabSettings(), {**system.PROGRAMS, **installers.PROGRAMS}, {})
    return Lab(world, node, runtime)


@pytest.fixture
def lab() -> Iterator[Lab]:
    yield make_lab()


NOT_RECOGNIZED = "is not recognized as an internal or external command,\r\noperable program or batch file."


# --- echo, expansion, escapes --------------------------------------------------------------------------

def test_echo_forms(lab: Lab) -> None:
    assert lab.run("echo hello  world") == (0, "hello  world\r\n", "")
    assert lab.run("echo.") == (0, "\r\n", "")
    assert lab.run("echo:x") == (0, "x\r\n", "")
    assert lab.run("echo") == (0, "ECHO is on.\r\n", "")
    assert lab.run("@echo off & echo") == (0, "ECHO is off.\r\n", "")
    assert lab.run('echo "a & b" ^& c ^| d ^> e') == (0, '"a & b" & c | d > e\r\n', "")


def test_percent_expansion_on_the_command_line(lab: Lab) -> None:
    assert lab.run("echo %COMPUTERNAME%")[1] == "OCTO1\r\n"
    assert lab.run("echo %computername%")[1] == "OCTO1\r\n"
    assert lab.run("echo %NOT_DEFINED% x")[1] == "%NOT_DEFINED% x\r\n"
    assert lab.run("echo %%COMPUTERNAME%%")[1] == "%OCTO1%\r\n"
    assert lab.run("echo 100% sure")[1] == "100% sure\r\n"
    assert lab.run("echo %COMPUTERNAME:~0,4%-%COMPUTERNAME:~-1%")[1] == "OCTO-1\r\n"
    assert lab.run("echo %COMPUTERNAME:octo=node%")[1] == "node1\r\n"
    assert lab.run("echo %ProgramFiles%\\Octopus Deploy")[1] == "C:\\Program Files\\Octopus Deploy\r\n"
    assert lab.run("echo %CD%")[1] == "C:\\Users\\labadmin\r\n"
    assert lab.run("echo %CMDCMDLINE%")[1] == "C:\\Windows\\System32\\cmd.exe /c echo %CMDCMDLINE%\r\n"


def test_expansion_happens_once_for_the_whole_line(lab: Lab) -> None:
    # The classic gotcha: both expansions happen before anything on the line runs.
    assert lab.run("set X=1& echo %X%")[1] == "%X%\r\n"
    code, out, err = lab.run("nosuchprogram & echo %ERRORLEVEL%")
    assert out == "0\r\n"
    assert NOT_RECOGNIZED in err
    assert code == 9009  # echo leaves ERRORLEVEL alone, and cmd /c exits with it


def test_expand_percent_unit() -> None:
    env = {"A": "x", "B": "a"}.get
    assert expand_percent("%a %B% c%", env) == "%a a c%"
    assert expand_percent("%", env) == "%"
    assert expand_percent("%A%%A%", env) == "xx"
    assert expand_percent("%A:~5%|%A:~-9,1%", env) == "|x"
    assert expand_percent("%NOPE:~0,1%", env) == "%NOPE:~0,1%"


# --- operators and pipes -------------------------------------------------------------------------------

def test_conditional_operators(lab: Lab) -> None:
    assert lab.run("hostname && echo ok") == (0, "OCTO1\r\nok\r\n", "")
    code, out, err = lab.run("nosuch && echo no || echo yes")
    assert out == "yes\r\n" and NOT_RECOGNIZED in err and code == 9009
    assert lab.run("echo a|| echo b & echo c")[1] == "a\r\nc\r\n"
    assert lab.run("exit /b 4 || echo ran")[0] == 4


def test_pipe_feeds_the_right_side(lab: Lab) -> None:
    lab.world.installers["2024.1.1"] = StagedInstaller("2024.1.1", "Octopus.2024.1.1-x64.msi", "", 10)
    code, out, _err = lab.run("echo y| choco install OctopusDeploy --version 2024.1.1 --no-progress")
    assert code == 0, out
    assert "Do you want to run the script?" in out
    assert "Chocolatey installed 1/1 packages." in out


def test_pipe_sides_run_in_child_shells(lab: Lab) -> None:
    assert lab.run("echo one | echo two") == (0, "two\r\n", "")
    assert lab.run("set LABX=1 | echo x & set LABX")[2] == "Environment variable LABX not defined\r\n"
    assert lab.run("echo x | exit /b 6")[0] == 6


# --- redirections --------------------------------------------------------------------------------------

def test_redirect_stdout_and_append(lab: Lab) -> None:
    assert lab.run("echo hi>C:\\out.txt") == (0, "", "")
    assert lab.read("C:\\out.txt") == "hi\r\n"
    lab.run("echo there >> C:\\out.txt")
    assert lab.read("C:\\out.txt") == "hi\r\nthere \r\n"  # the blank before >> is echoed
    lab.run('>"C:\\with space.txt" echo first')
    assert lab.read("C:\\with space.txt") == "first\r\n"
    lab.run("echo a2>C:\\glued.txt")  # a digit glued to a word is text, not a handle
    assert lab.read("C:\\glued.txt") == "a2\r\n"


def test_redirect_stderr_nul_and_duplicate(lab: Lab) -> None:
    code, out, err = lab.run("nosuch 2>C:\\err.txt")
    assert (code, out, err) == (9009, "", "")
    assert NOT_RECOGNIZED in lab.read("C:\\err.txt")
    assert lab.run("nosuch 2>nul") == (9009, "", "")
    assert lab.run("hostname >NUL") == (0, "", "")
    assert lab.run("nosuch > C:\\both.txt 2>&1") == (9009, "", "")
    assert lab.read("C:\\both.txt") == "'nosuch' " + NOT_RECOGNIZED + "\r\n"
    code, out, err = lab.run("nosuch 2>&1 >C:\\only-out.txt")  # order matters: stderr went to the console
    assert NOT_RECOGNIZED in out and lab.read("C:\\only-out.txt") == ""


def test_redirect_stdin_from_file(lab: Lab) -> None:
    lab.world.installers["2024.1.1"] = StagedInstaller("2024.1.1", "Octopus.2024.1.1-x64.msi", "", 10)
    lab.write("C:\\answer.txt", "a\r\n")
    code, out, _ = lab.run("choco install OctopusDeploy --version 2024.1.1 < C:\\answer.txt")
    assert code == 0, out
    assert lab.run("type < C:\\missing.txt")[2] == "The system cannot find the file specified.\r\n"


def test_redirect_into_missing_folder_leaves_errorlevel(lab: Lab) -> None:
    code, out, err = lab.run("echo hi > C:\\nope\\x.txt || echo failed")
    assert err == "The system cannot find the path specified.\r\n"
    assert out == "failed\r\n"
    assert code == 1  # Windows: || after a failed redirection sets ERRORLEVEL 1 (echo keeps it)
    assert lab.run("nosuch 2>nul & echo x > C:\\nope\\x.txt")[0] == 9009


# --- the /c quote rule and program lookup --------------------------------------------------------------

def test_c_quote_rule_keeps_a_lone_quoted_executable(lab: Lab) -> None:
    assert lab.run('"C:\\Program Files\\Lab Tools\\whoami.exe"') == (0, "work\\labadmin\r\n", "")


def test_c_quote_rule_strips_outer_quotes_otherwise(lab: Lab) -> None:
    code, _out, err = lab.run('"C:\\Program Files\\Lab Tools\\whoami.exe" "/upn"')
    assert code == 9009 and err.startswith("'C:\\Program' is not recognized")
    assert lab.run('""C:\\Program Files\\Lab Tools\\whoami.exe" /upn"') == (0, "labadmin@work.lab\r\n", "")
    assert lab.run('"hostname"') == (0, "OCTO1\r\n", "")


def test_strip_c_quotes_unit() -> None:
    def exe(name: str) -> bool:
        return name == "C:\\my prog.exe"
    assert strip_c_quotes('"C:\\my prog.exe" p > o', exe) == '"C:\\my prog.exe" p > o'
    assert strip_c_quotes('"C:\\my prog.exe" "p 1"', exe) == 'C:\\my prog.exe" "p 1'
    assert strip_c_quotes('"C:\\other prog.exe" p', exe) == "C:\\other prog.exe p"
    assert strip_c_quotes('"a&b c"', lambda _n: True) == "a&b c"
    assert strip_c_quotes('"echo x" tail', lambda _n: False) == "echo x tail"
    assert strip_c_quotes("echo x", exe) == "echo x"


def test_missing_programs(lab: Lab) -> None:
    code, out, err = lab.run("frobnicate /x")
    assert (code, out) == (9009, "") and err == "'frobnicate' " + NOT_RECOGNIZED + "\r\n"
    assert lab.run("C:\\NoSuchDir\\tool.exe a") == (3, "", "The system cannot find the path specified.\r\n")
    assert lab.run('"C:\\NoSuchDir\\tool.exe"')[0] == 3
    assert lab.run('""C:\\No Such Dir\\tool.exe" a"')[0] == 3
    assert lab.run("C:\\Windows\\nosuch.exe")[0] == 9009
    assert lab.run('"C:\\No Such Dir\\tool.exe"')[0] == 9009  # quotes stripped: cmd looks for C:\No


# --- built-ins -----------------------------------------------------------------------------------------

def test_mkdir_dir_type_del(lab: Lab) -> None:
    assert lab.run("mkdir C:\\Octopus\\logs\\deep") == (0, "", "")
    exists = "A subdirectory or file C:\\Octopus\\logs already exists.\r\n"
    assert lab.run("md C:\\Octopus\\logs")[0:3:2] == (1, exists)
    lab.write("C:\\Octopus\\logs\\a.txt", "alpha\r\n")
    code, out, _ = lab.run("dir C:\\Octopus\\logs")
    assert code == 0
    assert " Directory of C:\\Octopus\\logs" in out and "<DIR>          deep" in out
    assert "               1 File(s)              7 bytes" in out
    assert "85,899,345,920 bytes free" in out
    assert lab.run("dir /b C:\\Octopus\\logs") == (0, "a.txt\r\ndeep\r\n", "")
    assert lab.run("dir C:\\Octopus\\logs\\*.log")[0:3:2] == (1, "File Not Found\r\n")
    assert lab.run("type C:\\Octopus\\logs\\a.txt") == (0, "alpha\r\n", "")
    assert lab.run("type C:\\Octopus\\nope.txt") == (1, "", "The system cannot find the file specified.\r\n")
    assert lab.run("del C:\\Octopus\\logs\\a.txt") == (0, "", "")
    assert lab.run("del C:\\Octopus\\logs\\a.txt") == (0, "", "Could Not Find C:\\Octopus\\logs\\a.txt\r\n")


def test_cd_and_relative_paths(lab: Lab) -> None:
    assert lab.run("cd") == (0, "C:\\Users\\labadmin\r\n", "")
    lab.run("md C:\\Work\\Sub")
    assert lab.run("cd /d C:\\work & cd sub & cd & cd.. & cd")[1] == "C:\\Work\\Sub\r\nC:\\Work\r\n"
    assert lab.run("cd C:\\nowhere") == (1, "", "The system cannot find the path specified.\r\n")
    lab.run("cd C:\\Work & echo rel> file.txt")
    assert lab.read("C:\\Work\\file.txt") == "rel\r\n"


def test_set_exit_ver(lab: Lab) -> None:
    code, out, _ = lab.run("set")
    assert code == 0 and "COMPUTERNAME=OCTO1\r\n" in out and "USERNAME=labadmin\r\n" in out
    assert lab.run("set com")[1] == "COMPUTERNAME=OCTO1\r\nComSpec=C:\\Windows\\System32\\cmd.exe\r\n"
    assert lab.run("set NOPE_PREFIX") == (1, "", "Environment variable NOPE_PREFIX not defined\r\n")
    assert lab.run('set "LAB_A=x y" & set LAB_A')[1] == "LAB_A=x y\r\n"
    assert lab.run("set LAB_B=1 & set LAB_B")[1] == "LAB_B=1 \r\n"  # the blank before & is kept
    assert lab.run("exit /b 7") == (7, "", "")
    assert lab.run("echo a & exit 5 & echo b") == (5, "a \r\n", "")
    assert lab.run("ver") == (0, "\r\nMicrosoft Windows [Version 10.0.20348.2340]\r\n", "")


def test_syntax_errors_and_long_lines(lab: Lab) -> None:
    assert lab.run("& echo x") == (255, "", "& was unexpected at this time.\r\n")
    assert lab.run("echo a | | echo b")[2] == "| was unexpected at this time.\r\n"
    assert lab.run("echo a &&")[0:3:2] == (255, "The syntax of the command is incorrect.\r\n")
    assert lab.run("echo a >")[0] == 255
    assert lab.run("echo a &") == (0, "a \r\n", "")
    assert lab.run("echo " + "x" * 8200) == (1, "The command line is too long.\r\n", "")


def test_parse_line_structure() -> None:
    pipelines = parse_line('a 1>x 2>&1 | b < "in put" && c || d & e')
    assert [p.op for p in pipelines] == ["", "&&", "||", "&"]
    first = pipelines[0].commands
    assert [c.text for c in first] == ["a   ", " b  "]
    assert [(r.handle, r.op, r.target) for r in first[0].redirects] == [(1, ">", "x"), (2, ">&", "1")]
    assert [(r.handle, r.op, r.target) for r in first[1].redirects] == [(0, "<", "in put")]


# --- hostname, whoami ----------------------------------------------------------------------------------

def test_hostname_and_whoami(lab: Lab) -> None:
    assert lab.run("hostname") == (0, "OCTO1\r\n", "")
    assert lab.run("hostname -s") == (1, "", "hostname -s is not supported.\r\n")
    assert lab.run("whoami") == (0, "work\\labadmin\r\n", "")
    assert lab.run("whoami /UPN") == (0, "labadmin@work.lab\r\n", "")
    assert lab.run("WHOAMI.EXE -upn") == (0, "labadmin@work.lab\r\n", "")
    assert lab.run("whoami /fqdn") == (0, "CN=labadmin,CN=Users,DC=work,DC=lab\r\n", "")
    code, out, _ = lab.run("whoami /user")
    assert code == 0 and "work\\labadmin S-1-5-21-" in out
    assert lab.run("whoami /bogus") == (1, "", "ERROR: Invalid argument/option - '/bogus'.\r\n"
                                               'Type "WHOAMI /?" for usage.\r\n')
    system_identity = Identity("NT AUTHORITY\\SYSTEM", "service")
    code, out, err = lab.run("whoami /upn", identity=system_identity)
    assert code == 1 and "not a domain user" in err
    assert lab.run("whoami", identity=system_identity)[1] == "nt authority\\system\r\n"


def test_programs_without_the_shell(lab: Lab) -> None:
    refusal = "sethostname: Use the Network Control Panel Applet to set hostname.\r\n"
    assert lab.run("hostname & whoami", skip_cmd_shell=True) == (1, "", refusal)


def test_process_log_records_lines_and_exit_codes(lab: Lab) -> None:
    lab.run("hostname & whoami /upn & nosuch")
    log = [(r.command_line, r.exit_code, r.account) for r in lab.node.process_log]
    assert log == [
        ("C:\\Windows\\System32\\cmd.exe /c hostname & whoami /upn & nosuch", 9009, "WORK\\labadmin"),
        ("hostname", 0, "WORK\\labadmin"),
        ("whoami /upn", 0, "WORK\\labadmin"),
    ]


# --- properties ----------------------------------------------------------------------------------------

SAFE_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="%\r\n\x00"),
    min_size=1, max_size=40,
).filter(lambda t: t.strip(" \t") != "" and t.strip(" \t").lower() not in ("on", "off"))


def caret_escape(text: str) -> str:
    return "".join("^" + c if c in '^&|<>"' else c for c in text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(SAFE_TEXT)
def test_caret_escaped_echo_round_trips(lab: Lab, text: str) -> None:
    assert lab.run("echo " + caret_escape(text), codepage=65001) == (0, text + "\r\n", "")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True))
def test_undefined_variables_stay_literal(lab: Lab, name: str) -> None:
    dynamic = ("ERRORLEVEL", "CD", "DATE", "TIME", "RANDOM", "CMDCMDLINE", "CMDEXTVERSION",
               "HIGHESTNUMANODENUMBER")
    if lab.runtime.base_env(ADMIN).get(name) is not None or name.upper() in dynamic:
        return
    assert lab.run(f"echo [%{name}%]")[1] == f"[%{name}%]\r\n"


# --- UNC paths through the file server -----------------------------------------------------------------

SHARE = "\\\\127.0.0.1\\OctopusData"
DELEGATED = Identity("WORK\\labadmin", "delegated")
READER = Identity("WORK\\svcReader", "interactive")
DENIED = (1, "", "Access is denied.\r\n")


def add_share(lab: Lab, with_root: bool = True) -> Share:
    share = Share(name="OctopusData", acl={"WORK\\labadmin": "full", "WORK\\svcReader": "read"})
    if with_root:
        share.fs.makedirs(SHARE)
    lab.world.files = FileServerState(host="127.0.0.1", shares={"octopusdata": share})
    return share


def test_unc_builtins_and_redirections_use_the_share(lab: Lab) -> None:
    share = add_share(lab)
    assert lab.run(f"mkdir {SHARE}\\Logs\\deep", identity=DELEGATED) == (0, "", "")
    assert lab.run("echo hello> \\\\localhost\\octopusdata\\Logs\\f.txt", identity=DELEGATED) == (0, "", "")
    assert lab.run(f"echo more>> {SHARE}\\logs\\F.TXT", identity=DELEGATED) == (0, "", "")
    assert share.fs.read(SHARE + "\\Logs\\f.txt") == b"hello\r\nmore\r\n"
    assert share.fs.is_dir(SHARE + "\\Logs\\deep")
    assert not lab.node.fs.exists("\\\\127.0.0.1\\OctopusData\\Logs")  # nothing on the node's own disk
    assert lab.run(f"type {SHARE}\\Logs\\f.txt", identity=DELEGATED) == (0, "hello\r\nmore\r\n", "")
    code, _, err = lab.run(f"nosuch < {SHARE}\\Logs\\f.txt", identity=DELEGATED)
    assert (code, err) == (9009, "'nosuch' " + NOT_RECOGNIZED + "\r\n")  # the input redirection opened
    code, out, err = lab.run(f"dir {SHARE}\\Logs", identity=DELEGATED)
    assert (code, err) == (0, "")
    assert out.startswith(f" Volume in drive {SHARE} has no label.\r\n")
    assert f" Directory of {SHARE}\\Logs\r\n" in out
    assert "<DIR>          deep" in out and "<DIR>          ..\r\n" in out
    assert "               1 File(s)             13 bytes" in out
    assert lab.run(f"dir /b {SHARE}", identity=DELEGATED) == (0, "Logs\r\n", "")
    files = inspect_world(lab.world)["shares"][0]["files"]
    assert files == [SHARE + "\\Logs\\f.txt"]
    assert lab.run(f"del {SHARE}\\Logs\\f.txt", identity=DELEGATED) == (0, "", "")
    assert not share.fs.exists(SHARE + "\\Logs\\f.txt")
    missing = f"Could Not Find {SHARE}\\Logs\\f.txt\r\n"
    assert lab.run(f"del {SHARE}\\Logs\\f.txt", identity=DELEGATED) == (0, "", missing)
    assert lab.run(f"type {SHARE}\\Logs\\f.txt", identity=DELEGATED) == (
        1, "", "The system cannot find the file specified.\r\n")


def test_unc_share_root_is_a_folder(lab: Lab) -> None:
    share = add_share(lab, with_root=False)
    code, out, err = lab.run(f"dir {SHARE}", identity=DELEGATED)
    assert (code, err) == (0, "")
    assert f" Directory of {SHARE}\r\n" in out and "<DIR>          .\r\n" in out
    assert "               0 File(s)              0 bytes" in out
    assert lab.run(f"echo x> {SHARE}\\f.txt", identity=DELEGATED) == (0, "", "")
    assert share.fs.read(SHARE + "\\f.txt") == b"x\r\n"
    exists = f"A subdirectory or file {SHARE} already exists.\r\n"
    assert lab.run(f"mkdir {SHARE}", identity=DELEGATED) == (1, "", exists)


def test_unc_from_a_winrm_network_logon_is_the_double_hop(lab: Lab) -> None:
    share = add_share(lab)
    share.fs.write(SHARE + "\\f.txt", b"secret\r\n")
    assert lab.run(f"mkdir {SHARE}\\x") == DENIED
    assert lab.run(f"type {SHARE}\\f.txt") == DENIED
    assert lab.run(f"dir {SHARE}") == DENIED
    assert lab.run(f"del {SHARE}\\f.txt") == DENIED
    assert lab.run(f"echo x> {SHARE}\\g.txt") == (0, "", "Access is denied.\r\n")  # ERRORLEVEL left alone
    assert lab.run(f"echo x> {SHARE}\\g.txt || echo refused") == (1, "refused\r\n", "Access is denied.\r\n")
    assert sorted(share.fs.files) == [(SHARE + "\\f.txt").lower()]
    assert share.fs.read(SHARE + "\\f.txt") == b"secret\r\n"
    assert not lab.node.fs.exists(SHARE + "\\x") and not lab.node.fs.exists(SHARE + "\\g.txt")


def test_unc_follows_the_share_acl(lab: Lab) -> None:
    share = add_share(lab)
    share.fs.write(SHARE + "\\f.txt", b"data\r\n")
    assert lab.run(f"type {SHARE}\\f.txt", identity=READER) == (0, "data\r\n", "")
    assert lab.run(f"dir /b {SHARE}", identity=READER) == (0, "f.txt\r\n", "")
    assert lab.run(f"mkdir {SHARE}\\x", identity=READER) == DENIED
    assert lab.run(f"del {SHARE}\\f.txt", identity=READER) == DENIED
    assert lab.run(f"echo x>> {SHARE}\\f.txt", identity=READER)[2] == "Access is denied.\r\n"
    assert lab.run(f"nosuch < {SHARE}\\f.txt")[0:3:2] == (0, "Access is denied.\r\n")  # double hop
    assert share.fs.read(SHARE + "\\f.txt") == b"data\r\n"
    nobody = Identity("WORK\\nobody", "interactive")
    assert lab.run(f"type {SHARE}\\f.txt", identity=nobody) == DENIED


def test_unc_unknown_host_and_share(lab: Lab) -> None:
    add_share(lab)
    no_path = "The network path was not found.\r\n"
    no_name = "The network name cannot be found.\r\n"
    assert lab.run("type \\\\fileserver\\OctopusData\\f.txt", identity=DELEGATED) == (1, "", no_path)
    assert lab.run("mkdir \\\\127.0.0.1\\Nope\\x", identity=DELEGATED) == (1, "", no_name)
    assert lab.run("dir \\\\nas\\OctopusData", identity=DELEGATED) == (1, "", no_path)
    assert lab.run("echo x> \\\\127.0.0.1\\Nope\\f.txt", identity=DELEGATED) == (0, "", no_name)
    code, _, err = lab.run(f"echo x> {SHARE}\\NoFolder\\f.txt || echo no", identity=DELEGATED)
    assert (code, err) == (1, "The system cannot find the path specified.\r\n")


def test_cd_refuses_unc(lab: Lab) -> None:
    add_share(lab)
    refusal = "CMD does not support UNC paths as current directories.\r\n"
    assert lab.run(f"cd /d {SHARE} & cd", identity=DELEGATED) == (1, "C:\\Users\\labadmin\r\n", refusal)


# --- failed redirections, empty folders, the line limit --------------------------------------------------

def test_failed_redirection_skips_the_command_and_leaves_errorlevel(lab: Lab) -> None:
    assert lab.run("hostname > C:\\nope\\x.txt") == (0, "", "The system cannot find the path specified.\r\n")
    assert [r.command_line for r in lab.node.process_log][-1].endswith("cmd.exe /c hostname > C:\\nope\\x.txt")
    assert lab.run("echo x> C:\\nope\\x.txt && echo ok || echo failed")[0:2] == (1, "failed\r\n")
    assert lab.run("echo x> C:\\nope\\x.txt && echo ok")[0] == 0  # only || sets it
    assert lab.run("nosuch 2>nul & echo x > C:\\nope\\x.txt || echo failed")[0] == 1
    assert lab.run("type < C:\\missing.txt || echo f")[0:2] == (1, "f\r\n")
    assert lab.run("echo x> C:\\nope\\x.txt || exit /b 7")[0] == 7


def test_dir_of_an_empty_folder_lists_the_dot_entries(lab: Lab) -> None:
    lab.run("mkdir C:\\Empty")
    code, out, err = lab.run("dir C:\\Empty")
    assert (code, err) == (0, "")
    assert " Directory of C:\\Empty\r\n" in out
    assert "<DIR>          .\r\n" in out and "<DIR>          ..\r\n" in out
    assert "               0 File(s)              0 bytes\r\n" in out
    assert "               2 Dir(s)  85,899,345,920 bytes free\r\n" in out
    assert lab.run("dir C:\\Empty\\*")[0] == 0
    assert lab.run("dir C:\\Empty\\*.txt")[0:3:2] == (1, "File Not Found\r\n")
    assert lab.run("dir /b C:\\Empty") == (1, "", "File Not Found\r\n")  # bare format has no dot entries
    assert lab.run("dir C:\\Nope\\Deeper") == (1, "", "The system cannot find the path specified.\r\n")


def test_line_limit_counts_utf16_code_units(lab: Lab) -> None:
    assert utf16_length("a\U0001F600") == 3
    fits = "\U0001F600" * 4093  # 5 + 8186 = 8191 code units, though only 4098 Python characters
    assert lab.run("echo " + fits, codepage=65001) == (0, fits + "\r\n", "")
    too_long = fits + "\U0001F600"
    assert lab.run("echo " + too_long, codepage=65001) == (1, "The command line is too long.\r\n", "")
    assert lab.run("echo " + "x" * 8186) == (0, "x" * 8186 + "\r\n", "")
    assert lab.run("echo " + "x" * 8187)[0] == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=8180, max_value=8200), st.integers(min_value=0, max_value=60))
def test_line_limit_property(lab: Lab, units: int, astral: int) -> None:
    body = "\U0001F600" * astral + "y" * (units - 5 - 2 * astral)
    code, out, _ = lab.run("echo " + body, codepage=65001)
    if units > 8191:
        assert (code, out) == (1, "The command line is too long.\r\n")
    else:
        assert (code, out) == (0, body + "\r\n")
