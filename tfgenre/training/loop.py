"""One training run: config -> data -> model under a strategy -> fit -> run folder.

:func:`train` checks everything it can before the run folder is touched (the names in
the config, the folder: :func:`tfgenre.runs.run_folder.check_run_dir`, the data and the
split to evaluate: :func:`resolve_eval_split`), then writes the folder described in
:mod:`tfgenre.runs.run_folder`. When the evaluation split is empty the run is evaluated on
the validation split (``report_<split>/``), decided before training. The process-wide
state it sets (seeds, op determinism, dtype policy, Keras patches) is restored when it
returns (:mod:`tfgenre.training.state`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from tfgenre.core import config, io, layout
from tfgenre.errors import ConfigError, RecordsError
from tfgenre.runs import run_folder
from tfgenre.tfdata.corrupt_shards import unknown_length_ok
from tfgenre.training.compile import (
    apply_l2,
    class_weight_dict,
    compile_model,
    learning_rate_schedule,
)
from tfgenre.training.fit_config import FitConfig, check_names
from tfgenre.training.inputs import RunData, load_run_data
from tfgenre.training.state import (
    BuildPatch,
    dtype_policy,
    multi_worker_patches,
    policy_name,
    seeded,
)

logger = logging.getLogger(__name__)

#: The sub-folder of a run's backup that holds phase 2 of a fine-tune.
PHASE2_BACKUP = "phase2"


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What a finished run produced.

    Attributes:
        run_dir: The run folder.
        metrics: The evaluation's metrics (None when not evaluated, or not the chief).
        history: Per-epoch values of every logged quantity.
        seconds: Wall time of the run.
        training: What early stopping did and which epoch's weights are scored
            (:func:`tfgenre.training.stopping.stopping_summary`; None off the chief).
    """

    run_dir: str
    metrics: dict[str, Any] | None
    history: dict[str, list[float]]
    seconds: float
    training: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class _Distribution:
    """Where a run's model lives: the strategy, its scope and what the run knows of it."""

    strategy: Any
    scope: Callable[[], Any]  # a fresh scope context manager per call (they are one-shot)
    info: dict[str, Any]
    chief: bool
    patch_build: BuildPatch


def resolve_eval_split(cfg: FitConfig, sizes: dict[str, int], source: str) -> str:
    """The split the finished run is evaluated on, decided before training.

    ``cfg.eval_split`` when it holds examples, else ``cfg.val_split`` (with a warning).

    Args:
        cfg: The fit config.
        sizes: Examples per split of the data.
        source: The records folder or features CSV, for messages.

    Raises:
        ConfigError: when neither split holds examples.
    """
    if sizes.get(cfg.eval_split, 0) > 0:
        return cfg.eval_split
    have = ", ".join(f"{k} ({n})" for k, n in sizes.items() if n > 0) or "none"
    if sizes.get(cfg.val_split, 0) > 0:
        logger.warning(
            "split %r is empty in %s (have: %s): the run is evaluated on %r instead (report_%s/)",
            cfg.eval_split,
            source,
            have,
            cfg.val_split,
            cfg.val_split,
        )
        return cfg.val_split
    raise ConfigError(
        f"split {cfg.eval_split!r} is empty in {source} (have: {have}) and there is no "
        f"{cfg.val_split!r} split to evaluate on instead: give the data a test split "
        "(e.g. --splits train=0.8,test=0.2), or pass --no-evaluate"
    )


