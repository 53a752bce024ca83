"""Reading and writing Kaldi tables and objects."""
