import copy
import sys

import pytest

from stages.download import settings as download_settings
from stages.evaluate import settings as evaluate_settings
from stages.predict import settings as predict_settings
from stages.preprocess import settings as preprocess_settings
from stages.shared import fashion_mnist, params
from stages.shared.errors import ParamsError
from stages.train import settings as train_settings
from tests.helpers.project import REPO, committed_dataset, committed_params, write_yaml
from tools import params_reference


@pytest.mark.parametrize("section", params_reference.SECTIONS, ids=lambda s: s.__name__)
def test_committed_params_load_into_every_section(section):
    assert isinstance(params.load(REPO / "params.yaml", section), section)


def test_committed_defaults_are_the_300_100_mlp_script():
    train = params.load(REPO / "params.yaml", train_settings.Train)
    assert (train.hidden_units, train.activation, train.optimizer) == ([300, 100], "relu", "sgd")
    assert (train.learning_rate, train.batch_size, train.epochs) == (0.01, 32, 30)
    preprocess = params.load(REPO / "params.yaml", preprocess_settings.Preprocess)
    assert (preprocess.val_strategy, preprocess.val_size, preprocess.subset) == (
        "head",
        5000,
        None,
    )


def test_committed_training_runs_on_one_device():
    train = params.load(REPO / "params.yaml", train_settings.Train)
    assert (train.distribution, train.cpu_replicas) == ("none", 2)


def test_committed_training_computes_the_same_bytes_on_every_x86_64_cpu():
    assert params.load(REPO / "params.yaml", train_settings.Train).numerics == "portable"


def test_params_yaml_has_exactly_the_stage_sections():
    assert set(committed_params()) == {s.__name__.lower() for s in params_reference.SECTIONS}


def test_committed_dataset_file_loads():
    dataset = params.load(REPO / "dataset.yaml", download_settings.Dataset)
    assert sorted(dataset.sha256) == sorted(fashion_mnist.RAW_FILES)
    assert "/usr/share/datasets/fashion-mnist" in dataset.sources  # what `make setup` installs


def test_params_yaml_holds_no_data_about_the_data_set():
    """Sources and checksums are dataset.yaml's: `dvc exp show` lists what a user tunes."""
    assert set(committed_params()["download"]) == {"timeout"}
    assert list(committed_dataset()) == ["dataset"]


def _file_of(section) -> str:
    """The file that holds `section`: dataset.yaml the data set's, params.yaml a stage's."""
    return "dataset.yaml" if section is download_settings.Dataset else "params.yaml"


def _load_with(tmp_path, section, dotted_key, value, *, delete=False):
    committed = committed_dataset if section is download_settings.Dataset else committed_params
    document = copy.deepcopy(committed())
    *parents, last = dotted_key.split(".")
    node = document
    for part in parents:
        node = node[part]
    if delete:
        del node[last]
    else:
        node[last] = value
    return params.load(write_yaml(tmp_path / _file_of(section), document), section)


