"""The published musicnn / vgg weight sets: where they are, what they hold, their licence.

The ``musicnn`` package (Pons and Serra, 2019) ships four trained models as TF1
checkpoints, each a folder holding ``.index``, ``.data-00000-of-00001``, ``.meta`` and
``config.json``. This module finds them through the installed package's data folder
*without importing the package* (``import musicnn`` disables eager execution for the
whole process), reads their variables with ``tf.compat.v1.train.NewCheckpointReader``
and the 50 tag labels from the package's ``configuration.py`` read as text.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib.util
import os
from dataclasses import dataclass

import numpy as np

from tfgenre.core.config import did_you_mean
from tfgenre.errors import ConfigError, DamagedFileError

#: The pip package that ships the weights (install it with ``--no-deps``).
PACKAGE = "musicnn"
#: The one package version the ports are tested against.
PACKAGE_VERSION = "0.1.0"
#: The file of a checkpoint folder that holds the variables.
DATA_FILE = ".data-00000-of-00001"
_CHECKPOINT_FILES = (".index", DATA_FILE)
#: Adam's scalar state, saved beside the model's variables (its slots end in "Adam").
_OPTIMIZER_SCALARS = frozenset({"beta1_power", "beta2_power"})

#: Licence and citation of the four published weight sets.
LICENCE = (
    "ISC licence. Pons, J. and Serra, X. (2019), 'musicnn: pre-trained convolutional "
    "neural networks for music audio tagging', ISMIR late-breaking demo; "
    "https://github.com/jordipons/musicnn"
)
#: Training dataset -> the data the weights were trained on, in words.
DATASETS = {
    "mtt": "MagnaTagATune (MTT): 50 most frequent tags",
    "msd": "Million Song Dataset (MSD, last.fm tags): 50 most frequent tags",
}

#: Weight-set name -> (architecture, training dataset, folder in the package).
WEIGHT_SETS: dict[str, tuple[str, str, str]] = {
    "musicnn_mtt": ("musicnn", "mtt", "MTT_musicnn"),
    "musicnn_msd": ("musicnn", "msd", "MSD_musicnn"),
    "vgg_mtt": ("vgg", "mtt", "MTT_vgg"),
    "vgg_msd": ("vgg", "msd", "MSD_vgg"),
}
ARCHITECTURES: tuple[str, ...] = ("musicnn", "vgg")
#: Weight-set name -> sha256 of its data file as musicnn==PACKAGE_VERSION ships it.
PUBLISHED_SHA256: dict[str, str] = {
    "musicnn_mtt": "041f3935e981a65cea739842d30c188d3a7d2adf4410955c8668eb3de4a5acab",
    "musicnn_msd": "8579734ee6388f799ed0def4bbd0d1fdcbeaf213ef2a9dc860917bd76a303de6",
    "vgg_mtt": "458f5c8bcecc086a3bba3dce83809df6da6e0a3560a59ddd84711bf3d5fd8303",
    "vgg_msd": "9683d756b8311146534f333502ebf4a2a78a3e320c54ab0411dff6186d8375fc",
}
#: How to get good published weights back, for the messages.
REINSTALL = (
    f"reinstall the package: pip install --force-reinstall --no-deps {PACKAGE}=={PACKAGE_VERSION}"
)


@dataclass(frozen=True)
class WeightSet:
    """One published checkpoint and what it was trained on.

    Attributes:
        name: The tfgenre name, e.g. ``musicnn_msd`` (or the folder's name for a path).
        architecture: ``musicnn`` or ``vgg``.
        dataset: ``mtt`` or ``msd`` (selects the 50 labels).
        folder: The checkpoint folder (holds ``.index`` and the data file).
        labels: The 50 tag names, in the order of the model's outputs.
        licence: Licence and citation of the weights.
        source: The training data set, in words.
        published_sha256: The sha256 the data file must have (the published weights,
            found by name); None for a checkpoint folder given by path.
    """

    name: str
    architecture: str
    dataset: str
    folder: str
    labels: tuple[str, ...]
    licence: str
    source: str
    published_sha256: str | None = None

    @property
    def data_file(self) -> str:
        """The checkpoint's data file (the one that holds the variables)."""
        return os.path.join(self.folder, DATA_FILE)

    def _damaged(self, problem: str) -> DamagedFileError:
        fix = (
            REINSTALL
            if self.published_sha256
            else "copy the checkpoint folder again from where it came from"
        )
        return DamagedFileError(
            f"{self.name} weights file {self.data_file} is damaged: {problem}; {fix}"
        )

    @property
    def checkpoint_prefix(self) -> str:
        """The prefix ``NewCheckpointReader`` takes (the folder with a trailing slash)."""
        return os.path.join(self.folder, "")

    def read_variables(self) -> dict[str, np.ndarray]:
        """Reads the inference variables (no optimizer slots) of the checkpoint.

        Returns:
            Variable name (e.g. ``conv2d/kernel``) -> its value as float32.

        Raises:
            DamagedFileError: The checkpoint cannot be read (a truncated or corrupt
                data or index file).
        """
        import tensorflow as tf

        try:
            reader = tf.compat.v1.train.NewCheckpointReader(self.checkpoint_prefix)
            names = reader.get_variable_to_shape_map()
            return {
                n: np.asarray(reader.get_tensor(n), dtype=np.float32)
                for n in sorted(names)
                if "Adam" not in n and n not in _OPTIMIZER_SCALARS
            }
        except (IndexError, ValueError, RuntimeError, tf.errors.OpError) as err:
            # A truncated data file reads as IndexError "Read less bytes than requested".
            message = str(getattr(err, "message", "") or err).splitlines()[0]
            raise self._damaged(
                f"the checkpoint cannot be read ({type(err).__name__}: {message})"
            ) from err

    def checksum(self) -> str:
        """The sha256 hex digest of the checkpoint's data file."""
        digest = hashlib.sha256()
        with open(self.data_file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def verify(self) -> str:
        """Checks the weights once, before any work: the published sha256, then a full read.

        The sha256 of the published weight sets is known (:data:`PUBLISHED_SHA256`), so
        a truncated or altered copy is refused by name; a checkpoint folder given by
        path is read in full instead, which a truncated data file fails.

        Returns:
            The sha256 of the data file.

        Raises:
            DamagedFileError: naming the data file, what is wrong and how to recover.
        """
        digest = self.checksum()
        if self.published_sha256 and digest != self.published_sha256:
            size = os.path.getsize(self.data_file)
            raise self._damaged(
                f"its sha256 is {digest} ({size} bytes), the published {PACKAGE}=="
                f"{PACKAGE_VERSION} file has {self.published_sha256} (truncated or altered)"
            )
        if not self.published_sha256:
            self.read_variables()
        return digest


@functools.lru_cache(maxsize=8)
def verify_weights(weights: WeightSet) -> str:
    """:meth:`WeightSet.verify`, once per weight set and process; returns the sha256."""
    return weights.verify()


def package_folder() -> str:
    """The installed ``musicnn`` package's folder, found without importing it.

    Raises:
        ConfigError: The package is not installed.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the pretrained weights need the {PACKAGE!r} package, which is not "
            f"installed: run `pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}` "
            "(--no-deps: its declared dependencies pin an old numpy)"
        )
    return next(iter(spec.submodule_search_locations))


def read_labels(dataset: str, package_dir: str | None = None) -> tuple[str, ...]:
    """The 50 tag labels of a training dataset, read from ``configuration.py`` as text.

    Args:
        dataset: ``mtt`` or ``msd``.
        package_dir: The ``musicnn`` package folder (found when omitted).

    Returns:
        The labels in output order.
    """
    if dataset not in DATASETS:
        raise ConfigError(f"dataset={dataset!r} must be one of {sorted(DATASETS)}")
    path = os.path.join(package_dir or package_folder(), "configuration.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    wanted = f"{dataset.upper()}_LABELS"
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == wanted for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise ConfigError(f"{path} defines no {wanted}: is it musicnn=={PACKAGE_VERSION}?")


def _check_folder(folder: str, what: str) -> None:
    missing = [f for f in _CHECKPOINT_FILES if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise ConfigError(
            f"{what}: {folder!r} is not a musicnn checkpoint folder (missing "
            f"{', '.join(missing)}); it must hold .index and {DATA_FILE}"
        )


def _from_path(folder: str) -> WeightSet:
    """A weight set from a checkpoint folder named like the package's (``MSD_vgg``)."""
    folder = os.path.abspath(folder)
    _check_folder(folder, "weights path")
    base = os.path.basename(folder.rstrip(os.sep))
    for name, (arch, dataset, sub) in WEIGHT_SETS.items():
        if base.lower() == sub.lower() or base.lower() == name:
            package_dir = os.path.dirname(folder)
            if not os.path.isfile(os.path.join(package_dir, "configuration.py")):
                package_dir = package_folder()
            return _weight_set(name, arch, dataset, folder, package_dir)
    raise ConfigError(
        f"weights path {folder!r}: its folder name must say the architecture and the "
        f"dataset, one of {sorted(s for _, _, s in WEIGHT_SETS.values())}"
    )


def _weight_set(name: str, arch: str, dataset: str, folder: str, package_dir: str) -> WeightSet:
    return WeightSet(
        name=name,
        architecture=arch,
        dataset=dataset,
        folder=folder,
        labels=read_labels(dataset, package_dir),
        licence=LICENCE,
        source=DATASETS[dataset],
    )


def find_weights(name_or_path: str) -> WeightSet:
    """Finds a weight set by name (``musicnn_msd``, ...) or by checkpoint folder.

    Args:
        name_or_path: One of :data:`WEIGHT_SETS`, or a folder such as
            ``.../musicnn/MSD_musicnn``.

    Returns:
        The :class:`WeightSet`.

    Raises:
        ConfigError: Unknown name, a folder that is not a checkpoint, or the package
            is missing (the message says how to install it).
    """
    if name_or_path in WEIGHT_SETS:
        arch, dataset, sub = WEIGHT_SETS[name_or_path]
        package_dir = package_folder()
        folder = os.path.join(package_dir, sub)
        _check_folder(folder, f"weights={name_or_path!r}")
        ws = _weight_set(name_or_path, arch, dataset, folder, package_dir)
        return dataclasses.replace(ws, published_sha256=PUBLISHED_SHA256[name_or_path])
    if os.sep in name_or_path or os.path.isdir(name_or_path):
        if not os.path.isdir(name_or_path):
            raise ConfigError(f"weights path {name_or_path!r} does not exist")
        return _from_path(name_or_path)
    raise ConfigError(
        f"unknown weights={name_or_path!r}; known: {', '.join(WEIGHT_SETS)}, or a "
        f"checkpoint folder{did_you_mean(name_or_path, WEIGHT_SETS)}"
    )
