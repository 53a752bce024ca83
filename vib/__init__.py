"""vib-spk: speaker embedding extractors trained with softmax, AAM and the
variational information bottleneck (VIB), with Kaldi-compatible back-ends."""

__version__ = "0.1.0"
