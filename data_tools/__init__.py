"""Dataset preparation tools: build_hdf5 (the original layout), combine_pairs, synthesize_blur."""
