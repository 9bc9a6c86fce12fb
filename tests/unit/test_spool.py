"""The spool between a process that logs and the shipper: whole lines only, offsets that
survive the reader, a file per process (a forked child gets its own), tidy once sent."""

from __future__ import annotations

import os
from pathlib import Path

from emulator.cloudwatch.spool import SpoolReader, SpoolWriter, encode


def test_records_come_back_once_and_a_half_written_line_waits(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    writer.write("g", "s", 1, "first")
    writer.write("g", "s", 2, "second ünïcode")
    reader = SpoolReader(tmp_path)
    records = reader.read()
    assert [(r.timestamp, r.message) for r in records] == [(1, "first"), (2, "second ünïcode")]
    # A line the writer has not finished yet is left for the next round.
    (path,) = reader.files()
    with open(path, "ab") as out:
        out.write(encode("g", "s", 3, "third")[:-5])
    reader.commit(records)
    assert reader.read() == []
    with open(path, "ab") as out:
        out.write(encode("g", "s", 3, "third")[-5:])
    assert [r.message for r in reader.read()] == ["third"]
    # A new reader (the service restarted) starts where the last one committed.
    assert [r.message for r in SpoolReader(tmp_path).read()] == ["third"]


def test_a_forked_child_writes_a_file_of_its_own(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    writer.write("g", "s", 1, "parent")
    pid = os.fork()
    if pid == 0:  # the child
        try:
            writer.write("g", "s", 2, "child")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    files = SpoolReader(tmp_path).files()
    assert len(files) == 2
    assert {f.name.split("-")[0] for f in files} == {str(os.getpid()), str(pid)}
    assert sorted(r.message for r in SpoolReader(tmp_path).read()) == ["child", "parent"]


def test_files_sent_in_full_go_once_their_writer_has_ended(tmp_path: Path) -> None:
    mine = SpoolWriter(tmp_path)
    mine.write("g", "s", 1, "alive")
    (tmp_path / "999999999-1.jsonl").write_bytes(encode("g", "s", 1, "dead writer"))
    reader = SpoolReader(tmp_path)
    reader.tidy()
    assert len(reader.files()) == 2  # nothing was sent yet
    reader.commit(reader.read())
    reader.tidy()
    assert [f.name.split("-")[0] for f in reader.files()] == [str(os.getpid())]
    assert reader.pending_bytes() == 0


def test_an_unreadable_line_is_skipped_not_stuck(tmp_path: Path) -> None:
    path = tmp_path / "1-1.jsonl"
    path.write_bytes(b"not json\n" + encode("g", "s", 5, "after"))
    records = SpoolReader(tmp_path).read()
    assert [r.message for r in records] == ["", "after"]
    assert records[-1].end == path.stat().st_size
