"""Everything that is not data goes to stderr: warnings, progress, scores' notes.
Colour follows rich's rules (off for NO_COLOR and non-terminals)."""
from __future__ import annotations

import sys
from contextlib import contextmanager

from rich.console import Console

stderr = Console(stderr=True, highlight=False)
_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def warn(message: str) -> None:
    if not _quiet:
        stderr.print(f"[yellow]nlpcli: warning:[/] {message}", markup=True, soft_wrap=True) if stderr.is_terminal \
            else print(f"nlpcli: warning: {message}", file=sys.stderr, flush=True)


def error(message: str) -> None:
    if stderr.is_terminal:
        stderr.print(f"[bold red]nlpcli: error:[/] {message}", markup=True, soft_wrap=True)
    else:
        print(f"nlpcli: error: {message}", file=sys.stderr, flush=True)


def info(message: str) -> None:
    if not _quiet:
        print(message, file=sys.stderr, flush=True)


@contextmanager
def progress(description: str, shown: bool = True, total: int | None = None):
    """Yields ``update(completed)``; draws a transient bar only when ``shown`` and
    stderr is a terminal."""
    if not shown or _quiet or not stderr.is_terminal:
        yield lambda completed: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda completed: bar.update(task, completed=completed)