def train(
    cfg: FitConfig,
    *,
    evaluate: bool = True,
    extra_callbacks: list[Any] | None = None,
    confusion_images: bool = True,
    overwrite: bool = False,
) -> FitResult:
    """Runs one training job and (by default) evaluates it; see the module docstring.

    Args:
        cfg: The resolved fit config.
        evaluate: Evaluate ``cfg.eval_split`` (``cfg.val_split`` when that is empty) at
            the end and write ``report/`` (``report_<split>/``).
        extra_callbacks: More Keras callbacks (e.g. Optuna's pruning callback); they run
            after the standard ones.
        confusion_images: Log the validation confusion-matrix image every epoch (a
            search turns it off: it costs more than an epoch of a small model).
        overwrite: Replace a finished run, or a run of another config, in ``run_dir``.

    Raises:
        ConfigError: on a bad config (unknown model, option, view...).
        RecordsError: on missing/corrupt records (naming the shard).
    """
    _check_request(cfg)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(seeded(cfg.seed))
        strategy, scope, strategy_info = _strategy_scope(cfg)
        on_tpu = "TPU" in strategy_info.get("name", "")
        stack.enter_context(dtype_policy(policy_name(cfg.mixed_precision, on_tpu)))
        patch_build = stack.enter_context(multi_worker_patches(strategy))
        dist = _Distribution(strategy, scope, strategy_info, _is_chief(strategy), patch_build)
        # Only the chief decides about the folder; the other workers keep their backups.
        if dist.chief:
            run_folder.check_run_dir(cfg, overwrite=overwrite)
        data = load_run_data(cfg, drop_remainder=on_tpu)
        check_model_input(cfg, data)
        eval_split = None
        if evaluate:
            source = cfg.features_csv or cfg.records
            eval_split = resolve_eval_split(cfg, dict(data.run.num_examples), source)
        # Everything is checked: now the folder is made, locked (a second fit into it
        # is refused, naming this pid) and, under the lock, looked at again.
        plan = None
        existed = io.exists(cfg.run_dir)
        if dist.chief:
            stack.enter_context(run_folder.locked(cfg.run_dir))
            plan = run_folder.check_run_dir(cfg, overwrite=overwrite)
        try:
            _prepare_folder(cfg, plan, data, dist)
            callbacks = _callbacks(cfg, data, dist, confusion_images)
            callbacks += list(extra_callbacks or [])
            model, history = _fit_phases(cfg, data, dist, callbacks)
        except ConfigError:
            # Refused while building (an option value, say): a new run leaves nothing.
            if plan is not None and not plan.resume:
                run_folder.undo_new_run(cfg.run_dir)
            stack.close()  # releases the lock, whose file goes with it
            if not existed and io.isdir(cfg.run_dir) and not io.listdir(cfg.run_dir):
                io.rmtree(cfg.run_dir)
            raise
        metrics, training = _finish(cfg, model, data, dist, eval_split, callbacks)
    return FitResult(cfg.run_dir, metrics, history, time.perf_counter() - start, training)


def _check_request(cfg: FitConfig) -> None:
    """Refuses a config that does not ask for one run before anything else happens."""
    if not cfg.run_dir:
        raise ConfigError("run_dir='' must name the run folder")
    if not cfg.records and not cfg.features_csv:
        raise ConfigError("give records (a records folder) or features_csv")
    if cfg.folds and cfg.fold is None:
        raise ConfigError(
            f"folds={cfg.folds} asks for a cross-validation, which is one run per fold: "
            "run it with fit --folds (tfgenre.training.crossval.run_folds), or set folds=0"
        )
    check_names(cfg)


def check_model_input(cfg: FitConfig, data: RunData) -> None:
    """Refuses data the model cannot take, before the run folder is created.

    The model's own input check (:func:`tfgenre.models.registry.check_model`: its
    view, the option names, and for pretrained backbones the sample rate and window
    length their weights need), so that refused records leave no run folder behind
    to block the corrected command.

    Raises:
        ConfigError: naming the model, the value and what to do.
    """
    from tfgenre.models.registry import check_model

    check_model(cfg.model, data.input_spec, len(data.labels), **dict(cfg.model_options))


def _is_chief(strategy: Any) -> bool:
    from tfgenre.training.strategy import is_chief

    return is_chief(strategy) if strategy is not None else True


