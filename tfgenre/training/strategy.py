"""Choosing a ``tf.distribute`` strategy: default, Mirrored, MultiWorkerMirrored or TPU.

``resolve_strategy("auto")`` picks, in order: a TPU when one is reachable, a
MultiWorkerMirroredStrategy when ``TF_CONFIG`` names several workers, a
MirroredStrategy over all GPUs when there is more than one, and the default strategy
otherwise. Build and compile the model inside ``strategy.scope()``.

In a multi-worker job every worker runs the same program; only the chief
(:func:`is_chief`) should write checkpoints, TensorBoard logs and reports.

To exercise MirroredStrategy on a CPU-only machine, split the CPU into logical devices
before TensorFlow initialises its runtime::

    configure_logical_cpus(2)
    strategy = resolve_strategy("mirrored")   # 2 replicas on /cpu:0 and /cpu:1
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import tensorflow as tf

from tfgenre.errors import ConfigError, TfgenreError

logger = logging.getLogger(__name__)

__all__ = [
    "STRATEGIES",
    "TPUNotFoundError",
    "choose_strategy_name",
    "configure_logical_cpus",
    "describe_devices",
    "describe_strategy",
    "is_chief",
    "log_device",
    "resolve_strategy",
    "task_info",
]

STRATEGIES: tuple[str, ...] = ("auto", "default", "mirrored", "multi_worker", "tpu")


class TPUNotFoundError(TfgenreError, RuntimeError):
    """``strategy='tpu'`` was requested but no TPU could be found or connected."""


def _tf_config() -> dict[str, Any]:
    """Parses the ``TF_CONFIG`` environment variable ({} when unset or empty)."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise ConfigError(f"TF_CONFIG={raw!r} must be a JSON object")
    return config


def _num_workers() -> int:
    """Number of training workers (chief included) that ``TF_CONFIG`` names."""
    cluster = _tf_config().get("cluster", {}) or {}
    return len(cluster.get("chief", [])) + len(cluster.get("worker", []))


def task_info() -> tuple[str | None, int]:
    """Returns this process's ``(task_type, task_id)`` from ``TF_CONFIG``.

    Returns:
        ``(None, 0)`` without ``TF_CONFIG``, else e.g. ``("worker", 1)``.
    """
    task = _tf_config().get("task", {}) or {}
    task_type = task.get("type")
    return (str(task_type) if task_type is not None else None, int(task.get("index", 0)))


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process should write checkpoints, logs and reports.

    True for a single-process run, for the ``chief`` task, and for ``worker`` 0 when the
    cluster has no ``chief``; false for other workers, evaluators and parameter servers.

    Args:
        strategy: When given and it knows (MultiWorkerMirroredStrategy), its own
            ``extended.should_checkpoint`` decides.

    Returns:
        True when this process is the chief.
    """
    if strategy is not None:
        should = getattr(strategy.extended, "should_checkpoint", None)
        if isinstance(should, bool):
            return should
    config = _tf_config()
    task_type, task_id = task_info()
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    if task_type == "worker":
        cluster = config.get("cluster", {}) or {}
        return not cluster.get("chief") and task_id == 0
    return False


def configure_logical_cpus(n: int) -> list[str]:
    """Splits the first physical CPU into ``n`` logical devices.

    Must run before TensorFlow initialises its runtime (before any op, tensor or
    strategy is created); calling it again with the same ``n`` afterwards is harmless.

    Args:
        n: Number of logical CPU devices, >= 1.

    Returns:
        The logical CPU device names, e.g. ``["/device:CPU:0", "/device:CPU:1"]``.

    Raises:
        ConfigError: If ``n`` < 1.
        TfgenreError: If the runtime is already initialised with another layout.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n={n!r} must be an integer >= 1")
    cpus = tf.config.list_physical_devices("CPU")
    if not cpus:
        raise TfgenreError("no physical CPU device is visible to TensorFlow")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )
    except RuntimeError as error:
        current = tf.config.list_logical_devices("CPU")
        if len(current) != n:
            raise TfgenreError(
                f"cannot split the CPU into n={n} logical devices: TensorFlow is already "
                f"initialised with {len(current)}; call configure_logical_cpus first"
            ) from error
    # Built rather than listed: listing would initialise the runtime.
    names = [f"/device:CPU:{index}" for index in range(n)]
    logger.info("logical CPU devices: %s", names)
    return names


def _tpu_resolver(tpu: str | None) -> Any:
    """Returns a connected ``TPUClusterResolver`` or raises :class:`TPUNotFoundError`."""
    candidates: list[str | None] = [tpu]
    if tpu is None and (os.path.exists("/dev/accel0") or os.path.exists("/dev/vfio/0")):
        candidates.append("local")  # Cloud TPU VM: the TPU is attached to this host.
    errors: list[str] = []
    for candidate in candidates:
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=candidate)
            if candidate != "local":
                tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return resolver
        except (ValueError, RuntimeError, ImportError, OSError, tf.errors.OpError) as error:
            errors.append(f"tpu={candidate!r}: {error}")
    raise TPUNotFoundError(
        "strategy='tpu' requested but no TPU was found ("
        + "; ".join(errors)
        + "). On Colab pick a TPU runtime; elsewhere pass the TPU name or set TPU_NAME."
    )


