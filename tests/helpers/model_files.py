"""Copies of model files with one thing changed, for the tests of what loading refuses."""

import zipfile
from pathlib import Path


def rewrite_model_member(source: Path, target: Path, content: str | bytes | None) -> None:
    """Copy a .keras archive, replacing its class-names member (or dropping it if None)."""
    from stages.train import model_file

    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            if item.filename != model_file.MEMBER:
                new.writestr(item, old.read(item))
        if content is not None:
            new.writestr(model_file.MEMBER, content)


def rewrite_onnx_metadata(source: Path, target: Path, key: str, value: str | None) -> None:
    """Copy an ONNX model, setting metadata `key` to `value` (or dropping it if None)."""
    import onnx

    proto = onnx.load(source)
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != key]
    del proto.metadata_props[:]
    for k, v in kept + ([] if value is None else [(key, value)]):
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, target)
