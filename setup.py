"""Build step that puts the shipped default checkpoint into the package.

``checkpoints/`` stays at the top of the repository; building a wheel (``pip
install .``, ``python -m build``, ``pip wheel``, ``pipx install``) copies only
``checkpoints/nlpcli-2`` to ``nlpcli/checkpoints/nlpcli-2`` inside it,
where nlpcli.checkpoint looks first. An editable install reads it from the clone.
Everything else (other checkpoints, training state, runs) stays out of the wheel.
"""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED_CHECKPOINT = Path("checkpoints") / "nlpcli-2"  # nlpcli.checkpoint.SHIPPED_NAME
CHECKPOINT_FILES = ("config.json", "model.safetensors", "tokenizer.model", "README.md")
OPTIONAL_FILES = ("shortlist.safetensors",)  # translation's vocabulary shortlist, where the release has one


class BuildWithCheckpoint(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the package runs from the clone, next to checkpoints/
            return
        target = Path(self.build_lib) / "nlpcli" / SHIPPED_CHECKPOINT
        self.mkpath(str(target))
        for name in CHECKPOINT_FILES + tuple(name for name in OPTIONAL_FILES if (SHIPPED_CHECKPOINT / name).is_file()):
            self.copy_file(str(SHIPPED_CHECKPOINT / name), str(target / name))


setup(cmdclass={"build_py": BuildWithCheckpoint})
