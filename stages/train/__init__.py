"""The train stage: the network of the train params, fitted, saved as `.keras` and exported to
ONNX, with its per-epoch metrics (dvclive) and curves."""
