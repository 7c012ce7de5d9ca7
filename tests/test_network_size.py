"""The network's size, read from the network Keras builds before any weight is allocated: exact for
every architecture and head, and used to refuse what cannot fit in memory, in one line naming the
key to change."""

import random

import numpy as np
import pytest

from stages.shared import params
from stages.shared.errors import ParamsError
from stages.train import __main__ as train
from stages.train import network, network_size
from stages.train import settings as train_settings
from tests.helpers.project import REPO, committed_params, write_yaml

DEFAULT = params.load(REPO / "params.yaml", train_settings.Train)


def _train(**changes) -> train_settings.Train:
    """The committed train params with `changes`, validated."""
    return params.validate(train_settings.Train, {**DEFAULT.model_dump(), **changes})


NETWORKS = {
    "mlp": {},
    "mlp-bn": dict(batch_norm=True, hidden_units=[7, 5]),
    "cnn": dict(architecture="cnn"),
    "cnn-valid-bn": dict(
        architecture="cnn",
        batch_norm=True,
        conv_padding="valid",
        kernel_size=5,
        conv_filters=[8, 16],
        convs_per_block=1,
    ),
    "cnn-no-dense-average": dict(
        architecture="cnn", conv_filters=[8, 16, 4], hidden_units=[], head="global_average"
    ),
    "resnet": dict(architecture="resnet", conv_filters=[8, 16], hidden_units=[]),
    "resnet-bn-average": dict(
        architecture="resnet",
        conv_filters=[8, 16, 32],
        residual_blocks=2,
        batch_norm=True,
        head="global_average",
        hidden_units=[12],
    ),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_the_parameter_count_is_keras_own(name):
    cfg = _train(**NETWORKS[name])
    assert network_size.network_size(cfg).parameters == network.build_model(cfg).count_params()


def test_measuring_leaves_the_network_trained_after_unchanged():
    """The stage measures, then builds: the same names, seeds and initial weights as without."""
    cfg = _train(architecture="cnn", conv_filters=[4], hidden_units=[8])

    def built(measure_first: bool):
        random.seed(7)
        if measure_first:
            network_size.network_size(cfg)
        model = network.build_model(cfg)
        return model.to_json(), [w.copy() for w in model.get_weights()]

    unmeasured, measured = built(False), built(True)
    assert measured[0] == unmeasured[0]
    for a, b in zip(measured[1], unmeasured[1], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        (dict(hidden_units=[1_000_000_000]), "hidden_units"),
        (dict(architecture="cnn", conv_filters=[30_000]), "conv_filters"),
        (dict(architecture="resnet", conv_filters=[30_000], hidden_units=[]), "conv_filters"),
        (
            dict(
                architecture="resnet", conv_filters=[64], head="global_average", batch_size=60_000
            ),
            "batch_size",
        ),
    ],
)
def test_a_network_that_cannot_fit_is_refused_naming_the_key_and_the_limit(changes, key):
    cfg = _train(**changes)
    with pytest.raises(ParamsError) as error:
        network_size.check_fits(cfg, available=16 * 10**9)
    message = str(error.value)
    assert message.startswith(f"train.{key}={getattr(cfg, key)!r}: the network would have ")
    assert "but 16.0 GB of memory is available; make train." in message
    assert "\n" not in message


def test_the_size_of_the_widest_network_allowed_is_exact():
    """10⁹ filters, then 10⁹ units after the flattened 14×14 maps: a kernel of 1.96·10²⁰ weights,
    beyond NumPy's int64, counted exactly."""
    w = train_settings.MAX_WIDTH
    cfg = _train(architecture="cnn", conv_filters=[w], hidden_units=[w], batch_norm=False)
    convolutions = (9 * 1 * w + w) + (9 * w * w + w)
    dense = (14 * 14 * w * w + w) + (w * 10 + 10)
    assert network_size.network_size(cfg).parameters == convolutions + dense


def test_the_default_network_fits():
    assert network_size.check_fits(DEFAULT, available=16 * 10**9).parameters == 266_610


def test_available_memory_reads_memavailable(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 100 kB\nMemAvailable:   2048 kB\n")
    assert network_size.available_memory(meminfo) == 2048 * 1024
    assert network_size.available_memory(tmp_path / "absent") > 0


def test_the_train_stage_refuses_the_huge_resnet_in_one_line_and_writes_nothing(tmp_path):
    document = committed_params()
    document["train"].update(architecture="resnet", conv_filters=[30000], hidden_units=[])
    params_path = write_yaml(tmp_path / "params.yaml", document)
    outputs = [f"--{flag}={tmp_path / name}" for flag, name in OUTPUTS.items()]
    with pytest.raises(ParamsError) as error:
        train.main(["--train=t", "--val=v", *outputs, f"--params={params_path}"])
    assert str(error.value).startswith("train.conv_filters=[30000]: the network would have")
    assert "\n" not in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


OUTPUTS = {
    "model": "m.keras",
    "onnx": "m.onnx",
    "live": "live",
    "curves-png": "c.png",
    "time": "t.json",
}