def _prepare_folder(
    cfg: FitConfig, plan: run_folder.RunDirPlan | None, data: RunData, dist: _Distribution
) -> None:
    """Clears what ``plan`` removes, makes the folder, and (chief) writes its config files."""
    if plan is not None:
        run_folder.clear_run_outputs(cfg.run_dir, plan.remove)
    io.makedirs(cfg.run_dir)
    if dist.chief:
        run_folder.write_run_config(cfg)
        dataclasses.replace(data.run, strategy=dist.info).write(cfg.run_dir)


def _callbacks(
    cfg: FitConfig, data: RunData, dist: _Distribution, confusion_images: bool
) -> list[Any]:
    """The run's callbacks: :class:`~tfgenre.training.epoch_seeds.EpochSeeds`, then the rest.

    :func:`tfgenre.training.callbacks.standard_callbacks`.
    """
    from tfgenre.training.callbacks import standard_callbacks
    from tfgenre.training.epoch_seeds import EpochSeeds

    standard = standard_callbacks(
        cfg.run_dir,
        class_names=data.labels,
        val_data=data.val,
        hparams={**flat_hparams(cfg), "num_classes": len(data.labels)},
        monitor=cfg.monitor if data.val is not None else "loss",
        patience=cfg.early_stopping_patience or 1,
        early_stopping=cfg.early_stopping_patience > 0,
        chief=dist.chief,
        # The image's predict() would run collectives on the chief alone and stall
        # the other workers, so multi-worker runs go without it.
        confusion_matrix=confusion_images and dist.info.get("num_workers", 1) <= 1,
    )
    return [EpochSeeds(cfg.seed, data.epochs), *standard]


def _fit_phases(
    cfg: FitConfig, data: RunData, dist: _Distribution, callbacks: list[Any]
) -> tuple[Any, dict[str, list[float]]]:
    """Builds, compiles and fits the model: one phase, or a fine-tune's two.

    With ``fine_tune.warmup_epochs`` and a model with a ``backbone`` layer, the first
    phase trains with the backbone frozen, the second with its top layers unfrozen at
    ``learning_rate * fine_tune.learning_rate_factor``.

    Returns:
        The trained model and its history.
    """
    from tfgenre.models.registry import get_model

    n_classes = len(data.labels)
    with dist.scope():
        model = get_model(cfg.model, data.input_spec, n_classes, **dict(cfg.model_options))
        apply_l2(model, cfg.optimizer.l2)
        two_phase = cfg.fine_tune.warmup_epochs > 0 and _has_backbone(model)
        first_epochs = min(cfg.fine_tune.warmup_epochs, cfg.epochs) if two_phase else cfg.epochs
        if two_phase:
            from tfgenre.models.backbone import freeze_backbone

            freeze_backbone(model)
        schedule = learning_rate_schedule(cfg, first_epochs * data.steps_per_epoch)
        compile_model(model, cfg, schedule)
        dist.patch_build(model, data.input_spec.shape, n_classes)
    fit_kwargs = dict(
        callbacks=callbacks,
        validation_data=data.val,
        class_weight=class_weight_dict(data.train_counts, cfg.class_weights),
        verbose=2,
    )
    if not two_phase or cfg.epochs <= first_epochs:
        return model, _fit_guarded(model, data, cfg, epochs=first_epochs, **fit_kwargs)
    first_callbacks, second_callbacks, backup_dir = _phase_callbacks(callbacks)
    fit_kwargs["callbacks"] = first_callbacks
    history = _fit_guarded(model, data, cfg, epochs=first_epochs, **fit_kwargs)
    # BackupAndRestore sets Keras' model._initial_epoch on resume, and every later fit
    # of the model starts there: phase 2 would rerun phase 1's resumed epoch.
    model._initial_epoch = None
    from tfgenre.models.backbone import set_trainable_top

    with dist.scope():
        unfrozen = set_trainable_top(model, cfg.fine_tune.unfreeze_top)
        logger.info("fine-tune phase 2: unfroze %d backbone layers", len(unfrozen))
        remaining = (cfg.epochs - first_epochs) * data.steps_per_epoch
        factor = cfg.fine_tune.learning_rate_factor
        compile_model(model, cfg, learning_rate_schedule(cfg, remaining, factor))
        dist.patch_build(model, data.input_spec.shape, n_classes)
    # The HParams callback records one session and refuses a second fit: phase 1 has it.
    fit_kwargs["callbacks"] = [cb for cb in second_callbacks if not _single_fit_only(cb)]
    more = _fit_guarded(
        model, data, cfg, epochs=cfg.epochs, initial_epoch=first_epochs, **fit_kwargs
    )
    for k, v in more.items():
        history.setdefault(k, []).extend(v)
    if backup_dir is not None and io.exists(backup_dir):
        import tensorflow as tf

        tf.io.gfile.rmtree(backup_dir)  # both phases are done: nothing is left to resume
    return model, history


