"""What a user sees when a command meets a file-system problem: one line, never a traceback."""

from __future__ import annotations

import argparse
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import spawn

from tfgenre.core import cli, io
from tfgenre.errors import ConfigError


@pytest.mark.parametrize(
    "error, expected",
    [
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/o/file/x"),
         "error: not a folder (a part of the path is a file): /o/file/x: Not a directory"),
        (PermissionError(errno.EACCES, "Permission denied", "/ro/manifest.json"),
         "error: permission denied: /ro/manifest.json: Permission denied"),
        (FileExistsError(errno.EEXIST, "File exists", "/o/run"),
         "error: already exists: /o/run: File exists"),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "/o/table.csv"),
         "error: a folder where a file was expected: /o/table.csv: Is a directory"),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "/o/out/report.md"),
         "error: file not found: /o/out/report.md: No such file or directory"),
        (OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b"),
         "error: cannot use /a -> /b: Invalid cross-device link"),
    ],
)
def test_os_errors_become_one_line_and_exit_1(error, expected, capsys):
    def fn(args: argparse.Namespace) -> int:
        raise error

    assert cli.run(fn, argparse.Namespace(log_level="ERROR")) == 1
    err = capsys.readouterr().err
    assert err == expected + "\n"


def test_check_output_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    io.check_output_folder(str(tmp_path / "new" / "deeper"), "--out")
    io.check_output_folder(str(tmp_path), "--out")
    with pytest.raises(ConfigError, match="is a file"):
        io.check_output_folder(str(tmp_path / "file"), "--out")
    with pytest.raises(ConfigError, match="is under the file"):
        io.check_output_folder(str(tmp_path / "file" / "sub"), "--out")


def _command(module: str, *argv: object) -> subprocess.CompletedProcess:
    return spawn.run([sys.executable, "-m", module, *map(str, argv)],
                     env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=120)


def _table(path: Path) -> Path:
    path.write_text("f0,f1,label\n" + "".join(f"{i},{i % 2},{'ab'[i % 2]}\n" for i in range(8)))
    return path


def test_explore_and_baselines_name_bad_paths_without_a_traceback(tmp_path):
    table = _table(tmp_path / "t.csv")
    blocker = tmp_path / "a_file"
    blocker.write_text("mine")
    # A folder given as the features CSV: an OSError from deep inside pandas.
    proc = _command("tfgenre.explore", "--features-csv", tmp_path, "--out", tmp_path / "e")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: a folder where a file was expected: {tmp_path}: Is a directory"
    )
    # An output folder under a file: refused up front.
    proc = _command("tfgenre.explore", "--features-csv", table, "--out", blocker / "sub")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"is under the file {str(blocker)!r}" in proc.stderr
    proc = _command("tfgenre.baselines", "--features-csv", table, "--out", blocker, "--folds", "2")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "is a file" in proc.stderr
    # A missing features CSV names the file.
    for module in ("tfgenre.explore", "tfgenre.baselines"):
        proc = _command(module, "--features-csv", tmp_path / "nope.csv", "--out", tmp_path / "o")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, module
        assert "nope.csv" in proc.stderr and "does not exist" in proc.stderr, module
    assert blocker.read_text() == "mine"
