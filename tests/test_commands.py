"""tools.commands: the one way the tools run DVC and git."""

import sys

import pytest

from tools import commands


def test_output_of_a_command_that_succeeds(tmp_path):
    assert commands.git("init", "-q", str(tmp_path)) == ""
    assert commands.git("rev-parse", "--is-inside-work-tree", cwd=tmp_path).strip() == "true"


def test_a_failing_command_names_itself_and_what_it_said(tmp_path):
    with pytest.raises(commands.CommandError) as error:
        commands.dvc("status", cwd=tmp_path)  # not a DVC repository
    message = str(error.value)
    assert message.startswith("`dvc status` failed (exit ")
    assert "you are not inside of a DVC repository" in message
    assert error.value.result.returncode != 0


def test_dvc_runs_with_this_python_whatever_the_path():
    assert commands.dvc_argv("version")[:3] == [sys.executable, "-m", "dvc"]
    assert commands.shown(commands.dvc_argv("exp", "show")) == "dvc exp show"


def test_a_streamed_command_writes_to_our_output_and_a_failure_names_it(capfd):
    commands.stream(
        [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"]
    )
    assert capfd.readouterr() == ("out\n", "err\n")
    with pytest.raises(commands.CommandError) as error:
        commands.stream(commands.dvc_argv("status", "--no-such-flag"))
    assert str(error.value).startswith("`dvc status --no-such-flag` failed (exit ")
    assert str(error.value).endswith("; its output is above")
    assert "unrecognized arguments" in capfd.readouterr().err
