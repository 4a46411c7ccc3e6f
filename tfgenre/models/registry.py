"""The model registry: names to builders, with the views and options each accepts.

A model family registers a builder with :func:`register_model`::

    @register_model("mel_cnn", views=("mel",))
    def build(input_spec: InputSpec, num_classes: int, *, input_size: int = 128,
              dropout: float = 0.5) -> keras.Model:
        ...

The builder's keyword-only parameters are the model's options; their defaults are the
model's defaults. :func:`get_model` looks a name up, checks the view, the input shape
and the option names, and calls the builder, which checks the option values.
Every error is a :class:`~tfgenre.errors.ConfigError` that names the offending value.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import keras

from tfgenre.core.config import did_you_mean
from tfgenre.errors import ConfigError
from tfgenre.views.registry import VIEW_NAMES as VIEWS

_RANKS: dict[str, int] = {"raw": 1, "mel": 3, "features": 1, "embeddings": 1}

Builder = Callable[..., keras.Model]
B = TypeVar("B", bound=Builder)


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One example as the tf.data pipeline delivers it to the model (float32).

    Attributes:
        view: ``"raw"``, ``"mel"``, ``"features"`` or ``"embeddings"``.
        shape: Shape of one example: raw ``(n_samples,)`` in [-1, 1]; mel
            ``(n_mels, n_frames, 1)`` in dB (librosa ``power_to_db``, ``ref=1.0``,
            ``top_db=80``); features and embeddings ``(n_features,)``, unnormalised.
        mean: Train-split mean per column, for in-model normalisation (vector views).
        std: Train-split standard deviation per column (vector views).
        sample_rate: Rate in Hz of the audio the example was computed from (raw: of
            the stored window), None when unknown. Models whose weights are tied to
            a rate (``musicnn_msd``, ...) check it.
    """

    view: str
    shape: tuple[int, ...]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    sample_rate: int | None = None

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise ConfigError(
                f"InputSpec view={self.view!r} must be one of {', '.join(map(repr, VIEWS))}"
            )
        try:
            shape = tuple(int(d) for d in self.shape)
        except (TypeError, ValueError):
            raise ConfigError(
                f"InputSpec shape={self.shape!r} must be a tuple of positive ints"
            ) from None
        if any(d <= 0 for d in shape):
            raise ConfigError(f"InputSpec shape={shape} must hold positive sizes only")
        rank = _RANKS[self.view]
        if len(shape) != rank:
            layout = {"raw": "(n_samples,)", "mel": "(n_mels, n_frames, 1)"}.get(
                self.view, "(n_features,)"
            )
            raise ConfigError(f"InputSpec shape={shape} must be {layout} for view {self.view!r}")
        if self.view == "mel" and shape[-1] != 1:
            raise ConfigError(
                f"InputSpec shape={shape} must have 1 channel for view 'mel' "
                "(the model expands it to 3 where a backbone needs that)"
            )
        object.__setattr__(self, "shape", shape)
        for key in ("mean", "std"):
            value = getattr(self, key)
            if value is None:
                continue
            try:
                floats = tuple(float(v) for v in value)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"InputSpec {key}={value!r} must be a sequence of floats"
                ) from None
            if len(floats) != shape[-1]:
                raise ConfigError(
                    f"InputSpec {key} has {len(floats)} values; it must have shape[-1]={shape[-1]}"
                )
            if not all(math.isfinite(v) for v in floats):
                raise ConfigError(f"InputSpec {key}={floats} must be finite")
            if key == "std" and any(v < 0 for v in floats):
                raise ConfigError(f"InputSpec std={floats} must be >= 0")
            object.__setattr__(self, key, floats)
        if (self.mean is None) != (self.std is None):
            raise ConfigError("InputSpec mean and std must be given together (or neither)")
        rate = self.sample_rate
        if rate is not None:
            if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
                raise ConfigError(f"InputSpec sample_rate={rate!r} must be a positive int or None")


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A registered model.

    Attributes:
        name: Registry name, e.g. ``"mel_cnn"``.
        builder: ``build(input_spec, num_classes, **options) -> keras.Model``.
        views: Views the model accepts.
        options: Option names and their defaults, from the builder's keyword-only
            parameters.
        summary: First line of the builder's docstring.
        check: Checks an input spec without building anything (e.g. the sample rate
            and window length pretrained weights need); raises ConfigError.
    """

    name: str
    builder: Builder
    views: tuple[str, ...]
    options: Mapping[str, Any]
    summary: str
    check: Callable[[InputSpec], Any] | None = None


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str, *, views: Sequence[str], check: Callable[[InputSpec], Any] | None = None
) -> Callable[[B], B]:
    """Registers a model builder under ``name``.

    Args:
        name: Registry name; says architecture and view, never hyperparameters.
        views: The views (``raw``, ``mel``, ``features``) the model accepts.
        check: Optional check of an input spec that needs no model (the rate and
            window pretrained weights need), run by :func:`check_model` before any
            build, so that ``fit`` refuses such records before writing anything.

    Returns:
        A decorator that registers the builder and returns it unchanged.

    Raises:
        ValueError: When ``name`` is taken by another builder or a view is unknown.
    """
    views = tuple(views)
    unknown = [v for v in views if v not in VIEWS]
    if unknown or not views:
        raise ValueError(f"register_model({name!r}): views={views} must be a subset of {VIEWS}")

    def decorator(builder: B) -> B:
        previous = _REGISTRY.get(name)
        if previous is not None and previous.builder.__qualname__ != builder.__qualname__:
            raise ValueError(f"model name {name!r} is already registered by {previous.builder}")
        options = {
            p.name: p.default
            for p in inspect.signature(builder).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        doc = inspect.getdoc(builder) or ""
        _REGISTRY[name] = ModelEntry(
            name=name,
            builder=builder,
            views=views,
            options=dict(options),
            summary=doc.splitlines()[0] if doc else "",
            check=check,
        )
        return builder

    return decorator


def known_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``.

    Raises:
        ConfigError: ``unknown model 'resnet' (known: ...); did you mean 'resnet18'?``
    """
    entry = _REGISTRY.get(name)
    if entry is None:
        known = known_models()
        hint = did_you_mean(str(name), known)
        raise ConfigError(f"unknown model {name!r} (known: {', '.join(known)}){hint}")
    return entry


