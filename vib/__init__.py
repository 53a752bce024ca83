"""vib-spk: speaker embedding extractors trained with softmax, AAM and the
variational information bottleneck (VIB), with Kaldi-compatible back-ends."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``vib.load_extractor`` (:func:`vib.speaker.load_extractor`), imported on first use so that
    ``import vib`` (every command-line tool's) does not import torch."""
    if name == "load_extractor":
        from vib.speaker import load_extractor

        return load_extractor
    raise AttributeError(f"module 'vib' has no attribute '{name}'")
