"""The generated mini corpus: synthetic multi-speaker speech from real donors' TTS voices.

Modules: ``voices`` (find and energy-check donor voices), ``text`` (digit strings, word
texts), ``synth`` (one utterance: engine -> sox -> checks -> wav), ``splits`` (donor-disjoint
splits, trial lists), ``augment`` (RIRS_NOISES- and MUSAN-like sources), ``generate``
(``prepare_mini`` and the command line).
"""
