"""Where things live on disk: every file name tfgenre writes, in one place.

A **records folder** (``python -m tfgenre.write_records --output DIR``)::

    DIR/manifest.json                        RecordsInfo (tfgenre.records.info)
    DIR/<view>/<split>.tfrecord-00003-of-00016
    DIR/features.csv                         the features view as a table (optional)
    DIR/.state/<unit>.json                   per-unit progress of an unfinished write

A **run folder** (``python -m tfgenre.fit --run-dir DIR``)::

    DIR/run.json                             RunInfo (tfgenre.runs.run_info)
    DIR/config.yaml                          the resolved fit config
    DIR/model.keras                          the trained model
    DIR/history.csv  DIR/tb/  DIR/checkpoints/  DIR/backup/
    DIR/report/  DIR/report_<split>/          evaluation reports
    DIR/export/                              SavedModel / TFLite / .keras exports
    DIR/folds/<k>/                           one run folder per cross-validation fold
    DIR/folds_summary.json, .md              the figures over folds
    DIR/.tfgenre-written                     the files fit wrote whose names are not fixed

Both folders hold ``.tfgenre.lock`` while a process writes into them (:data:`LOCK_FILE`).

A **synthetic set** (``--source synthetic``) carries :data:`SYNTHETIC_MARKER`.
"""

from __future__ import annotations

# --- records folder
MANIFEST = "manifest.json"
FEATURES_CSV = "features.csv"
STATE_DIR = ".state"
#: The config a records folder was started with, inside STATE_DIR.
STATE_CONFIG = "config.json"
INCOMPLETE_SUFFIX = ".incomplete"
#: The lock a writing process holds on its output folder (records or run folder); it
#: holds the holder's pid. Hidden, and counted as tfgenre's own by the ownership checks.
LOCK_FILE = ".tfgenre.lock"

# --- run folder
CONFIG_YAML = "config.yaml"
RUN_JSON = "run.json"
TENSORBOARD = "tb"
CHECKPOINTS = "checkpoints"
BACKUP = "backup"
HISTORY_CSV = "history.csv"
MODEL = "model.keras"
REPORT = "report"
FOLDS = "folds"
FOLDS_SUMMARY_JSON = "folds_summary.json"
FOLDS_SUMMARY_MD = "folds_summary.md"
#: A linear probe's L2 grid and choice (:mod:`tfgenre.training.probe_tuning`).
PROBE_TUNING_JSON = "probe_tuning.json"
#: The best validation model, inside CHECKPOINTS.
BEST_CHECKPOINT = "best.keras"
#: The per-track predictions, inside a report folder.
TRACKS_CSV = "tracks.csv"
#: The scores, inside a report folder.
METRICS_JSON = "metrics.json"
#: The written report, inside a report folder.
REPORT_MD = "report.md"
#: The files a fit wrote into its run folder (one path relative to the folder a line),
#: so that ``--overwrite`` deletes only those (:mod:`tfgenre.runs.run_folder`).
WRITTEN = ".tfgenre-written"

RUN_OUTPUTS: tuple[str, ...] = (
    CONFIG_YAML,
    RUN_JSON,
    TENSORBOARD,
    CHECKPOINTS,
    BACKUP,
    HISTORY_CSV,
    MODEL,
    REPORT,
    FOLDS,
    FOLDS_SUMMARY_JSON,
    FOLDS_SUMMARY_MD,
    PROBE_TUNING_JSON,
)
"""What a fit (and a cross-validation, :mod:`tfgenre.training.crossval`: ``folds/`` and
the summaries) writes into a run folder (plus ``report_<split>``, ``backup-worker-<i>``
and the ``.incomplete`` files of interrupted atomic writes)."""

EXPORT = "export"

# --- generated audio
SYNTHETIC_MARKER = "synthetic.json"