BAD_VALUES = [
    (
        train_settings.Train,
        "train.epochs",
        0,
        r"train.epochs=0: must be an integer in \[1, 1000000\]",
    ),
    (train_settings.Train, "train.epochs", -3, "train.epochs=-3: must be"),
    (train_settings.Train, "train.epochs", 2.5, "train.epochs=2.5: expected int"),
    (train_settings.Train, "train.epochs", True, "train.epochs=True: expected int"),
    (train_settings.Train, "train.epochs", "ten", "train.epochs='ten': expected int"),
    (
        train_settings.Train,
        "train.learning_rate",
        0,
        "train.learning_rate=0.0: must be a rate > 0",
    ),
    (
        train_settings.Train,
        "train.learning_rate",
        "fast",
        "train.learning_rate='fast': expected float",
    ),
    (train_settings.Train, "train.dropout", 1.5, r"train.dropout=1.5: must be a rate in \[0, 1\)"),
    (
        train_settings.Train,
        "train.optimizer",
        "rmsprop",
        "train.optimizer='rmsprop': expected one of sgd",
    ),
    (
        train_settings.Train,
        "train.activation",
        "Relu",
        "train.activation='Relu': expected one of relu",
    ),
    (
        train_settings.Train,
        "train.hidden_units",
        [300, 0],
        r"train.hidden_units=\[300, 0\]: must be",
    ),
    (train_settings.Train, "train.hidden_units", 300, "train.hidden_units=300: expected list"),
    (train_settings.Train, "train.hidden_units", [300, "x"], r"train.hidden_units\[1\]='x'"),
    (train_settings.Train, "train.batch_size", 0, "train.batch_size=0"),
    (
        train_settings.Train,
        "train.architecture",
        "vgg",
        "train.architecture='vgg': expected one of",
    ),
    (
        train_settings.Train,
        "train.conv_filters",
        [],
        r"train.conv_filters=\[\]: must be at least one",
    ),
    (train_settings.Train, "train.kernel_size", 4, "train.kernel_size=4: must be 1, 3, 5 or 7"),
    (train_settings.Train, "train.conv_padding", "full", "train.conv_padding='full'"),
    (train_settings.Train, "train.momentum", 1.0, r"train.momentum=1.0: must be in \[0, 1\)"),
    (train_settings.Train, "train.weight_decay", -0.1, "train.weight_decay=-0.1: must be ≥ 0"),
    (
        train_settings.Train,
        "train.schedule",
        "step",
        "train.schedule='step': expected one of constant",
    ),
    (
        train_settings.Train,
        "train.plateau.factor",
        1.5,
        r"train.plateau.factor=1.5: must be a factor",
    ),
    (
        train_settings.Train,
        "train.label_smoothing",
        1,
        r"train.label_smoothing=1.0: must be in \[0, 1\)",
    ),
    (
        train_settings.Train,
        "train.augment.translation",
        0.5,
        "train.augment.translation=0.5: must be",
    ),
    (
        train_settings.Train,
        "train.augment.vertical_flip",
        True,
        "train.augment.vertical_flip: unknown",
    ),
    (
        train_settings.Train,
        "train.augment.erasing",
        1.5,
        "train.augment.erasing=1.5: must be a probab",
    ),
    (
        train_settings.Train,
        "train.residual_blocks",
        0,
        "train.residual_blocks=0: must be an integer",
    ),
    (train_settings.Train, "train.head", "max", "train.head='max'"),
    (
        train_settings.Train,
        "train.head",
        "global_average",
        "must be flatten for train.architecture: mlp",
    ),
    (train_settings.Train, "train.warmup_epochs", 2, "must be 0, or train.schedule: cosine"),
    (
        train_settings.Train,
        "train.pool_first",
        True,
        "train.pool_first=True: must be false unless train.architecture: cnn",
    ),
    (train_settings.Train, "train.stem_stride", 2, "=2: must be 1 for train.architecture: mlp"),
    (train_settings.Train, "train.stem_stride", 3, "train.stem_stride=3: must be 1 or 2"),
    (
        train_settings.Train,
        "train.ema_momentum",
        1,
        r"train.ema_momentum=1.0: must be a momentum in \[0, 1\)",
    ),
    (train_settings.Train, "train.flip_tta", "yes", "train.flip_tta='yes': expected bool"),
    (
        train_settings.Train,
        "train.early_stopping.patience",
        -1,
        "train.early_stopping.patience=-1",
    ),
    (
        train_settings.Train,
        "train.early_stopping.monitor",
        "val_f1",
        "train.early_stopping.monitor=",
    ),
    (
        train_settings.Train,
        "train.early_stopping.enabled",
        "yes",
        "train.early_stopping.enabled='yes'",
    ),
    (train_settings.Train, "train.checkpoint", None, "train.checkpoint: expected a mapping"),
    (
        train_settings.Train,
        "train.distribution",
        "gpu",
        "train.distribution='gpu': expected one of",
    ),
    (
        train_settings.Train,
        "train.distribution",
        None,
        "=None: expected one of none, mirrored, multi_w",
    ),
    (
        train_settings.Train,
        "train.cpu_replicas",
        0,
        r"train.cpu_replicas=0: must be a device count in \[1, 1024\]",
    ),
    (train_settings.Train, "train.cpu_replicas", 2.0, "train.cpu_replicas=2.0: expected int"),
    (
        train_settings.Train,
        "train.numerics",
        "exact",
        "train.numerics='exact': expected one of portable, f",
    ),
    (
        train_settings.Train,
        "train.numerics",
        None,
        "train.numerics=None: expected one of portable, fastest",
    ),
    (
        preprocess_settings.Preprocess,
        "preprocess.val_size",
        0,
        r"preprocess.val_size=0: must be a count in \[1, 59999\] or a fraction in \(0, 1\)",
    ),
    (
        preprocess_settings.Preprocess,
        "preprocess.val_size",
        1.0,
        "preprocess.val_size=1.0: must be",
    ),
    (
        preprocess_settings.Preprocess,
        "preprocess.val_strategy",
        "tail",
        "preprocess.val_strategy='tail'",
    ),
    (
        preprocess_settings.Preprocess,
        "preprocess.subset",
        1,
        "preprocess.subset=1: must be null or",
    ),
    (
        preprocess_settings.Preprocess,
        "preprocess.seed",
        None,
        "preprocess.seed=None: expected int",
    ),
    (
        preprocess_settings.Preprocess,
        "preprocess.seed",
        -1,
        r"preprocess.seed=-1: must be a seed in \[0, 4294967296\)",
    ),
    (
        train_settings.Train,
        "train.seed",
        -1,
        r"train.seed=-1: must be a seed in \[0, 4294967296\)",
    ),
    (
        download_settings.Dataset,
        "dataset.sources",
        [],
        r"dataset.sources=\[\]: must be at least one",
    ),
    (
        download_settings.Dataset,
        "dataset.sources",
        ["/data/fashion-mnist", "http://[::1/x"],
        r"dataset.sources\[1\]='http://\[::1/x': must be an http\(s\) URL with a host and a "
        r"port in \[1, 65535\] \(Invalid IPv6 URL\), or a directory",
    ),
    (
        download_settings.Dataset,
        "dataset.sources",
        ["http://mirror:port/"],
        r"dataset.sources\[0\]='http://mirror:port/': must be .* \(Port could not be cast",
    ),
    (
        download_settings.Dataset,
        "dataset.sources",
        ["https://mirror:65536/"],
        r"sources\[0\]='https://mirror:65536/': must be .* \(Port out of range 0-65535\)",
    ),
    (
        download_settings.Dataset,
        "dataset.sources",
        ["http:///fashion-mnist"],
        r"sources\[0\]='http:///fashion-mnist': must be .* \(no host\), or a directory",
    ),
    (
        download_settings.Download,
        "download.timeout",
        0,
        r"download.timeout=0.0: must be seconds in \(0, 3600\]",
    ),
    (
        download_settings.Download,
        "download.timeout",
        7200,
        r"download.timeout=7200.0: must be seconds in",
    ),
    (
        download_settings.Download,
        "download.timeout",
        float("inf"),
        "download.timeout=inf: expected a finite",
    ),
    (
        train_settings.Train,
        "train.learning_rate",
        float("nan"),
        "learning_rate=nan: expected a finite",
    ),
    (
        download_settings.Dataset,
        "dataset.sha256.t10k-labels-idx1-ubyte",
        "abc",
        "sha256.t10k-labels",
    ),
    (evaluate_settings.Evaluate, "evaluate.samples", 0, "evaluate.samples=0"),
    (
        predict_settings.Predict,
        "predict.count",
        0,
        r"predict.count=0: must be an image count in \[1, 100\]",
    ),
    (predict_settings.Predict, "predict.count", 101, "predict.count=101"),
]


