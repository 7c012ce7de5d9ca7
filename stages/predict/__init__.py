"""The predict stage: the first test images classified by the shipped ONNX model."""
