import json

import numpy as np
import pandas as pd
import pytest

from stages.shared import onnx_model, params, splits
from stages.shared.errors import PipelineError
from stages.train import __main__ as train
from stages.train import (
    callbacks,
    fit,
    model_file,
    network,
    run_summary,
    timing,
    training_history,
)
from stages.train import settings as train_settings
from tests.helpers.bad_splits import UNUSABLE_SPLITS
from tests.helpers.project import REPO, write_yaml
from tests.helpers.tiny import tiny_params


def _train_main(tmp_path, tiny_run, document: dict) -> None:
    """Run the train stage in this process on the tiny splits, writing into `tmp_path`."""
    train.main(tiny_run.train_args(tmp_path, write_yaml(tmp_path / "params.yaml", document)))


def _train_cfg(**changes) -> train_settings.Train:
    return params.load(REPO / "params.yaml", train_settings.Train).model_copy(
        update=dict(**changes)
    )


def test_default_model_is_the_300_100_mlp_on_raw_pixels():
    model = network.build_model(_train_cfg())
    assert model.output_shape == (None, 10)
    assert model.input_shape == (None, 28, 28)
    assert model.inputs[0].dtype == "uint8"
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [300, 100, 10]
    assert model.count_params() == (784 * 300 + 300) + (300 * 100 + 100) + (100 * 10 + 10)


def test_model_scales_pixels_itself():
    model = network.build_model(_train_cfg(hidden_units=[]))
    scale = model.get_layer("scale")
    np.testing.assert_allclose(scale(np.full((1, 28, 28), 255, np.uint8)).numpy().max(), 1.0)


def test_dropout_is_added_after_each_hidden_layer():
    model = network.build_model(_train_cfg(hidden_units=[64, 32], dropout=0.25))
    rates = [layer.rate for layer in model.layers if layer.name.startswith("dropout")]
    assert rates == [0.25, 0.25]


def test_fit_on_tiny_data_learns_and_logs_every_epoch_through_dvclive(tiny_run):
    history = training_history.read(tiny_run.history)
    assert list(history.index) == [1, 2]
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    np.testing.assert_allclose(history["learning_rate"], 0.05)
    metrics = json.loads(tiny_run.train_metrics.read_text())
    assert metrics["epochs_run"] == 2 and metrics["saved_epoch"] == 2 and metrics["step"] == 1
    # dvclive's summary holds the last epoch, ours the best one; both named by split.
    assert metrics["val"]["accuracy"] == pytest.approx(history["val_accuracy"].iloc[-1])
    assert metrics["val"]["accuracy"] > 0.5  # chance is 0.1
    assert metrics["best"]["val"]["loss"] == round(history["val_loss"].min(), 6)
    assert list(metrics)[:3] == ["val", "train", "learning_rate"]  # validation first
    assert metrics["parameters"] == 784 * 32 + 32 + 32 * 10 + 10
    assert sorted(p.name for p in tiny_run.live.iterdir()) == ["metrics.json", "plots"]


