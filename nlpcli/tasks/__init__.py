"""The tasks of the shared model: one module per task (a ``Task`` subclass,
nlpcli/tasks/base.py) and the registry ``TASKS``, name -> task, in the order
recipes train them and checkpoints list them.

A new task is a new module with its Task subclass plus one line:
``register(MyTask())``."""
from __future__ import annotations

from nlpcli.errors import InputError
from nlpcli.tasks.answer import Answer
from nlpcli.tasks.base import DecoderTask, DevSet, EncoderTask, Task, language_token, parse_direction
from nlpcli.tasks.entities import ENTITY_TAGS, ENTITY_TYPES, TagEntities
from nlpcli.tasks.sentiment import SENTIMENT_LABELS, ClassifySentiment
from nlpcli.tasks.summarize import Summarize
from nlpcli.tasks.translate import Translate

TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add a task to the registry (after the built-in ones, or in place of one of the same name)."""
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The registered task of that name; KeyError names the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r} (known: {', '.join(TASKS)})") from None


PLUGIN_GROUP = "nlpcli.tasks"  # entry points of other installed packages: name = "module:TaskSubclass"


def register_plugins() -> None:
    """Register the tasks that installed packages declare in the ``nlpcli.tasks``
    entry-point group, so that ``nlpcli TASK``, recipes and ``nlpcli evaluate TASK``
    know them from the shell. A plugin that fails to load is left out with a warning:
    it must not take the built-in tasks down with it."""
    from importlib.metadata import entry_points

    for point in entry_points(group=PLUGIN_GROUP):
        try:
            task = point.load()
            register(task() if isinstance(task, type) else task)
        except Exception as error:  # noqa: BLE001 - any failure of foreign code
            from nlpcli import console  # rich: only when there is something to say

            console.warn(f"task plugin {point.name} ({point.value}) left out: {type(error).__name__}: {error}")


for built_in in (Translate(), Summarize(), Answer(), ClassifySentiment(), TagEntities()):
    register(built_in)

# the encoder token of each built-in task that has one (translation's are the language tokens)
TASK_TOKENS = {name: task.token for name, task in TASKS.items() if task.token}


def check_task(info, task: str) -> None:
    """Refuse a task the checkpoint was not trained for, listing what it serves."""
    if task not in info.tasks:
        raise InputError(f"this checkpoint does not serve {task}; it serves: {', '.join(info.tasks) or 'nothing'}")


__all__ = ["TASKS", "TASK_TOKENS", "ENTITY_TAGS", "ENTITY_TYPES", "SENTIMENT_LABELS", "Task", "DecoderTask", "EncoderTask",
           "DevSet", "PLUGIN_GROUP", "register", "register_plugins", "get_task", "check_task", "language_token", "parse_direction"]

register_plugins()  # last: a plugin module may import this package's names
