"""Command-line tools, one module each; every module exposes ``main()``.

Conventions (see :mod:`vib.cli`): argparse with Kaldi-style ``--opt=value``
options, ``--help`` everywhere, Kaldi tables through :mod:`vib.io.tables`, and a
one-line error with a non-zero exit on bad input.
"""
