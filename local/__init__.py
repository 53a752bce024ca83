"""Corpus preparation: library functions with thin command lines (run as ``python -m local.<module>``)."""