def _backup_callback(callbacks: list[Any]) -> Any | None:
    """The run's ``BackupAndRestore`` callback, or None."""
    import keras

    return next((cb for cb in callbacks if isinstance(cb, keras.callbacks.BackupAndRestore)), None)


def _phase_callbacks(callbacks: list[Any]) -> tuple[list[Any], list[Any], str | None]:
    """The callbacks of the two phases of a fine-tune, each phase with its own backup.

    Phase 1 backs up into the run's backup folder and keeps it when it ends; phase 2
    backs up into its :data:`PHASE2_BACKUP` sub-folder. So a run killed in phase 2, or
    between the phases, reruns phase 1 as a no-op that restores its end state, then
    resumes phase 2 with phase 2's own optimizer state. With one backup for both, the
    rerun's phase 1 restored phase 2's backup into phase 1's optimizer (Keras skipped
    it: "Skipping variable loading for optimizer 'adam' (5 variables, saved 17)"),
    deleted the backup on ending, and phase 2 restarted with a fresh optimizer.

    Returns:
        Phase 1's callbacks, phase 2's, and the backup folder to remove once phase 2
        is done (None when there is no ``BackupAndRestore``: both lists are the same).
    """
    import keras

    backup = _backup_callback(callbacks)
    if backup is None:
        return callbacks, callbacks, None
    index = callbacks.index(backup)

    def with_backup(replacement: Any) -> list[Any]:
        return [*callbacks[:index], replacement, *callbacks[index + 1 :]]

    first = keras.callbacks.BackupAndRestore(
        backup.backup_dir,
        save_freq=backup.save_freq,
        delete_checkpoint=False,
        double_checkpoint=backup.double_checkpoint,
    )
    second = keras.callbacks.BackupAndRestore(
        io.join(backup.backup_dir, PHASE2_BACKUP),
        save_freq=backup.save_freq,
        delete_checkpoint=backup.delete_checkpoint,
        double_checkpoint=backup.double_checkpoint,
    )
    return with_backup(first), with_backup(second), backup.backup_dir


