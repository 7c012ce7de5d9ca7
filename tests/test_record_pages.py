"""The docs' tables of the committed records (presets, frontier) say what the files say."""

import pytest

from tools import record_pages


def test_a_block_is_replaced_between_its_markers_and_the_rest_stays():
    page = "intro\n<!-- t -->\nold\n<!-- /t -->\nafter\n"
    assert (
        record_pages.with_block(page, "t", "new") == "intro\n<!-- t -->\nnew\n<!-- /t -->\nafter\n"
    )
    with pytest.raises(ValueError):
        record_pages.with_block("no markers", "t", "new")