def model_options(name: str) -> dict[str, Any]:
    """The options of model ``name`` with their defaults."""
    return dict(get_entry(name).options)


def models_for_view(view: str) -> list[str]:
    """Names of the registered models that accept ``view``, sorted."""
    return [n for n in known_models() if view in _REGISTRY[n].views]


def get_model(name: str, input_spec: InputSpec, num_classes: int, **options: Any) -> keras.Model:
    """Builds registered model ``name`` for ``input_spec`` and ``num_classes``.

    Args:
        name: A name from :func:`known_models`.
        input_spec: What one example looks like.
        num_classes: Number of genres (>= 2).
        **options: Model options (see :func:`model_options`); unset ones take defaults.

    Returns:
        A ``keras.Model`` mapping a batch ``(batch, *input_spec.shape)`` float32 to
        softmax probabilities ``(batch, num_classes)`` float32.

    Raises:
        ConfigError: For an unknown name, a view the model does not take, a bad
            ``num_classes``, or an unknown or invalid option.
    """
    entry = check_model(name, input_spec, num_classes, **options)
    try:
        return entry.builder(input_spec, num_classes, **options)
    except ConfigError as err:
        raise ConfigError(f"model {name!r}: {err}") from err


def check_model(name: str, input_spec: InputSpec, num_classes: int, **options: Any) -> ModelEntry:
    """What :func:`get_model` checks before it builds: name, view, classes, options, input.

    Builds nothing (cheap: a fit runs it before it creates its run folder).

    Returns:
        The model's registry entry.

    Raises:
        ConfigError: as :func:`get_model`, for all that needs no model.
    """
    entry = get_entry(name)
    if not isinstance(input_spec, InputSpec):
        raise ConfigError(
            f"model {name!r}: input_spec must be an InputSpec. Received: input_spec={input_spec!r}"
        )
    if input_spec.view not in entry.views:
        others = models_for_view(input_spec.view)
        raise ConfigError(
            f"model {name!r} takes view {' or '.join(map(repr, entry.views))}, not "
            f"{input_spec.view!r} (models for {input_spec.view!r}: {', '.join(others)})"
        )
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(
            f"model {name!r}: num_classes must be an int >= 2. Received: "
            f"num_classes={num_classes!r}"
        )
    for key, value in options.items():
        if key not in entry.options:
            hint = did_you_mean(key, entry.options)
            allowed = ", ".join(sorted(entry.options)) or "none"
            raise ConfigError(
                f"model {name!r} has no option {key!r}. Received: {key}={value!r}. "
                f"Allowed options: {allowed}{hint}"
            )
    if entry.check is not None:
        try:
            entry.check(input_spec)
        except ConfigError as err:
            raise ConfigError(f"model {name!r}: {err}") from err
    return entry


# Option checks shared by the builders. Each raises ConfigError in keras-hub style:
# "`dropout` must be in [0, 1). Received: dropout=1.5".


def invalid(option: str, value: Any, rule: str) -> ConfigError:
    """A ConfigError for option ``option=value`` that breaks ``rule``."""
    return ConfigError(f"`{option}` must be {rule}. Received: {option}={value!r}")


def check_int(option: str, value: Any, *, minimum: int) -> int:
    """``value`` as an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid(option, value, f"an int >= {minimum}")
    return int(value)


def check_rate(option: str, value: Any) -> float:
    """``value`` as a dropout rate in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise invalid(option, value, "a float in [0, 1)")
    return float(value)


def check_bool(option: str, value: Any) -> bool:
    """``value`` as a bool (only True or False)."""
    if not isinstance(value, bool):
        raise invalid(option, value, "True or False")
    return value


def check_choice(option: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` when it is one of ``choices``."""
    if value not in choices:
        raise invalid(option, value, f"one of {', '.join(map(repr, choices))}")
    return value


def check_ints(option: str, value: Any, *, length: int | None, minimum: int) -> tuple[int, ...]:
    """``value`` as a tuple of ints >= ``minimum`` (of ``length`` items when given)."""
    what = f"a sequence of {length} ints" if length else "a non-empty sequence of ints"
    rule = f"{what} >= {minimum}"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise invalid(option, value, rule)
    if not value or (length is not None and len(value) != length):
        raise invalid(option, value, rule)
    if any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in value):
        raise invalid(option, value, rule)
    return tuple(int(v) for v in value)


def check_rates(option: str, value: Any, *, length: int) -> tuple[float, ...]:
    """A dropout rate or ``length`` rates, as a tuple of ``length`` rates in [0, 1)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (check_rate(option, value),) * length
    rule = f"a float in [0, 1) or a sequence of {length} of them"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != length:
        raise invalid(option, value, rule)
    try:
        return tuple(check_rate(option, v) for v in value)
    except ConfigError:
        raise invalid(option, value, rule) from None