def _finish(
    cfg: FitConfig,
    model: Any,
    data: RunData,
    dist: _Distribution,
    eval_split: str | None,
    callbacks: list[Any],
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Saves the final model (the best checkpoint when there is one) and evaluates it.

    Returns:
        The evaluation's metrics, or None (not evaluated, or not the chief), and what
        early stopping did and which weights are scored (None off the chief).
    """
    from tfgenre.training import stopping

    final = model
    best = io.join(cfg.run_dir, layout.CHECKPOINTS, layout.BEST_CHECKPOINT)
    early = _early_stopping_callback(callbacks)
    if data.val is not None and io.exists(best):
        from tfgenre.models.saving import load_model

        final = load_model(best)
        scored = stopping.BEST_CHECKPOINT
    elif early is not None and early.best_weights is not None:
        scored = stopping.RESTORED  # EarlyStopping put the best weights back at the end
    else:
        scored = stopping.LAST_EPOCH
    if not dist.chief:
        return None, None
    final.save(io.join(cfg.run_dir, layout.MODEL))
    training = _training_summary(cfg, data, early, scored)
    logger.info("%s", training["summary"])
    if eval_split is None:
        return None, training
    from tfgenre.evaluation.predictions import evaluate_run

    note = None
    if eval_split != cfg.eval_split:
        note = f"split {cfg.eval_split!r} is empty: evaluated on {eval_split!r}"
    metrics = evaluate_run(cfg.run_dir, split=eval_split, model=final, note=note, training=training)
    return metrics, training


def _early_stopping_callback(callbacks: list[Any]) -> Any:
    """The run's ``EarlyStopping`` callback, or None when early stopping is off."""
    import keras

    return next((cb for cb in callbacks if isinstance(cb, keras.callbacks.EarlyStopping)), None)


def _training_summary(cfg: FitConfig, data: RunData, early: Any, scored: str) -> dict[str, Any]:
    """:func:`tfgenre.training.stopping.stopping_summary` of the run's ``history.csv``."""
    from tfgenre.evaluation.figures import read_history
    from tfgenre.training.stopping import stopping_summary

    path = io.join(cfg.run_dir, layout.HISTORY_CSV)
    history = read_history(path) if io.exists(path) else {}
    return stopping_summary(
        history,
        epochs=cfg.epochs,
        monitor=cfg.monitor if data.val is not None else "loss",
        patience=cfg.early_stopping_patience,
        early_stopping=early,
        scored=scored,
    )


def _fit_guarded(model: Any, data: RunData, cfg: FitConfig, **kwargs: Any) -> dict[str, list]:
    """``model.fit`` that turns a corrupt record into an error naming the shard."""
    import tensorflow as tf

    try:
        with unknown_length_ok(cfg.skip_corrupt):
            return model.fit(data.train, shuffle=False, **kwargs).history
    except tf.errors.DataLossError as err:
        from tfgenre.records.info import RecordsInfo
        from tfgenre.tfdata.corrupt_shards import find_corrupt_shards

        if not cfg.records:
            raise
        m = RecordsInfo.load(cfg.records)
        paths = [p for s in m.split_names for p in m.shard_paths(cfg.view, s)]
        bad = find_corrupt_shards(paths)
        names = "; ".join(f"{p}: {msg}" for p, msg in bad.items()) or str(err).splitlines()[0]
        raise RecordsError(
            f"corrupt record(s) in {names}. Rewrite the records, or pass --skip-corrupt to "
            "skip what cannot be read (it is counted and reported)"
        ) from err


def _single_fit_only(callback: Any) -> bool:
    """Whether ``callback`` is TensorBoard's HParams callback (valid for one ``fit``)."""
    from tensorboard.plugins.hparams import api as hp

    return isinstance(callback, hp.KerasCallback)


def _has_backbone(model: Any) -> bool:
    try:
        model.get_layer("backbone")
    except ValueError:
        return False
    return True


def flat_hparams(cfg: FitConfig) -> dict[str, Any]:
    """The config as flat ``{"dotted.key": value}`` for TensorBoard's HParams dashboard."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(value, (list, tuple)):
            out[prefix] = ",".join(map(str, value))
        elif value is not None:
            out[prefix] = value

    walk("", config.to_dict(cfg))
    return out


def _strategy_scope(cfg: FitConfig) -> tuple[Any, Callable[[], Any], dict[str, Any]]:
    """The run's strategy (None off TensorFlow), its scope factory and its description."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return (
            None,
            contextlib.nullcontext,
            {"name": f"{keras.backend.backend()} (no tf.distribute)", "num_replicas": 1},
        )
    from tfgenre.training.strategy import describe_strategy, resolve_strategy

    strategy = resolve_strategy(cfg.strategy)
    return strategy, strategy.scope, describe_strategy(strategy)
