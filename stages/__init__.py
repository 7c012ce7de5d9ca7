"""Fashion-MNIST pipeline: one package per dvc.yaml stage (`python -m stages.<stage>`), and the
small shared package they use (stages/shared)."""
