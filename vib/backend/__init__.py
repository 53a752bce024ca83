"""Back-end maths on numpy arrays: means, LDA, PLDA, cosine, score normalisation, calibration."""
