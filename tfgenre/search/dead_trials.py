"""Trials whose process died: the worker record, the liveness check, failing and requeueing.

A trial whose process died (kill -9, out of memory, a lost machine) is marked failed
and run again once when the study resumes: every trial records its process (host,
pid, start time), so a resume on the same machine fails the RUNNING trials whose
process is gone at once; RDB storages also keep a heartbeat, which fails a trial of
another machine once its heartbeat is older than the grace period (its storage calls
:func:`retry_trial`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import warnings
from typing import Any

from tfgenre.core.json_fields import Fields
from tfgenre.errors import ConfigError

logger = logging.getLogger(__name__)


def _start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot, Linux), None if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


@dataclasses.dataclass(frozen=True)
class WorkerRecord:
    """A trial's ``worker`` attribute: the process that runs it.

    Attributes:
        host: The machine's host name.
        pid: The process id.
        started: When the process started (clock ticks after boot), None if unknown.
    """

    host: str
    pid: int
    started: int | None

    def to_json(self) -> dict[str, Any]:
        """The user attribute's value."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str) -> WorkerRecord:
        """Reads a ``worker`` attribute.

        Raises:
            ConfigError: naming ``where`` (the trial) and the key that breaks the layout.
        """
        fields = Fields(data, where, ConfigError)
        started = fields.get("started")
        return cls(
            host=fields.text("host"),
            pid=fields.integer("pid"),
            started=None if started is None else fields.integer("started"),
        )

    def alive(self) -> bool:
        """Whether the process (on this host) still runs.

        A pid that now belongs to another process (a different start time) counts as gone.
        """
        if self.pid <= 0:
            return True  # unknown: leave the trial alone
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's process
        return self.started is None or _start_ticks(self.pid) in (None, self.started)


def this_process() -> dict[str, Any]:
    """The ``worker`` attribute of a trial: host, pid and start time of this process."""
    pid = os.getpid()
    return WorkerRecord(socket.gethostname(), pid, _start_ticks(pid)).to_json()


def retry_trial(study: Any, trial: Any) -> None:
    """Queues the point of a trial whose process died, once (not the retry of a retry)."""
    import optuna

    if "failed_trial" in trial.system_attrs or not trial.params:
        return
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs={"retry_of": trial.number},
            system_attrs={"failed_trial": trial.number},
        )
    )


def fail_dead_trials(study: Any) -> list[int]:
    """Marks failed (and queues again once) the RUNNING trials whose process is gone.

    Two checks: Optuna's heartbeat (RDB storages; a trial of any machine whose heartbeat
    is older than the grace period), and the ``worker`` attribute every trial records
    (a trial started on this host by a process that no longer runs, e.g. after kill -9).
    RUNNING trials of live processes (other workers of a shared study) are left alone.

    Returns:
        The numbers of the trials failed by the second check.
    """
    import optuna
    from optuna.trial import TrialState

    with warnings.catch_warnings():  # flagged experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    host = socket.gethostname()
    failed: list[int] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        try:
            where = f"trial {trial.number}'s worker attribute"
            worker = WorkerRecord.from_json(trial.user_attrs.get("worker"), where)
        except ConfigError:  # no record of its process: leave it alone
            continue
        if worker.host != host or worker.pid == os.getpid() or worker.alive():
            continue
        message = (
            f"its process (pid {worker.pid} on {host}) ended before the trial did "
            "(killed?); failed on resume"
        )
        try:
            study._storage.set_trial_user_attr(trial._trial_id, "error", message)
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, ValueError):
            continue  # another process got there first
        failed.append(trial.number)
        retry_trial(study, study._storage.get_trial(trial._trial_id))
    if failed:
        logger.warning(
            "trial(s) %s were RUNNING but their process is gone: marked failed, their points "
            "queued again",
            ", ".join(map(str, failed)),
        )
    others = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
    if others:
        logger.info("trial(s) %s are running in other processes", ", ".join(map(str, others)))
    return failed
