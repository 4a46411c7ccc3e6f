"""The numeric precision a backbone runs in: float32 (the default) or bfloat16 (an option).

bfloat16 runs the ports under Keras' ``mixed_bfloat16`` policy: the weights stay
float32, the convolutions and dense layers compute in bfloat16 (8 bits of mantissa),
and the outputs are returned as float32. It is only ever used when asked for
(``--set embeddings.precision=bfloat16`` for write_records, ``--precision bfloat16``
for predict with a published weight set), and only on a CPU that computes bfloat16
natively (AVX-512 BF16 or AMX); elsewhere TensorFlow would emulate it, slower than
float32, so it is refused with a message saying so. The drift against float32 is
measured by ``python -m benchmarks.embeddings_throughput`` (README, "Pretrained
embeddings").

No TensorFlow is imported here: :func:`check_precision` runs while arguments are
checked.
"""

from __future__ import annotations

import functools
import sys

from tfgenre.errors import ConfigError

#: The precisions a backbone runs in; the first is the default.
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")
#: CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic.
BF16_FLAGS: tuple[str, ...] = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none)."""
    if not sys.platform.startswith("linux"):
        return frozenset()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def bf16_supported() -> bool:
    """True when the CPU computes bfloat16 natively (AVX-512 BF16 or AMX)."""
    return bool(cpu_flags() & set(BF16_FLAGS))


def check_precision(precision: object, what: str = "precision") -> str:
    """``precision`` if this machine can run it.

    Args:
        precision: ``float32`` or ``bfloat16``.
        what: The setting's name in messages (``--precision``,
            ``embeddings.precision``).

    Returns:
        The precision name.

    Raises:
        ConfigError: an unknown name, or ``bfloat16`` on a CPU without native
            bfloat16 arithmetic.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"{what}={precision!r} must be one of {', '.join(PRECISIONS)}")
    if precision == "bfloat16" and not bf16_supported():
        raise ConfigError(
            f"{what}=bfloat16 needs a CPU with native bfloat16 arithmetic "
            f"({' or '.join(BF16_FLAGS)} in /proc/cpuinfo); this CPU has neither, and "
            "TensorFlow would emulate it more slowly than float32: use float32 (the default)"
        )
    return str(precision)


def policy(precision: str) -> str | None:
    """The Keras dtype policy a backbone is built under (None: the float32 default)."""
    return "mixed_bfloat16" if precision == "bfloat16" else None
