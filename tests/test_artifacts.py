import json

import pytest

from stages import artifacts


class Boom(Exception):
    pass


def test_atomic_path_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(Boom), artifacts.atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        raise Boom
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_path_leaves_nothing_when_there_was_no_file(tmp_path):
    with pytest.raises(Boom), artifacts.atomic_path(tmp_path / "sub" / "model.keras") as tmp:
        assert tmp.suffix == ".keras"
        tmp.write_bytes(b"partial")
        raise Boom
    assert list((tmp_path / "sub").iterdir()) == []


def test_atomic_path_replaces_on_success_with_shareable_permissions(tmp_path):
    target = tmp_path / "a.txt"
    artifacts.write_text(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o644


def test_atomic_dir_swaps_whole_directories(tmp_path):
    target = tmp_path / "raw"
    target.mkdir()
    (target / "old-file").write_text("old")
    with artifacts.atomic_dir(target) as tmp:
        (tmp / "new-file").write_text("new")
        assert (target / "old-file").exists()
    assert [p.name for p in target.iterdir()] == ["new-file"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_atomic_dir_keeps_the_old_directory_when_the_block_fails(tmp_path):
    target = tmp_path / "raw"
    target.mkdir()
    (target / "old-file").write_text("old")
    with pytest.raises(Boom), artifacts.atomic_dir(target) as tmp:
        (tmp / "new-file").write_text("new")
        raise Boom
    assert [p.name for p in target.iterdir()] == ["old-file"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_json_is_sorted_and_ends_with_a_newline(tmp_path):
    artifacts.write_json(tmp_path / "m.json", {"b": 1, "a": 0.5})
    text = (tmp_path / "m.json").read_text()
    assert text.endswith("}\n") and text.index('"a"') < text.index('"b"')
    assert json.loads(text) == {"a": 0.5, "b": 1}
