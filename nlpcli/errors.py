"""Errors that reach the user as one line on stderr (exit code 1), never a traceback."""


class NlpcliError(Exception):
    """A problem the user can fix: bad input, a broken checkpoint, a wrong option."""


class InputError(NlpcliError):
    pass


class CheckpointError(NlpcliError):
    pass


class RecipeError(NlpcliError):
    pass


class OutputError(NlpcliError):
    """Writing the output failed (a full disk): the run stops with one line."""


class Interrupted(Exception):
    """Ctrl-C, with what became of the output (exit code 130)."""


class OutputClosed(Exception):
    """The reader of our output went away (``| head``): stop quietly."""
