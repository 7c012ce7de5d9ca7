"""What `make generate` writes (tools/generated.py): every generated file is current, and the
command writes the stale ones or, with --check, names them."""

import pytest

from tools import generated

FILES = generated.everything()


@pytest.mark.parametrize("path", sorted(FILES), ids=lambda path: path.name)
def test_each_generated_file_is_current(path):
    assert path.read_text(encoding="utf-8") == FILES[path], f"{path}: stale; run make generate"


def test_check_names_a_stale_file_and_a_run_rewrites_it(tmp_path, monkeypatch, capsys):
    page = tmp_path / "page.md"
    page.write_text("old\n")
    module = type("Generator", (), {"generated": staticmethod(lambda: {page: "new\n"})})
    monkeypatch.setattr(generated, "GENERATORS", ("fake",))
    monkeypatch.setattr(generated.importlib, "import_module", lambda name: module)
    monkeypatch.setattr(generated, "REPO", tmp_path)

    assert generated.main(["--check"]) == 1
    assert capsys.readouterr().out == "stale: page.md; run make generate\n"
    assert page.read_text() == "old\n"
    assert generated.main([]) == 0
    assert page.read_text() == "new\n"
    assert generated.main(["--check"]) == 0


def test_a_block_is_replaced_between_its_markers_and_the_rest_stays():
    page = "intro\n<!-- t -->\nold\n<!-- /t -->\nafter\n"
    new = "intro\n<!-- t -->\nnew\n<!-- /t -->\nafter\n"
    assert generated.with_block(page, "t", "new") == new
    with pytest.raises(ValueError):
        generated.with_block("no markers", "t", "new")
