"""Data: Kaldi data dirs, Lhotse manifests, features, training pipeline."""