def test_saved_model_reloads_and_predicts_probabilities(tiny_run):
    model = model_file.load(tiny_run.model)
    images, _ = splits.read_split(tiny_run.test)
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (len(images), 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_several_steps_per_call_only_without_tf_distribute():
    cfg = _train_cfg(steps_per_execution=32, distribution="mirrored")
    assert network.steps_per_execution(cfg, distributed=False) == 32
    assert network.steps_per_execution(cfg, distributed=True) == 1  # Keras 3.15 fails with more


HISTORY = pd.DataFrame(
    {
        "loss": [1.0, 0.6, 0.5, 0.55],
        "accuracy": [0.5, 0.7, 0.8, 0.8],
        "val_loss": [0.9, 0.7, 0.75, 0.8],
        "val_accuracy": [0.6, 0.7, 0.72, 0.72],
    },
    index=pd.RangeIndex(1, 5, name="epoch"),
)


@pytest.mark.parametrize(
    ("monitor", "epoch"), [("val_loss", 2), ("val_accuracy", 3), ("loss", 3), ("accuracy", 3)]
)
def test_best_epoch_follows_the_monitor_direction_and_first_tie(monitor, epoch):
    assert run_summary.best_epoch(HISTORY, monitor) == epoch


def test_saved_epoch_is_what_the_callbacks_keep():
    cfg = _train_cfg()
    assert run_summary.saved_epoch(HISTORY, cfg) == 4
    stopping = cfg.early_stopping.model_copy(update=dict(enabled=True, monitor="val_loss"))
    assert (
        run_summary.saved_epoch(HISTORY, cfg.model_copy(update=dict(early_stopping=stopping))) == 2
    )
    checkpoint = train_settings.Checkpoint(enabled=True, monitor="val_accuracy")
    assert (
        run_summary.saved_epoch(HISTORY, cfg.model_copy(update=dict(checkpoint=checkpoint))) == 3
    )


def test_a_validation_loss_that_is_nan_throughout_is_a_divergence():
    """Measured: a cnn of 4 blocks × 32 convolutions with batch norm on the tiny data, its
    training loss finite, its validation loss NaN; the summary's best epoch then failed."""
    history = HISTORY.assign(val_loss=np.nan)
    with pytest.raises(PipelineError) as error:
        run_summary.check_converged(history, _train_cfg())
    assert str(error.value) == (
        "training diverged: the val_loss is nan at epoch 1; lower train.learning_rate (now 0.01)"
    )


def test_training_summary_adds_the_best_epoch_values():
    metrics = run_summary.training_summary(HISTORY, _train_cfg(), parameters=1234)
    assert metrics["best"] == {
        "train": {"loss": 0.5, "accuracy": 0.8},
        "val": {"loss": 0.7, "accuracy": 0.72},
    }
    assert (metrics["epochs_run"], metrics["best_val_loss_epoch"], metrics["parameters"]) == (
        4,
        2,
        1234,
    )


def test_checkpoint_and_early_stopping_save_the_best_epoch(tmp_path, tiny_run, tiny_source):
    document = tiny_params(tiny_source)
    document["train"].update(
        epochs=6,
        learning_rate=0.5,  # large on purpose: validation accuracy goes up and down
        checkpoint={"enabled": True, "monitor": "val_loss"},
        early_stopping={
            "enabled": True,
            "monitor": "val_loss",
            "patience": 1,
            "restore_best_weights": True,
        },
    )
    out = tmp_path / "model.keras"
    _train_main(tmp_path, tiny_run, document)
    history = training_history.read(tmp_path / "live/plots/metrics")
    metrics = json.loads((tmp_path / "live/metrics.json").read_text())
    assert metrics["saved_epoch"] == int(history["val_loss"].idxmin())
    images, labels = splits.read_split(tiny_run.val)
    val_loss = model_file.load(out).evaluate(
        images, fit.one_hot(labels), verbose=0, return_dict=True
    )["loss"]
    assert val_loss == pytest.approx(history["val_loss"].min(), rel=1e-4)
    names = ["curves.png", "live", "model.keras", "model.onnx", "params.yaml", "time.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_diverged_training_is_refused_and_saves_nothing(tmp_path, tiny_run, tiny_source):
    document = tiny_params(tiny_source)
    document["train"].update(learning_rate=1e12, epochs=3)
    with pytest.raises(PipelineError, match="training diverged: the loss is nan at epoch 1"):
        _train_main(tmp_path, tiny_run, document)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


@pytest.mark.parametrize("flag", ["train", "val"])
@pytest.mark.parametrize(("write", "problem"), UNUSABLE_SPLITS)
def test_an_empty_or_misformatted_split_is_refused_before_training(
    tmp_path, tiny_run, tiny_source, flag, write, problem
):
    """Not KeyError: 'accuracy' after a fit of no step, nor a TypeError: one line, nothing
    written."""
    split = tmp_path / "prepared" / f"{flag}.npz"
    split.parent.mkdir()
    write(split)
    out = tmp_path / "out"
    params_path = write_yaml(tmp_path / "params.yaml", tiny_params(tiny_source))
    with pytest.raises(PipelineError) as error:
        train.main([*tiny_run.train_args(out, params_path), f"--{flag}={split}"])
    assert str(error.value) == f"{split}: {problem}; re-run `dvc repro preprocess`"
    assert not out.exists()


ARCHITECTURES = {
    "mlp": {},
    "mlp-bn-dropout": {"batch_norm": True, "dropout": 0.3, "hidden_units": [16, 8]},
    "cnn-same": {"architecture": "cnn", "conv_filters": [4, 8], "hidden_units": [16]},
    "cnn-valid-bn": {
        "architecture": "cnn",
        "conv_filters": [4, 8],
        "conv_padding": "valid",
        "batch_norm": True,
        "hidden_units": [],
    },
    "cnn-augmented": {
        "architecture": "cnn",
        "conv_filters": [4],
        "convs_per_block": 1,
        "kernel_size": 5,
        "augment": train_settings.Augment(translation=0.1, horizontal_flip=True, erasing=0.5),
    },
    "cnn-global-average": {"architecture": "cnn", "conv_filters": [4], "head": "global_average"},
    "resnet": {
        "architecture": "resnet",
        "conv_filters": [4, 8, 8],
        "residual_blocks": 2,
        "batch_norm": True,
        "head": "global_average",
        "hidden_units": [],
    },
}


def test_resnet_stages_halve_the_maps_and_add_shortcuts():
    cfg = _train_cfg(
        architecture="resnet", conv_filters=[4, 8, 16], residual_blocks=2, hidden_units=[]
    )
    model = network.build_model(cfg)
    shapes = {layer.name: layer.output.shape[1:] for layer in model.layers}
    assert shapes["stage1_block2_add"] == (28, 28, 4)
    assert shapes["stage2_block1_add"] == (14, 14, 8)
    assert shapes["stage3_block2_add"] == (7, 7, 16)
    # A projection where the width or size changes; identity shortcuts elsewhere.
    projections = sorted(n for n in shapes if n.endswith("_shortcut"))
    assert projections == ["stage2_block1_shortcut", "stage3_block1_shortcut"]
    assert shapes["flatten"] == (7 * 7 * 16,)


def test_erasing_alone_is_active_in_training_only_and_leaves_the_exported_model(tiny_run):
    cfg = _train_cfg(
        augment=train_settings.Augment(translation=0.0, horizontal_flip=False, erasing=1.0)
    )
    model = network.build_model(cfg)
    assert "random_erasing" in [layer.name for layer in model.layers]
    images, _ = splits.read_split(tiny_run.test)
    plain = model.predict(images, verbose=0)
    assert not np.allclose(np.asarray(model(images, training=True)), plain)
    exported = network.inference_model(model, cfg)
    assert "random_erasing" not in [layer.name for layer in exported.layers]
    np.testing.assert_array_equal(exported.predict(images, verbose=0), plain)


def test_warmup_rises_linearly_then_the_cosine_decays_to_zero():
    cfg = _train_cfg(schedule="cosine", warmup_epochs=2, epochs=4, learning_rate=0.1)
    schedule = network.learning_rate(cfg, steps_per_epoch=10)
    rates = [float(schedule(step)) for step in range(0, 41, 5)]
    assert rates == pytest.approx([0, 0.025, 0.05, 0.075, 0.1, 0.0854, 0.05, 0.0146, 0], abs=1e-4)


@pytest.mark.parametrize("changes", ARCHITECTURES.values(), ids=ARCHITECTURES.keys())
def test_every_architecture_builds_and_trains_a_step(changes, tiny_run):
    cfg = _train_cfg(**changes)
    images, labels = splits.read_split(tiny_run.train)
    model = network.build_model(cfg)
    assert model.output_shape == (None, 10)
    network.compile_model(model, cfg, steps_per_epoch=2)
    history = model.fit(images[:32], fit.one_hot(labels[:32]), batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_augmentation_is_active_in_training_only(tiny_run):
    cfg = _train_cfg(
        augment=train_settings.Augment(translation=0.2, horizontal_flip=True, erasing=0.5)
    )
    model = network.build_model(cfg)
    images, _ = splits.read_split(tiny_run.test)
    first, second = model.predict(images, verbose=0), model.predict(images, verbose=0)
    np.testing.assert_array_equal(first, second)
    augmented = np.asarray(model(images, training=True))
    assert not np.allclose(augmented, first)


@pytest.mark.parametrize(
    ("optimizer", "changes", "attributes"),
    [
        ("sgd", {"momentum": 0.9, "nesterov": True}, {"momentum": 0.9, "nesterov": True}),
        ("adam", {}, {"beta_1": 0.9}),
        ("adamw", {"weight_decay": 0.05}, {"weight_decay": 0.05}),
    ],
)
def test_optimizer_settings_reach_keras(optimizer, changes, attributes):
    cfg = _train_cfg(optimizer=optimizer, label_smoothing=0.1, **changes)
    model = network.build_model(cfg)
    network.compile_model(model, cfg, steps_per_epoch=10)
    assert type(model.optimizer).__name__.lower() == optimizer
    for name, value in attributes.items():
        assert getattr(model.optimizer, name) == pytest.approx(value)
    assert model.loss.label_smoothing == pytest.approx(0.1)


def test_cosine_schedule_decays_to_zero_over_all_steps():
    schedule = network.learning_rate(
        _train_cfg(schedule="cosine", epochs=3, learning_rate=0.1), 10
    )
    rates = [float(schedule(step)) for step in (0, 15, 30)]
    assert rates == pytest.approx([0.1, 0.05, 0.0], abs=1e-7)
    assert network.learning_rate(_train_cfg(schedule="constant", learning_rate=0.1), 10) == 0.1


def test_logged_learning_rate_follows_the_cosine_schedule(tmp_path, tiny_run, tiny_source):
    document = tiny_params(tiny_source)
    document["train"].update(schedule="cosine", epochs=2)
    _train_main(tmp_path, tiny_run, document)
    # 0.05 × (1 + cos(π × epoch / 2)) / 2 at the end of epochs 1 and 2
    rates = training_history.read(tmp_path / "live/plots/metrics")["learning_rate"]
    assert rates.tolist() == pytest.approx([0.025, 0.0], abs=1e-6)


def test_plateau_schedule_adds_keras_reduce_on_plateau(tmp_path):
    cfg = _train_cfg(schedule="plateau", plateau=train_settings.Plateau(factor=0.2, patience=4))
    model = network.build_model(cfg)

    class Live:
        def log_metric(self, *args):
            pass

    built = callbacks.build_callbacks(cfg, model, Live(), callbacks.epoch_timer())
    (plateau,) = [c for c in built if type(c).__name__ == "ReduceLROnPlateau"]
    assert (plateau.factor, plateau.patience, plateau.monitor) == (0.2, 4, "val_loss")


def test_a_stride_2_stem_quarters_every_later_map():
    cnn = network.build_model(
        _train_cfg(architecture="cnn", conv_filters=[4, 8], stem_stride=2, hidden_units=[])
    )
    shapes = {layer.name: layer.output.shape[1:] for layer in cnn.layers}
    assert shapes["block1_conv1_relu"] == (14, 14, 4) and shapes["block2_pool"] == (3, 3, 8)
    resnet = network.build_model(
        _train_cfg(architecture="resnet", conv_filters=[4, 8], stem_stride=2, hidden_units=[])
    )
    shapes = {layer.name: layer.output.shape[1:] for layer in resnet.layers}
    assert shapes["stem"] == (14, 14, 4) and shapes["stage2_block1_add"] == (7, 7, 8)


def test_pool_first_pools_each_blocks_last_convolution_before_its_norm_and_activation():
    cfg = _train_cfg(
        architecture="cnn",
        conv_filters=[4, 8],
        convs_per_block=2,
        batch_norm=True,
        pool_first=True,
        hidden_units=[],
    )
    model = network.build_model(cfg)
    names = [layer.name for layer in model.layers]
    for block in (1, 2):
        conv1, conv2, pool = (f"block{block}_conv1", f"block{block}_conv2", f"block{block}_pool")
        assert names.index(f"{conv1}_bn") < names.index(conv2) < names.index(pool)
        assert names.index(pool) < names.index(f"{conv2}_bn") < names.index(f"{conv2}_relu")
    plain = network.build_model(cfg.model_copy(update={"pool_first": False}))
    assert model.output_shape == plain.output_shape
    assert model.count_params() == plain.count_params()


def test_ema_saves_the_average_not_the_last_step(tiny_run):
    """The weights at the end of the last epoch are the raw ones; fit then puts the average in."""
    cfg = _train_cfg(ema_momentum=0.9, hidden_units=[16])
    images, labels = splits.read_split(tiny_run.train)
    model = network.build_model(cfg)
    network.compile_model(model, cfg, steps_per_epoch=4)
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == pytest.approx(0.9)
    raw = {}

    def keep_raw(epoch, logs):
        raw["weights"] = [w.copy() for w in model.get_weights()]

    import keras

    model.fit(
        images,
        fit.one_hot(labels),
        batch_size=16,
        epochs=2,
        verbose=0,
        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=keep_raw)],
    )
    average = model.optimizer._model_variables_moving_average  # Keras' own copy
    for variable, mean in zip(model.trainable_variables, average, strict=True):
        np.testing.assert_array_equal(variable.numpy(), mean.numpy())
    first_kernel = model.get_layer("hidden_1").get_weights()[0]
    assert not np.array_equal(first_kernel, raw["weights"][0])


def test_flip_tta_ships_a_mirror_invariant_model_that_evaluate_scores(
    tmp_path, tiny_run, tiny_source
):
    document = tiny_params(tiny_source)
    document["train"].update(flip_tta=True, ema_momentum=0.5)
    _train_main(tmp_path, tiny_run, document)
    classifier = onnx_model.load(tmp_path / "model.onnx")
    images, _ = splits.read_split(tiny_run.test)
    probabilities = classifier.predict(images, batch_size=8)
    mirrored = classifier.predict(images[:, :, ::-1].copy(), batch_size=8)
    np.testing.assert_allclose(probabilities, mirrored, atol=1e-6)
    keras_model = model_file.load(tmp_path / "model.keras")
    by_hand = (
        keras_model.predict(images, verbose=0) + keras_model.predict(images[:, :, ::-1], verbose=0)
    ) / 2
    np.testing.assert_allclose(probabilities, by_hand, atol=1e-5)
    assert not np.allclose(probabilities, keras_model.predict(images, verbose=0), atol=1e-4)


def test_time_metrics_say_how_many_cores_the_fit_kept_busy():
    record = timing.Timing(10.0, [4.0, 6.0], 100, cpu_seconds=17.0)
    assert timing.time_metrics(record) == {
        "train_seconds": 10.0,
        "seconds_per_epoch": 5.0,
        "images_per_second": 20,
        "cores_used": 1.7,
    }
