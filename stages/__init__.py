"""Fashion-MNIST pipeline: one module per dvc.yaml stage, plus the small libraries they share."""
