"""vib-export: a trained extractor as TorchScript or ONNX (fbank front-end stated in the archive)."""
from __future__ import annotations

from typing import Sequence

from vib.cli import make_parser, run

USAGE = """vib-export [--format torchscript|onnx] <model-dir> <out>
e.g.: vib-export exp/vib exp/vib/extractor.ts
      vib-export --format onnx exp/vib exp/vib/extractor.onnx     # needs: pip install onnx onnxruntime
The graph maps fbank [B, T, 80] to the embedding [B, D]; fbank.yaml inside the archive holds the
front-end's options (see vib.export)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser("vib-export", __doc__, USAGE)
    parser.add_argument("--format", default="torchscript", help="torchscript (default) or onnx")
    parser.add_argument("model_dir")
    parser.add_argument("out")
    args = parser.parse_args(argv)
    from vib.export import export

    print(f"vib-export: wrote {export(args.model_dir, args.out, args.format)} ({args.format})")
    return 0


def main_entry() -> None:
    run(main)


if __name__ == "__main__":
    run(main)