# Past each integer's real range (and float32's), values that passed before and then ended in a
# traceback, a hang or nonsense later.
TOO_LARGE = [
    (
        train_settings.Train,
        "train.epochs",
        10**6 + 1,
        r"train.epochs=1000001: must be an integer in",
    ),
    (train_settings.Train, "train.batch_size", 60_001, r"batch_size=60001: .* in \[1, 60000\]"),
    (
        train_settings.Train,
        "train.cpu_replicas",
        10**9,
        r"train.cpu_replicas=1000000000: must be a device count in \[1, 1024\]",
    ),
    (train_settings.Train, "train.convs_per_block", 33, r"convs_per_block=33: .* in \[1, 32\]"),
    (train_settings.Train, "train.residual_blocks", 21, r"residual_blocks=21: .* in \[1, 20\]"),
    (
        train_settings.Train,
        "train.hidden_units",
        [4] * 33,
        r"train.hidden_units=\[4, .*\]: must be at most 32 layers, with units in \[1, 10+\]",
    ),
    (
        train_settings.Train,
        "train.hidden_units",
        [2**62],
        r"train.hidden_units=\[4611686018427387904\]: must be at most 32 layers",
    ),
    (
        train_settings.Train,
        "train.conv_filters",
        [32, 10**9 + 1],
        r"train.conv_filters=\[32, 1000000001\]: must be at least one block, with filters in",
    ),
    (
        train_settings.Train,
        "train.early_stopping.patience",
        2**40,
        r"train.early_stopping.patience=1099511627776: must be epochs in \[0, 1000000\]",
    ),
    (train_settings.Train, "train.plateau.patience", 2**40, r"plateau.patience=1099511627776"),
    (
        train_settings.Train,
        "train.warmup_epochs",
        2**40,
        r"warmup_epochs=1099511627776: must be epochs in \[0, 1000000\]",
    ),
    (
        train_settings.Train,
        "train.learning_rate",
        1e39,
        r"train.learning_rate=1e\+39: must be at most 3.4e\+38: TensorFlow trains in float32",
    ),
    (train_settings.Train, "train.weight_decay", 1e300, r"weight_decay=1e\+300: must be at most"),
    (
        preprocess_settings.Preprocess,
        "preprocess.val_size",
        60_000,
        r"preprocess.val_size=60000: must be a count in \[1, 59999\] or a fraction",
    ),
    (
        preprocess_settings.Preprocess,
        "preprocess.subset",
        6001,
        r"preprocess.subset=6001: must be null or images per class in \[2, 6000\]",
    ),
]


