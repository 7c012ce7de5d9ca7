"""What several stages share, small and stable: an edit here reruns every stage that imports it
(docs/layout.md has the table). Errors, all-or-nothing outputs, the command wrapper, the
dataset's facts and formats (IDX, the .npz splits), the ONNX classifier, figures, and the reader
of params.yaml."""
