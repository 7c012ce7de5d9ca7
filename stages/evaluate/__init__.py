"""The evaluate stage: the shipped ONNX model scored on the test split, with its figures."""