@pytest.mark.parametrize(("section", "key", "value", "message"), BAD_VALUES + TOO_LARGE)
def test_bad_value_is_named_with_what_is_allowed(tmp_path, section, key, value, message):
    with pytest.raises(ParamsError, match=message) as error:
        _load_with(tmp_path, section, key, value)
    assert str(error.value).startswith(f"{tmp_path / _file_of(section)}: ")


def test_missing_key_is_named(tmp_path):
    with pytest.raises(ParamsError, match="train.seed: missing; add it"):
        _load_with(tmp_path, train_settings.Train, "train.seed", None, delete=True)


def test_missing_nested_key_is_named(tmp_path):
    with pytest.raises(ParamsError, match="train.early_stopping.patience: missing"):
        _load_with(
            tmp_path, train_settings.Train, "train.early_stopping.patience", None, delete=True
        )


def test_unknown_key_is_a_typo(tmp_path):
    with pytest.raises(ParamsError, match="train.epoch: unknown key .* a typo"):
        _load_with(tmp_path, train_settings.Train, "train.epoch", 3)


def test_unknown_sha256_file_is_refused(tmp_path):
    with pytest.raises(ParamsError, match="dataset.sha256=.*must be exactly the keys"):
        _load_with(tmp_path, download_settings.Dataset, "dataset.sha256.extra-file", "0" * 64)


