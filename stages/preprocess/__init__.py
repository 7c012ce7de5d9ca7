"""The preprocess stage: the raw IDX files decoded and split into train, validation and test."""
