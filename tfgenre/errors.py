"""The one error hierarchy of tfgenre.

Every error the package raises on purpose derives from :class:`TfgenreError`, so a
caller can catch them all in one place. Messages name the offending value and the rule
it broke, e.g. ``window_seconds=-1 must be >= 0``.
"""

from __future__ import annotations


class TfgenreError(Exception):
    """Root of all tfgenre errors."""


class ConfigError(TfgenreError, ValueError):
    """A configuration value, flag or input layout breaks a rule (usage error)."""


class AudioDecodeError(TfgenreError):
    """An audio file cannot be decoded into samples."""


class RecordsError(TfgenreError):
    """A records folder, shard or manifest is missing, corrupt or inconsistent."""


class DamagedFileError(TfgenreError):
    """A file tfgenre needs (a ``.keras`` model, a weights checkpoint) is truncated or corrupt.

    The message names the file, says what is wrong with it and how to get a good copy.
    """


class SourceError(ConfigError):
    """A dataset source is malformed (missing root, duplicate ids, bad CSV, ...)."""


class FolderInUseError(TfgenreError):
    """Another process holds the lock of an output folder (two writers into one folder)."""
