"""How far long CLI work is (cleanup, key rotation, syncs, backfills), on stderr so that the
command's results on stdout stay easy to read and to parse.

On a terminal each step is a ``click.progressbar``; anywhere else (a pipe, a log file, cron,
systemd) plain lines, ``label: done/total (pct%)``, at most one every ``PLAIN_EVERY`` seconds per
step plus its first and its last, so a long run leaves a readable trail instead of a bar's
carriage returns. The work reports through one callable, ``progress(label, done, total)`` with
absolute counts: a new label finishes the step before it.
"""
from __future__ import annotations

import sys
import time

import click

PLAIN_EVERY = 5.0  # seconds between plain lines of one step
CLEAR_LINE = "\r\033[K"


def is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


class Progress:
    """``with Progress() as progress: work(progress=progress)``; ``progress.echo`` prints a result
    line without breaking a bar being drawn."""

    def __init__(self, file=None, terminal: bool | None = None):
        self.file = file or sys.stderr
        self.terminal = is_terminal(self.file) if terminal is None else terminal
        self._label: str | None = None
        self._bar = None
        self._done = self._total = 0
        self._said_at = float("-inf")
        self._said: str | None = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __call__(self, label: str, done: int, total: int) -> None:
        if label != self._label:
            self.close()
            self._start(label)
        self._done, self._total = done, max(total, done)
        if self._bar is not None:
            self._bar.length = self._total
            self._bar.finished = done >= self._total  # a step with nothing to do is complete too
            if done > self._bar.pos:
                self._bar.update(done - self._bar.pos)
            else:
                self._bar.render_progress()
        elif done >= self._total or time.monotonic() - self._said_at >= PLAIN_EVERY:
            self._line()

    def _start(self, label: str) -> None:
        self._label, self._done, self._total = label, 0, 0
        self._said_at, self._said = float("-inf"), None
        if self.terminal:
            self._bar = click.progressbar(length=0, label=label, show_pos=True, show_percent=True, file=self.file)

    def _line(self) -> None:
        pct = f" ({100 * self._done // self._total}%)" if self._total else ""
        line = f"{self._label}: {self._done}/{self._total}{pct}"
        if line != self._said:
            click.echo(line, file=self.file)
            self._said, self._said_at = line, time.monotonic()

    def close(self) -> None:
        """Finish the current step: the bar's last state, or the last plain line if not said yet."""
        if self._bar is not None:
            self._bar.render_finish()
            self._bar = None
        elif self._label is not None:
            self._line()
        self._label = None

    def echo(self, message: str = "", **kwargs) -> None:
        """``click.echo`` to stdout, the bar (if one is drawn) cleared first and drawn again after."""
        if self._bar is not None:
            self.file.write(CLEAR_LINE)
            self.file.flush()
        click.echo(message, **kwargs)
        if self._bar is not None:
            self._bar._last_line = None  # draw it again though it has not changed
            self._bar.render_progress()
