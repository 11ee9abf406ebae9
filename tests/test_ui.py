"""The one output path: what each mode prints, and the one progress class."""

from __future__ import annotations

import pytest

from packbuilder.ui import Bars, Output


@pytest.mark.parametrize(
    ("mode", "stdout", "stderr"),
    [
        ({}, ["info", "table", "FAILED x", "doc"], ["note", "warning: warn", "error: bad"]),
        ({"quiet": True}, ["FAILED x", "doc"], ["error: bad"]),
        ({"json_mode": True}, ["doc"], ["warning: warn", "error: bad"]),
    ],
)
def test_each_mode_prints_what_it_promises(
    mode: dict[str, bool], stdout: list[str], stderr: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from rich.table import Table

    out = Output(**mode)
    table = Table(box=None, show_header=False)
    table.add_row("table")
    out.info("info")
    out.show(table)
    out.note("note")
    out.result("FAILED x")
    out.text("doc")
    out.warn("warn")
    out.error("bad")
    captured = capsys.readouterr()
    assert [line.strip() for line in captured.out.splitlines()] == stdout
    assert [line.strip() for line in captured.err.splitlines()] == stderr


def test_bars_reuse_a_keyed_task_for_its_next_phase() -> None:
    with Bars(total_bytes=300) as bars:
        write = bars.start("key1 write", 100, key="key1")
        bars.advance(write, 100)
        verify = bars.start("key1 verify", 100, key="key1")
        assert verify == write
        task = bars.bars.tasks[bars.bars.task_ids.index(verify)]
        assert (task.description, task.completed, task.total) == ("key1 verify", 0, 100)
        other = bars.start("download", None)
        bars.reset(other, 50)
        bars.advance(other, 150)
        bars.finish(other)
        assert other not in bars.bars.task_ids
        assert bars.total is not None
        assert bars.bars.tasks[bars.bars.task_ids.index(bars.total)].completed == 300
