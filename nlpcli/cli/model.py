"""Commands about a checkpoint itself: ``info`` describes it, ``convert`` moves it
to or from another toolkit's format."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from nlpcli import console
from nlpcli.cli.options import Checkpoint, ConvertFormat
from nlpcli.cli.root import app
from nlpcli.errors import InputError


@app.command()
def info(
    checkpoint: Checkpoint = None,
    as_json: Annotated[bool, typer.Option("--json", help="Everything as one JSON object.")] = False,
) -> None:
    """What a checkpoint is: size, tasks, training and recorded scores."""
    from nlpcli.checkpoint import default_checkpoint_path
    from nlpcli.info import describe, render_info

    details = describe(checkpoint or default_checkpoint_path())
    print(json.dumps(details, indent=2) if as_json else render_info(details))


@app.command()
def convert(
    paths: Annotated[list[Path], typer.Argument(help="--to: OUT_DIR.  --from: IN_DIR OUT_CHECKPOINT.")],
    to: Annotated[Optional[ConvertFormat], typer.Option(
        "--to", help="hf: a Hugging Face M2M100ForConditionalGeneration folder; "
                     "ctranslate2: a CTranslate2 model folder (needs nlpcli[ctranslate2]).")] = None,
    from_: Annotated[Optional[ConvertFormat], typer.Option(
        "--from", help="hf: import an M2M100 or NLLB-200 folder (config.json, weights, sentencepiece.bpe.model, "
                       "and vocab.json for M2M100).")] = None,
    checkpoint: Checkpoint = None,
) -> None:
    """Write a checkpoint in another toolkit's format (--to), or import one (--from)."""
    from nlpcli.convert import export_ctranslate2, export_hf, import_hf

    if (to is None) == (from_ is None):
        raise InputError("give exactly one of --to and --from")
    if to is not None:
        if len(paths) != 1:
            raise InputError(f"--to {to.value} takes one folder to write: nlpcli convert --to {to.value} OUT_DIR")
        export = export_hf if to is ConvertFormat.hf else export_ctranslate2
        console.info(f"wrote {export(checkpoint, paths[0])}")
        return
    if from_ is not ConvertFormat.hf:
        raise InputError("--from takes hf only (CTranslate2 folders cannot be read back)")
    if len(paths) != 2:
        raise InputError("--from hf takes two folders: nlpcli convert --from hf IN_DIR OUT_CHECKPOINT")
    console.info(f"wrote {import_hf(paths[0], paths[1])}; use it with --checkpoint {paths[1]} --src XX --tgt YY")
