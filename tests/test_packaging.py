"""The wheel carries the default checkpoint (and nothing else of the repository's
top level); an install finds it from any folder; --version comes from one place."""
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

import nlpcli
from nlpcli.checkpoint import SHIPPED_NAME
from test_cli import ENV

REPO = Path(__file__).resolve().parent.parent
CHECKPOINT_FILES = {"config.json", "model.safetensors", "tokenizer.model", "README.md"}
SHIPPED_FILES = CHECKPOINT_FILES | {"shortlist.safetensors"}  # the copy below has a release's optional shortlist


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """(wheel, sdist) built as `python -m build` builds them (the wheel from the
    sdist), from a copy of the repository that also holds a training-state folder
    (trunk/) and a run folder, which must stay out of both, and whose default
    checkpoint has a vocabulary shortlist (one of every piece: the same outputs)."""
    import torch

    from nlpcli.shortlist import VocabularyShortlist

    work = tmp_path_factory.mktemp("build")
    source = work / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "nlpcli", source / "nlpcli", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "checkpoints", source / "checkpoints")
    vocabulary = json.loads((REPO / "checkpoints" / SHIPPED_NAME / "config.json").read_text())["model"]["vocab_size"]
    VocabularyShortlist(torch.arange(vocabulary), torch.full((vocabulary, 1), -1)).save(source / "checkpoints" / SHIPPED_NAME)
    for folder in ("trunk", "runs/r"):
        (source / folder).mkdir(parents=True)
        (source / folder / "state.safetensors").write_bytes(b"\0" * 1024)
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(work / "dist"), str(source)],
                   check=True, capture_output=True, timeout=600)
    [wheel] = (work / "dist").glob("nlpcli-*.whl")
    [sdist] = (work / "dist").glob("nlpcli-*.tar.gz")
    return wheel, sdist


def test_the_wheel_holds_the_package_and_the_default_checkpoint_only(built):
    wheel, sdist = built
    assert wheel.name.startswith(f"nlpcli-{nlpcli.__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n for n in names if "/checkpoints/" in n} == {f"nlpcli/checkpoints/{SHIPPED_NAME}/{f}" for f in SHIPPED_FILES}
    outside = [n for n in names if not n.startswith(("nlpcli/", f"nlpcli-{nlpcli.__version__}.dist-info/"))]
    assert outside == []
    assert not [n for n in names if "/checkpoints/" not in n and not n.endswith(".py") and ".dist-info/" not in n]
    members = tarfile.open(sdist).getnames()
    top = f"nlpcli-{nlpcli.__version__}/"
    assert not [m for m in members if m.startswith((top + "trunk", top + "runs")) or "translate-en-de" in m or "nlpcli-base" in m]
    assert {m.rsplit("/", 1)[1] for m in members if f"/checkpoints/{SHIPPED_NAME}/" in m} == SHIPPED_FILES


def test_an_installed_wheel_finds_its_checkpoint_from_any_folder(built, tmp_path, toy_checkpoint):
    site = tmp_path / "site-packages"
    zipfile.ZipFile(built[0]).extractall(site)  # what pip puts in site-packages
    anywhere = tmp_path / "anywhere"
    anywhere.mkdir()
    env = {**ENV, "PYTHONPATH": str(site)}
    env.pop("NLPCLI_CHECKPOINT", None)

    def nlpcli_there(*args, extra_env=()):
        return subprocess.run([sys.executable, "-m", "nlpcli", *map(str, args)], capture_output=True, cwd=anywhere,
                              env={**env, **dict(extra_env)}, timeout=300)

    info = nlpcli_there("info", "--json")
    assert info.returncode == 0, info.stderr
    assert Path(json.loads(info.stdout)["path"]) == site / "nlpcli" / "checkpoints" / SHIPPED_NAME
    assert json.loads(info.stdout)["shortlist"]["per_source"] == 1  # the wheel carried the shortlist
    translated = nlpcli_there("translate", "--src", "en", "--tgt", "de", "A dog runs.")
    assert translated.returncode == 0 and "Hund" in translated.stdout.decode(), translated.stderr
    chosen = nlpcli_there("info", "--json", extra_env={"NLPCLI_CHECKPOINT": str(toy_checkpoint)})
    assert Path(json.loads(chosen.stdout)["path"]) == toy_checkpoint  # $NLPCLI_CHECKPOINT wins
    given = nlpcli_there("info", "--json", "-c", toy_checkpoint, extra_env={"NLPCLI_CHECKPOINT": str(tmp_path / "none")})
    assert Path(json.loads(given.stdout)["path"]) == toy_checkpoint  # and --checkpoint wins over it


def test_a_clone_finds_its_checkpoint_from_any_folder(tmp_path):
    env = {k: v for k, v in ENV.items() if k != "NLPCLI_CHECKPOINT"}
    info = subprocess.run([sys.executable, "-m", "nlpcli", "info", "--json"], capture_output=True, cwd=tmp_path, env=env,
                          timeout=300)
    assert Path(json.loads(info.stdout)["path"]) == REPO / "checkpoints" / SHIPPED_NAME


def test_version_is_defined_once():
    result = subprocess.run([sys.executable, "-m", "nlpcli", "--version"], capture_output=True, env=ENV, timeout=60)
    assert result.returncode == 0 and result.stdout.decode() == f"nlpcli {nlpcli.__version__}\n"
    assert version("nlpcli") == nlpcli.__version__  # the package metadata reads nlpcli/__init__.py