def _tpu_available(tpu: str | None) -> Any | None:
    """A connected TPU resolver when a TPU is reachable, else None (never raises).

    Only probes when something hints at a TPU (an explicit ``tpu``, ``TPU_NAME``,
    ``COLAB_TPU_ADDR``, ``TPU_CONFIG`` or a TPU VM's ``/dev/accel0``), so that ``auto``
    stays instant and never touches the network elsewhere.
    """
    hints = (
        bool(tpu)
        or bool(os.environ.get("TPU_NAME"))
        or bool(os.environ.get("COLAB_TPU_ADDR"))
        or bool(os.environ.get("TPU_CONFIG"))
        or os.path.exists("/dev/accel0")
    )
    if not hints:
        return None
    try:
        return _tpu_resolver(tpu)
    except TPUNotFoundError as error:
        logger.info("no TPU: %s", error)
        return None


def _choose_without_tpu() -> str:
    if _num_workers() > 1:
        return "multi_worker"
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def choose_strategy_name(tpu: str | None = None) -> str:
    """The concrete strategy ``auto`` would pick on this machine.

    Checks, in order: a reachable TPU, ``TF_CONFIG`` with more than one worker, more
    than one GPU; otherwise ``default``. Probing a TPU may initialise it.

    Args:
        tpu: TPU name or address passed to ``TPUClusterResolver``; None to discover.

    Returns:
        One of ``tpu``, ``multi_worker``, ``mirrored``, ``default``.
    """
    if _tpu_available(tpu) is not None:
        return "tpu"
    return _choose_without_tpu()


def resolve_strategy(name: str = "auto", *, tpu: str | None = None) -> tf.distribute.Strategy:
    """Creates the distribution strategy called ``name``.

    Args:
        name: ``auto`` (see :func:`choose_strategy_name`), ``default`` (one device),
            ``mirrored`` (all GPUs of this machine, or all logical CPUs when there is
            no GPU), ``multi_worker`` (MultiWorkerMirroredStrategy from ``TF_CONFIG``)
            or ``tpu``.
        tpu: TPU name or address for ``TPUClusterResolver``; None to discover (Colab,
            ``TPU_NAME``, or a TPU VM's local TPU).

    Returns:
        The strategy; build and compile models inside ``strategy.scope()``.

    Raises:
        ConfigError: For an unknown name.
        TPUNotFoundError: When ``tpu`` is requested and no TPU is reachable.
    """
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})")
    resolver = None
    if name == "auto":
        resolver = _tpu_available(tpu)
        name = "tpu" if resolver is not None else _choose_without_tpu()
    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            strategy = tf.distribute.MirroredStrategy()
        else:
            cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
            strategy = tf.distribute.MirroredStrategy(devices=cpus)
    elif name == "multi_worker":
        if _num_workers() <= 1:
            logger.warning("strategy=multi_worker without a multi-worker TF_CONFIG: one worker")
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        resolver = resolver or _tpu_resolver(tpu)
        strategy = tf.distribute.TPUStrategy(resolver)
    log_device(strategy)
    logger.info("distribution strategy: %s", describe_strategy(strategy))
    return strategy


def describe_devices(strategy: tf.distribute.Strategy | None = None) -> str:
    """One line saying what TensorFlow computes on, e.g. ``device: 1 GPU (NVIDIA H200)``.

    Args:
        strategy: The strategy in use; a TPU strategy is described by its TPU cores.

    Returns:
        ``device: CPU (no GPU found)``, ``device: N GPU(s) (names)`` or ``device: TPU
        (N cores)``.
    """
    if strategy is not None and describe_strategy(strategy)["name"] == "tpu":
        cores = len(tf.config.list_logical_devices("TPU")) or strategy.num_replicas_in_sync
        return f"device: TPU ({cores} cores)"
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "device: CPU (no GPU found)"
    names = []
    for gpu in gpus:
        try:
            details = tf.config.experimental.get_device_details(gpu)
        except (ValueError, RuntimeError, tf.errors.OpError):
            details = {}
        names.append(str(details.get("device_name") or gpu.name))
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    shown = ", ".join(f"{n} x {name}" if n > 1 else name for name, n in counts.items())
    return f"device: {len(gpus)} GPU{'s' if len(gpus) > 1 else ''} ({shown})"


_DEVICE_LOGGED: list[str] = []


def log_device(strategy: tf.distribute.Strategy | None = None) -> str:
    """Logs :func:`describe_devices` once per process (at INFO); returns the line."""
    line = describe_devices(strategy)
    if line not in _DEVICE_LOGGED:
        _DEVICE_LOGGED.append(line)
        logger.info("%s", line)
    return line


_KIND_BY_CLASS = {
    "_DefaultDistributionStrategy": "default",
    "OneDeviceStrategy": "one_device",
    "MirroredStrategy": "mirrored",
    "CollectiveAllReduceStrategy": "multi_worker",
    "MultiWorkerMirroredStrategy": "multi_worker",
    "TPUStrategy": "tpu",
    "TPUStrategyV2": "tpu",
    "ParameterServerStrategy": "parameter_server",
    "ParameterServerStrategyV2": "parameter_server",
}


def describe_strategy(strategy: tf.distribute.Strategy) -> dict[str, Any]:
    """A JSON-safe summary of a strategy, for logs and run reports.

    Args:
        strategy: Any ``tf.distribute.Strategy``.

    Returns:
        ``{"name": "default"|"mirrored"|"multi_worker"|"tpu"|..., "class": str,
        "num_replicas": int, "num_workers": int, "is_chief": bool}``.
    """
    class_name = type(strategy).__name__
    kind = next(
        (
            _KIND_BY_CLASS[cls.__name__]
            for cls in type(strategy).__mro__
            if cls.__name__ in _KIND_BY_CLASS
        ),
        class_name,
    )
    num_workers = max(1, _num_workers()) if kind == "multi_worker" else 1
    return {
        "name": kind,
        "class": class_name,
        "num_replicas": int(strategy.num_replicas_in_sync),
        "num_workers": int(num_workers),
        "is_chief": is_chief(strategy),
    }
