"""The root command ``nlpcli`` (``app``) and its ``evaluate`` group, which every
command module registers on, and the checks that several commands share."""
from __future__ import annotations

import os

import typer
from typer.core import TyperGroup

from nlpcli.errors import InputError


class WithRegisteredTasks(TyperGroup):
    """A group that also has a command for each registered task without one of its
    own (``make_command``, from cli/registered.py), made when its name is looked up."""

    make_command = ""

    def list_commands(self, ctx) -> list[str]:
        from nlpcli.tasks import TASKS

        own = super().list_commands(ctx)
        return [*own, *(name for name in TASKS if name not in own)]

    def get_command(self, ctx, name: str):
        from nlpcli.tasks import TASKS

        command = super().get_command(ctx, name)
        if command is None and name in TASKS:
            from nlpcli.cli import registered

            command = getattr(registered, self.make_command)(TASKS[name])
        return command


class TaskCommands(WithRegisteredTasks):
    make_command = "task_command"


class TaskEvaluations(WithRegisteredTasks):
    make_command = "evaluation_command"


app = typer.Typer(
    cls=TaskCommands,
    help="Translate, summarize, answer, classify sentiment and tag entities with one attention encoder-decoder Transformer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
evaluate_app = typer.Typer(cls=TaskEvaluations, help="Score system output with the standard metric of each task.",
                           no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")


def positive(name: str, value: int) -> int:
    if value < 1:
        raise InputError(f"{name} must be at least 1, got {value}")
    return value


def print_version() -> None:
    from nlpcli import __version__

    print(f"nlpcli {__version__}")
    raise typer.Exit()


@app.callback()
def main_options(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=lambda shown: shown and print_version(),
                                 help="Print nlpcli's version and exit."),
) -> None:
    if debug:
        os.environ["NLPCLI_DEBUG"] = "1"
