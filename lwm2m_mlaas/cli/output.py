"""Output shared by the commands."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def progress_bars(console: Console | None = None) -> Progress:
    """Bars with a description, done/total and elapsed time; on stderr unless a console is
    given, so that --json output stays clean."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console or Console(stderr=True))  # fmt: skip
