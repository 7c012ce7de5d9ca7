"""The network's size, computed before TensorFlow builds it: exact, and used to refuse what cannot
fit in memory."""

import dataclasses
import subprocess
import sys

import pytest

from stages import network, network_size, params
from stages.errors import ParamsError
from tests.helpers.project import REPO, committed_params, write_yaml

DEFAULT = params.load(REPO / "params.yaml", params.Train)
NETWORKS = {
    "mlp": DEFAULT,
    "mlp-bn": dataclasses.replace(DEFAULT, batch_norm=True, hidden_units=[7, 5]),
    "cnn": dataclasses.replace(DEFAULT, architecture="cnn"),
    "cnn-valid-bn": dataclasses.replace(
        DEFAULT,
        architecture="cnn",
        batch_norm=True,
        conv_padding="valid",
        kernel_size=5,
        conv_filters=[8, 16],
        convs_per_block=1,
    ),
    "cnn-no-dense": dataclasses.replace(
        DEFAULT, architecture="cnn", conv_filters=[8, 16, 4], hidden_units=[]
    ),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_the_parameter_count_is_keras_own(name):
    cfg = NETWORKS[name]
    assert network_size.network_size(cfg).parameters == network.build_model(cfg).count_params()


def test_a_network_that_cannot_fit_is_refused_with_the_limit():
    cfg = dataclasses.replace(DEFAULT, hidden_units=[1_000_000_000])
    with pytest.raises(ParamsError) as error:
        network_size.check_fits(cfg, available=16 * 10**9)
    assert str(error.value) == (
        "train: the network would have 795,000,000,010 parameters and need about 6,616.0 GB "
        "to train with batch_size 32, but 16.0 GB of memory is available; make it smaller "
        "(train.hidden_units, train.conv_filters, train.batch_size)"
    )
    assert network_size.check_fits(DEFAULT, available=16 * 10**9).parameters == 266_610


def test_available_memory_reads_memavailable(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 100 kB\nMemAvailable:   2048 kB\n")
    assert network_size.available_memory(meminfo) == 2048 * 1024
    assert network_size.available_memory(tmp_path / "absent") > 0


def test_the_train_stage_refuses_it_in_one_line_before_starting_tensorflow(tmp_path):
    document = committed_params()
    document["train"]["hidden_units"] = [1_000_000_000]
    params_path = write_yaml(tmp_path / "params.yaml", document)
    code = (
        "import sys; from stages import cli, train; "
        "cli.run(lambda: train.main(sys.argv[1:])) if 'tensorflow' not in sys.modules else 0"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "--train=t",
            "--val=v",
            "--model=m",
            "--onnx=o",
            "--live=l",
            "--curves-png=c",
            f"--params={params_path}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: train: the network would have 795,000,000,010")
    assert len(result.stderr.strip().splitlines()) == 1
