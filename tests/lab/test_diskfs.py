"""The lab's share kept in a real folder (``lab up --dc``): what a node does through it lands on disk as an SMB
client would see it, with Windows' case rules and error texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from octotui.lab.dc.diskfs import DiskFS
from octotui.lab.winfs import FsError, WinFS

ROOT = "\\\\127.0.0.1\\OctopusData"


@pytest.fixture
def share(tmp_path: Path) -> DiskFS:
    folder = tmp_path / "OctopusData"
    folder.mkdir()
    return DiskFS(folder, ROOT)


def test_a_file_written_by_a_node_is_on_disk_and_found_whatever_the_case(share: DiskFS) -> None:
    share.makedirs(ROOT + "\\TaskLogs\\2026")
    share.write("\\\\127.0.0.2\\octopusdata\\tasklogs\\2026\\Run.log", b"line 1\r\n")
    share.write(ROOT + "\\TASKLOGS\\2026\\run.LOG", b"line 2\r\n", append=True)
    assert (share.root / "TaskLogs" / "2026" / "Run.log").read_bytes() == b"line 1\r\nline 2\r\n"
    assert share.listdir(ROOT + "\\tasklogs") == ["2026"]
    assert share.real_path(ROOT + "\\tasklogs\\2026\\RUN.LOG") == ROOT + "\\TaskLogs\\2026\\Run.log"
    assert share.is_dir(ROOT + "\\TASKLOGS") and not share.is_file(ROOT + "\\TASKLOGS")


def test_a_file_put_in_the_folder_by_smb_is_seen_by_the_nodes(share: DiskFS) -> None:
    (share.root / "from-smb.txt").write_bytes(b"hello")
    assert share.read(ROOT + "\\FROM-SMB.TXT") == b"hello"
    assert [e.path for e in share.files.values()] == [ROOT + "\\from-smb.txt"]


def test_refusals_carry_windows_error_texts(share: DiskFS) -> None:
    with pytest.raises(FsError) as missing:
        share.read(ROOT + "\\nope.txt")
    assert missing.value.winerror == 2 and missing.value.message == "The system cannot find the file specified."
    with pytest.raises(FsError) as no_folder:
        share.write(ROOT + "\\NoSuchFolder\\a.txt", b"x")
    assert no_folder.value.winerror == 3
    with pytest.raises(FsError) as gone:
        share.delete(ROOT + "\\nope.txt")
    assert gone.value.message == "Could Not Find " + ROOT + "\\nope.txt"


def test_the_world_file_copy_round_trips_and_restores_the_folder(share: DiskFS) -> None:
    share.write(ROOT + "\\Artifacts\\a.bin", b"\x00\x01", make_parents=True)
    saved = WinFS.from_dict(share.to_dict())
    assert saved.read(ROOT + "\\Artifacts\\a.bin") == b"\x00\x01"
    share.write(ROOT + "\\stray.txt", b"not in the saved world")
    share.delete(ROOT + "\\Artifacts\\a.bin")
    share.load_from(saved)
    assert sorted(str(p.relative_to(share.root)) for p in share.root.rglob("*")) == ["Artifacts", "Artifacts/a.bin"]
