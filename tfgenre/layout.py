"""Where things live on disk: every file name tfgenre writes, in one place.

A **records folder** (``python -m tfgenre.write_records --output DIR``)::

    DIR/manifest.json                        RecordsInfo (tfgenre.records.info)
    DIR/<view>/<split>.tfrecord-00003-of-00016
    DIR/features.csv                         the features view as a table (optional)
    DIR/.state/<unit>.json                   per-unit progress of an unfinished write

A **run folder** (``python -m tfgenre.fit --run-dir DIR``)::

    DIR/run.json                             RunInfo (tfgenre.run_info)
    DIR/config.yaml                          the resolved fit config
    DIR/model.keras                          the trained model
    DIR/history.csv  DIR/logs/  DIR/checkpoints/  DIR/backup/
    DIR/report/  DIR/report_<split>/          evaluation reports
    DIR/export/                              SavedModel / TFLite / .keras exports
    DIR/folds/<k>/                           one run folder per cross-validation fold

A **synthetic set** (``--source synthetic``) carries :data:`SYNTHETIC_MARKER`.
"""

from __future__ import annotations

# --- records folder
MANIFEST = "manifest.json"
FEATURES_CSV = "features.csv"
STATE_DIR = ".state"
INCOMPLETE_SUFFIX = ".incomplete"

# --- run folder
RUN_INFO = "run.json"
RUN_CONFIG = "config.yaml"
MODEL = "model.keras"
HISTORY = "history.csv"
LOGS_DIR = "logs"
CHECKPOINTS_DIR = "checkpoints"
BACKUP_DIR = "backup"
REPORT_DIR = "report"
EXPORT_DIR = "export"
FOLDS_DIR = "folds"

# --- generated audio
SYNTHETIC_MARKER = "synthetic.json"


def report_dir_name(split: str, default_split: str = "test") -> str:
    """``report`` for the default split, else ``report_<split>``."""
    return REPORT_DIR if split == default_split else f"{REPORT_DIR}_{split}"
