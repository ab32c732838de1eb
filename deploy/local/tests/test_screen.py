"""``make run``'s screen: lines are never overprinted, a closed stdout is noticed quietly."""

from __future__ import annotations

import io
import logging
import os
import select

from taskfactory_stack.screen import Screen, ScreenHandler


def _render(raw: str) -> list[str]:
    """What a terminal shows for ``raw``: carriage return, erase-line and newline handled."""
    lines = [""]
    col = 0
    i = 0
    while i < len(raw):
        if raw.startswith("\x1b[2K", i):
            lines[-1] = ""
            i += 4
            continue
        char = raw[i]
        if char == "\r":
            col = 0
        elif char == "\n":
            lines.append("")
            col = 0
        else:
            line = lines[-1].ljust(col)
            lines[-1] = line[:col] + char + line[col + 1 :]
            col += 1
        i += 1
    return lines


def _tty_screen() -> tuple[Screen, int]:
    master, slave = os.openpty()
    return Screen(os.fdopen(slave, "w", encoding="utf-8")), master


def _read(master: int) -> str:
    """Everything written so far (the writes were flushed; a pty hands them out in pieces)."""
    chunks = []
    while select.select([master], [], [], 0)[0]:
        chunks.append(os.read(master, 65536))
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_a_line_written_under_a_long_progress_line_is_not_overprinted() -> None:
    screen, master = _tty_screen()
    progress = "  events awaited 9 · runs started 12 · results received 30 · events done 7/9"
    screen.line("stack: up")
    screen.status(progress)
    screen.line("  result  a")
    screen.status(progress.replace("7/9", "8/9"))
    screen.line("x")
    screen.end_status()
    screen.line("done")
    shown = _render(_read(master))
    assert shown == ["stack: up", "  result  a", "x", "done", ""]


def test_the_progress_line_stays_below_the_lines() -> None:
    screen, master = _tty_screen()
    screen.status("progress 1")
    screen.line("first")
    assert _render(_read(master)) == ["first", "progress 1"]


def test_a_pipe_or_file_gets_whole_lines_and_no_progress_line() -> None:
    out = io.StringIO()
    screen = Screen(out)
    screen.status("progress")
    screen.line("a")
    screen.status("progress 2")
    screen.line("b")
    assert out.getvalue() == "a\nb\n"


def test_a_closed_pipe_is_noticed_and_later_writes_are_quiet() -> None:
    read, write = os.pipe()
    screen = Screen(os.fdopen(write, "w", encoding="utf-8"))
    screen.line("seen")
    assert os.read(read, 100) == b"seen\n"
    assert not screen.gone()
    os.close(read)  # `make run | head`: head has read its lines and exited
    assert screen.gone()
    screen.line("after")  # no BrokenPipeError
    screen.line("and again")
    assert screen.closed


def test_library_warnings_are_lines_above_the_progress_line() -> None:
    screen, master = _tty_screen()
    logger = logging.getLogger("taskfactory.test.screen")
    logger.propagate = False
    handler = ScreenHandler(screen)
    logger.addHandler(handler)
    try:
        screen.status("  events awaited 9 · runs started 1 · results received 0 · events done 0/9")
        logger.warning("Unable connect to %s", "127.0.0.1:9092")
        logger.info("not shown")
    finally:
        logger.removeHandler(handler)
    shown = _render(_read(master))
    assert shown[0] == "  warning: taskfactory.test.screen: Unable connect to 127.0.0.1:9092"
    assert shown[1].startswith("  events awaited 9")