def test_sources_left_in_params_yaml_are_an_unknown_key(tmp_path):
    """params.yaml of before dataset.yaml: the stage names the key that is no longer its."""
    with pytest.raises(ParamsError, match="download.sources: unknown key .allowed: timeout."):
        _load_with(tmp_path, download_settings.Download, "download.sources", ["/data"])


def test_missing_section_is_named(tmp_path):
    document = committed_params()
    del document["predict"]
    with pytest.raises(ParamsError, match="no `predict:` section"):
        params.load(write_yaml(tmp_path / "params.yaml", document), predict_settings.Predict)


@pytest.mark.parametrize("text", ["train: [unclosed", "- just\n- a list\n", ""])
def test_unparseable_or_empty_file_is_refused(tmp_path, text):
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ParamsError):
        params.load(tmp_path / "params.yaml", train_settings.Train)


def _load_spelled(tmp_path, section, dotted_key, spelling: str) -> tuple:
    """params.load of the committed file with `dotted_key`'s value written as the YAML text
    `spelling` (what `write_yaml` cannot write); the file, and the line that holds the value."""
    document = committed_params()
    section_name, key = dotted_key.split(".")
    document[section_name][key] = "SPELLED-HERE"
    path = write_yaml(tmp_path / "params.yaml", document)
    text = path.read_text()
    line = text[: text.index("SPELLED-HERE")].count("\n") + 1
    path.write_text(text.replace("SPELLED-HERE", spelling))
    with pytest.raises(ParamsError) as error:
        params.load(path, section)
    return path, line, str(error.value)


@pytest.mark.parametrize(
    "spelling",
    ["[" * 1000 + "]" * 1000, "{a: " * 1000 + "1" + "}" * 1000],
    ids=["lists", "mappings"],
)
def test_a_value_nested_too_deeply_to_read_is_refused_in_one_line(tmp_path, spelling):
    """Not RecursionError: ruamel.yaml reads nesting by recursion."""
    path, _, message = _load_spelled(
        tmp_path, preprocess_settings.Preprocess, "preprocess.seed", spelling
    )
    assert message == (
        f"{path}: a value nested too deeply to read (hundreds of lists or mappings, one inside "
        "the other); no param nests more than a few: fix that value"
    )


@pytest.mark.parametrize(("extra", "underscore"), [(1, ""), (700, "_")])
def test_an_integer_of_more_digits_than_python_reads_is_refused_in_one_line(
    tmp_path, extra, underscore
):
    """Not ValueError: Python reads no decimal integer of more than
    sys.get_int_max_str_digits() digits (4,300)."""
    limit = sys.get_int_max_str_digits()
    digits = limit + extra
    spelling = "1" + underscore + "0" * (digits - 1)
    path, line, message = _load_spelled(tmp_path, train_settings.Train, "train.seed", spelling)
    assert message == (
        f"{path}: an integer of {digits:,} digits at line {line}, more than the {limit:,} that "
        "Python reads; no param is that large: fix that value"
    )


def test_a_hex_integer_too_long_to_print_is_refused_by_its_size(tmp_path):
    """Python reads a 0x… literal of any length, but will not print it in decimal."""
    path, _, message = _load_spelled(
        tmp_path, train_settings.Train, "train.seed", "0x" + "9" * 5000
    )
    assert message == (
        f"{path}: train.seed=<an integer of 5,000 hex digits>: must be a seed in [0, 4294967296)"
    )


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ParamsError, match="cannot read"):
        params.load(tmp_path / "absent.yaml", train_settings.Train)


