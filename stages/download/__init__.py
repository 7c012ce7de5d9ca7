"""The download stage: the four Fashion-MNIST IDX files, verified, into data/raw."""
