"""The ``nlpcli`` command line: parses arguments and calls the library.

Exit codes: 0 success, 1 input/checkpoint/runtime error (one line on stderr),
2 usage error, 130 interrupted. ``--debug`` or NLPCLI_DEBUG=1 shows tracebacks.

The commands live in one module per group (``tasks``, ``evaluate``, ``model``,
``training``), registered on ``root.app`` when imported here, in the order
``nlpcli --help`` lists them; the options they share are in ``options``.
"""
from __future__ import annotations

import errno
import os
import sys

import typer

from nlpcli import console
# importing registers the commands, in this order (the order `nlpcli --help` lists them)
from nlpcli.cli import tasks, evaluate, model, training  # noqa: F401, I001
from nlpcli.cli.root import app
from nlpcli.cli.tasks import load_for
from nlpcli.errors import Interrupted, NlpcliError, OutputClosed, OutputError

__all__ = ["app", "entry_point", "load_for", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point: maps every failure to an exit code and one line on stderr."""
    command = typer.main.get_command(app)
    try:
        # Typer turns Ctrl-C into a returned 130; a command's own result is None
        code = command.main(args=argv, prog_name="nlpcli", standalone_mode=False)
        if code == 130:
            console.error("interrupted")
        flush_stdout()  # print()ed reports: a full disk shows here as one line, not as a complaint at exit
        return code if isinstance(code, int) else 0
    except typer.Exit as done:
        return done.exit_code
    except (typer.Abort, KeyboardInterrupt):
        console.error("interrupted")
        return 130
    except Interrupted as stop:  # Ctrl-C while writing -o FILE: where the finished output is
        console.error(f"interrupted; {stop}")
        return 130
    except typer.TyperException as usage:  # Typer's (click's) usage errors: exit 2, one line
        context, message = getattr(usage, "ctx", None), usage.format_message()
        if "\n" in message:  # `nlpcli` or `nlpcli evaluate` alone: the message is the help
            usage.show()
        else:
            console.error(f"{message} (see {context.command_path if context else 'nlpcli'} --help)")
        return usage.exit_code
    except (OutputClosed, BrokenPipeError):
        # the reader went away (| head): exit quietly, and keep Python from
        # complaining when it flushes stdout at shutdown
        from nlpcli.textio import discard_stdout

        discard_stdout()
        return 0
    except NlpcliError as problem:
        if os.environ.get("NLPCLI_DEBUG"):
            raise
        console.error("; ".join([str(problem), *getattr(problem, "__notes__", [])]))
        return 1
    except Exception as problem:  # noqa: BLE001 - last resort: one line, not a traceback
        if os.environ.get("NLPCLI_DEBUG"):
            raise
        if isinstance(problem, OSError) and problem.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            from nlpcli.textio import discard_stdout

            discard_stdout()  # a print() to a full disk: Python would fail again at exit
            console.error(f"cannot write {problem.filename or 'the output'}: {problem.strerror}")
            return 1
        console.error("; ".join([f"{type(problem).__name__}: {problem} (run with --debug for the traceback)",
                                 *getattr(problem, "__notes__", [])]))
        return 1


def flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise OutputClosed from None
    except OSError as error:
        from nlpcli.textio import discard_stdout

        discard_stdout()
        raise OutputError(f"cannot write <stdout>: {error.strerror}") from None


def entry_point() -> None:
    sys.exit(main())
