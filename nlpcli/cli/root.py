"""The root command ``nlpcli`` (``app``) and its ``evaluate`` group, which every
command module registers on, and the checks that several commands share."""
from __future__ import annotations

import os

import typer

from nlpcli.errors import InputError

app = typer.Typer(
    help="Translate, summarize, answer, classify sentiment and tag entities with one attention encoder-decoder Transformer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
evaluate_app = typer.Typer(help="Score system output with the standard metric of each task.", no_args_is_help=True)
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
