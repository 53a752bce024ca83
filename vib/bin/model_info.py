"""vib-model-info: what a trained extractor is (as Kaldi's nnet3-info), one ``name value`` line each."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from vib import checkpoint as ckpt
from vib.cli import make_parser, run
from vib.extract import network_of
from vib.heads import DEFAULT_HEAD
from vib.models import DEFAULT_MODEL, count_parameters

USAGE = """vib-model-info [--field NAME] <model.pt | exp-dir>
e.g.: vib-model-info exp/vib_s0
      vib-model-info --field variance exp/vib_s0/final.pt   # true: vib-extract --write-var can be used
Lines: trunk, embedding-dim, head (softmax, aam, vib, ...), variance (true when the extractor
predicts a VIB variance per utterance), parameters (of the extractor, the classifier head excluded)."""

FIELDS = ("trunk", "embedding-dim", "head", "variance", "parameters")


def model_info(path: str) -> dict[str, str]:
    """The :data:`FIELDS` of the extractor in checkpoint ``path`` (a dir means its final.pt)."""
    model_path = Path(path) / "final.pt" if Path(path).is_dir() else Path(path)
    state = ckpt.load(model_path, require=("model", "config"))
    network, config = network_of(state, model_path), state["config"]
    return {"trunk": str(config["model"].get("type", DEFAULT_MODEL)), "embedding-dim": str(network.embed_dim),
            "head": str(config["head"].get("type", DEFAULT_HEAD)),
            "variance": "true" if network.logvar is not None else "false",
            "parameters": str(count_parameters(network))}


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-model-info", "Prints what a trained extractor is, one 'name value' line per field.",
                         USAGE)
    parser.add_argument("--field", default="", choices=("", *FIELDS), help="print only this field's value")
    parser.add_argument("model")
    opts = parser.parse_args(argv)
    info = model_info(opts.model)
    if opts.field:
        print(info[opts.field])
    else:
        for name, value in info.items():
            print(name, value)
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
