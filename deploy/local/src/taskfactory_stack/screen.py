"""What ``make run`` prints: whole lines, and on a terminal one progress line kept below them.

Two promises: a line is never overprinted by the progress line (the progress line is erased
before a line is written and drawn again after it), and a closed stdout (``make run | head``)
is noticed, never an exception in the middle of the clean-up: :attr:`Screen.closed` turns
true, later writes go nowhere, and the demo stops what it started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sys
from typing import TextIO

__all__ = ["Screen", "ScreenHandler"]

_ERASE = "\r\x1b[2K"  # to the line's start, then clear the whole line


class Screen:
    """Prints to ``stream`` (default: the current ``sys.stdout``)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self.progress = ""
        self.closed = False

    @property
    def stream(self) -> TextIO:
        """Where the text goes."""
        return self._stream or sys.stdout

    @property
    def tty(self) -> bool:
        """Whether a person watches (only then is there a progress line)."""
        try:
            return self.stream.isatty()
        except ValueError:  # closed
            return False

    def line(self, text: str = "") -> None:
        """Write ``text`` and a newline above the progress line."""
        erase = _ERASE if self.progress else ""
        self._write(f"{erase}{text}\n{self.progress}")

    def status(self, text: str) -> None:
        """Show ``text`` as the progress line (a terminal only; pipes and files get none)."""
        if not self.tty or text == self.progress:
            return
        self.progress = text
        self._write(f"{_ERASE}{text}")

    def end_status(self) -> None:
        """Remove the progress line."""
        if self.progress:
            self.progress = ""
            self._write(_ERASE)

    def gone(self) -> bool:
        """Whether nobody reads any more (the reading end of a pipe was closed)."""
        if self.closed:
            return True
        try:
            fd = self.stream.fileno()
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
            events = poller.poll(0)
        except (OSError, ValueError):  # no file descriptor (a test's StringIO): never gone
            return False
        if any(mask & (select.POLLERR | select.POLLHUP) for _, mask in events):
            self._close()
        return self.closed

    def _write(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # EPIPE, or a closed file
            self._close()

    def _close(self) -> None:
        self.closed = True
        # Python flushes stdout once more at exit; pointed at /dev/null that flush is quiet
        # rather than "Exception ignored … BrokenPipeError" on stderr.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)


class ScreenHandler(logging.Handler):
    """Library log lines (warnings of the demo's own Kafka and Temporal clients) as screen lines.

    Written to stderr they would land on the progress line's row; through the screen they
    are lines like any other.
    """

    def __init__(self, screen: Screen, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.screen = screen

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a library's bad format arguments
            message = str(record.msg)
        self.screen.line(f"  {record.levelname.lower()}: {record.name}: {message}")