@pytest.mark.parametrize(("value", "expected"), [(1, 1.0), (1e-3, 0.001), (0.05, 0.05)])
def test_float_accepts_ints(tmp_path, value, expected):
    train = _load_with(tmp_path, train_settings.Train, "train.learning_rate", value)
    assert train.learning_rate == expected and isinstance(train.learning_rate, float)


@pytest.mark.parametrize(("value", "kind"), [(5000, int), (0.2, float)])
def test_val_size_is_a_count_or_a_fraction(tmp_path, value, kind):
    preprocess = _load_with(tmp_path, preprocess_settings.Preprocess, "preprocess.val_size", value)
    assert preprocess.val_size == value and type(preprocess.val_size) is kind


def test_too_many_valid_blocks_for_28_pixels_are_refused(tmp_path):
    document = committed_params()
    document["train"].update(architecture="cnn", conv_padding="valid", conv_filters=[8, 8, 8])
    with pytest.raises(ParamsError, match="train.conv_filters=.* leave a 1×1 feature map"):
        params.load(write_yaml(tmp_path / "params.yaml", document), train_settings.Train)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"architecture": "cnn", "conv_filters": [4, 8, 16, 32], "stem_stride": 2},
            r"train.conv_filters=\[4, 8, 16, 32\]: must be few enough blocks to leave a 1×1",
        ),
        (
            {"ema_momentum": 0.99, "checkpoint": {"enabled": True, "monitor": "val_loss"}},
            "train.ema_momentum=0.99: must be 0 with train.checkpoint or "
            "early_stopping.restore_best_weights",
        ),
    ],
)
def test_levers_are_refused_beside_settings_that_undo_them(tmp_path, changes, message):
    document = committed_params()
    document["train"].update(changes)
    with pytest.raises(ParamsError, match=message):
        params.load(write_yaml(tmp_path / "params.yaml", document), train_settings.Train)


def test_gelu_cannot_be_exported_in_fastest_numerics(tmp_path):
    document = committed_params()
    document["train"].update(activation="gelu", numerics="fastest")
    with pytest.raises(ParamsError, match="runs Erfc there, which the ONNX export cannot express"):
        params.load(write_yaml(tmp_path / "params.yaml", document), train_settings.Train)
    document["train"]["numerics"] = "portable"
    assert (
        params.load(write_yaml(tmp_path / "p.yaml", document), train_settings.Train).activation
        == "gelu"
    )


@pytest.mark.parametrize(
    ("section", "changes", "message"),
    [
        (
            "train",
            {"optimizer": "adam", "momentum": 0.9},
            r"train.momentum=0.9: must be 0 unless train.optimizer: sgd",
        ),
        (
            "train",
            {"optimizer": "adamw", "nesterov": True},
            r"train.nesterov=True: must be false unless train.optimizer: sgd",
        ),
        (
            "train",
            {"optimizer": "sgd", "weight_decay": 0.0001},
            r"train.weight_decay=0.0001: must be 0 unless train.optimizer: adamw",
        ),
        (
            "preprocess",
            {"subset": 100},
            r"preprocess.val_size=5000: must be 1 to 999 of the 1000 images that "
            r"preprocess.subset=100 keeps",
        ),
        (
            "preprocess",
            {"subset": 100, "val_size": 0.0001},
            r"preprocess.val_size=0.0001: must be 1 to 999 of the 1000 images",
        ),
    ],
)
def test_a_key_that_the_rest_of_its_section_ignores_or_outgrows_is_refused(
    tmp_path, section, changes, message
):
    """Cross-field rules, before any stage runs: a setting the chosen optimizer would ignore,
    a validation set the subset cannot hold."""
    model = {"train": train_settings.Train, "preprocess": preprocess_settings.Preprocess}[section]
    document = committed_params()
    document[section].update(changes)
    with pytest.raises(ParamsError, match=message):
        params.load(write_yaml(tmp_path / "params.yaml", document), model)
