"""Sources: gtzan, fma, folder, csv and synthetic, on layouts written at test time."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tfgenre.errors import ConfigError, SourceError
from tfgenre.sources import Skip, Track, get_source, known_sources, prepare_source
from tfgenre.sources.fma import KNOWN_BAD_FMA_SMALL

SR = 8000


def write_wav(
    path: Path, seconds: float = 0.1, freq: float = 440.0, fmt: str | None = None
) -> Path:
    """Writes a tiny tone (the sources only list files; nothing decodes them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    sf.write(str(path), 0.3 * np.sin(2 * np.pi * freq * t), SR, format=fmt, subtype="PCM_16")
    return path


def touch(path: Path, data: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def ids(tracks: list[Track]) -> list[str]:
    return [t.track_id for t in tracks]


def reasons(skipped: list[Skip]) -> dict[str, str]:
    return {os.path.basename(s.path): s.reason for s in skipped}


# --------------------------------------------------------------------------- registry


def test_registry_knows_every_source_and_suggests_names(tmp_path):
    assert known_sources() == ["csv", "fma", "folder", "gtzan", "synthetic"]
    with pytest.raises(ConfigError, match=r"unknown source 'gtzn'.*did you mean 'gtzan'"):
        get_source("gtzn", str(tmp_path))


def test_unknown_option_names_the_known_ones(tmp_path):
    write_wav(tmp_path / "rock" / "rock.00000.wav")
    with pytest.raises(ConfigError, match=r"source_options.no_such_option for source 'gtzan'"):
        get_source("gtzan", str(tmp_path), no_such_option=1)
    with pytest.raises(ConfigError, match=r"known: .*clip_seconds.*did you mean 'clip_seconds'"):
        get_source("synthetic", str(tmp_path / "s"), seconds=3)


# --------------------------------------------------------------------------- gtzan


def make_gtzan_with_junk(root: Path) -> None:
    """A GTZAN folder of tiny tones (blues and rock x 3 .wav, jazz as .au/.AU) plus what
    the listing must skip: .DS_Store, AppleDouble and hidden files, input.mf, notes.txt."""
    for genre in ("blues", "rock"):
        for i in range(3):
            write_wav(root / genre / f"{genre}.{i:05d}.wav")
    write_wav(root / "jazz" / "jazz.00000.au", fmt="AU")
    write_wav(root / "jazz" / "jazz.00001.AU", fmt="AU")
    touch(root / ".DS_Store", b"junk")
    touch(root / "blues" / ".DS_Store", b"junk")
    touch(root / "blues" / "._blues.00000.wav", b"AppleDouble")
    write_wav(root / ".hidden" / "x.wav")
    touch(root / "input.mf", b"blues/blues.00000.wav\tblues\n")
    touch(root / "rock" / "notes.txt", b"not audio")


def test_gtzan_lists_wav_and_au_and_ignores_hidden_files(tmp_path):
    make_gtzan_with_junk(tmp_path)
    write_wav(tmp_path / "loose.00000.wav")
    write_wav(tmp_path / "rock" / "extra" / "rock.00099.wav")
    source = get_source("gtzan", str(tmp_path))
    tracks = source.tracks()
    assert ids(tracks) == [
        "blues.00000",
        "blues.00001",
        "blues.00002",
        "jazz.00000",
        "jazz.00001",
        "rock.00000",
        "rock.00001",
        "rock.00002",
    ]
    first = tracks[0]
    assert first == Track("blues.00000", str(tmp_path / "blues" / "blues.00000.wav"), "blues")
    assert first.group is None and first.split is None
    assert {t.label for t in tracks} == {"blues", "jazz", "rock"}
    assert tracks[4].path.endswith("jazz.00001.AU")
    skipped = reasons(source.skipped)
    assert skipped == {
        "loose.00000.wav": "not in a genre folder (no label)",
        "extra": skipped["extra"],
    }
    assert "nested" in skipped["extra"]


@pytest.mark.parametrize("sub", ["genres", "genres_original", "Data/genres_original"])
def test_gtzan_root_may_hold_the_genres_folder(tmp_path, sub):
    make_gtzan_with_junk(tmp_path / sub)
    tracks = get_source("gtzan", str(tmp_path)).tracks()
    assert len(tracks) == 8
    assert tracks[0].path == str(tmp_path / sub / "blues" / "blues.00000.wav")


def test_gtzan_split_files(tmp_path):
    make_gtzan_with_junk(tmp_path / "genres")
    lists = tmp_path / "lists"
    touch(lists / "train.txt", b"blues/blues.00000.wav\nblues.00001.wav\njazz/jazz.00000.au\n")
    touch(lists / "valid.txt", b"# fault-filtered\n\nrock.00000\nrock.00000\n")
    touch(lists / "test.txt", b"rock/rock.00001.wav\r\nclassical/classical.00042.wav\r\n")
    source = get_source(
        "gtzan",
        str(tmp_path),
        split_files={
            "training": str(lists / "train.txt"),
            "val": str(lists / "valid.txt"),
            "test": str(lists / "test.txt"),
        },
    )
    splits = {t.track_id: t.split for t in source.tracks()}
    assert splits == {
        "blues.00000": "train",
        "blues.00001": "train",
        "jazz.00000": "train",
        "rock.00000": "validation",
        "rock.00001": "test",
    }
    # left out on purpose: excluded (counted in the manifest), not skipped as errors
    assert source.excluded == ["blues.00002", "jazz.00001", "rock.00002"]
    assert source.skipped == []
    assert source.protocol.name == "split_files"
    assert source.protocol.leaks_artists is None


def make_listed_gtzan(root: Path) -> None:
    """A GTZAN layout with clips of the fault-filtered lists and clips in none of them."""
    # blues.00000/1 are validation, blues.00012 test, blues.00029 train;
    # reggae.00086 and pop.00015 are in no list (repeats, mislabels)
    for name in ("blues.00000", "blues.00001", "blues.00012", "blues.00029"):
        write_wav(root / "blues" / f"{name}.wav")
    write_wav(root / "reggae" / "reggae.00086.wav")
    write_wav(root / "pop" / "pop.00015.wav")


def test_gtzan_fault_filtered_named_split(tmp_path):
    make_listed_gtzan(tmp_path / "genres")
    source = get_source("gtzan", str(tmp_path), split="fault_filtered")
    assert {t.track_id: t.split for t in source.tracks()} == {
        "blues.00000": "validation",
        "blues.00001": "validation",
        "blues.00012": "test",
        "blues.00029": "train",
    }
    assert source.excluded == ["pop.00015", "reggae.00086"]
    assert source.skipped == []
    p = source.protocol
    assert (p.name, p.grouping, p.dataset, p.leaks_artists) == (
        "gtzan_fault_filtered",
        "artist",
        "gtzan",
        False,
    )
    assert "Kereliuk" in p.citation
    # the alias, and the user's own copy of the same lists, name the same protocol
    assert get_source("gtzan", str(tmp_path), split="gtzan_fault_filtered").protocol == p
    lists = tmp_path / "lists"
    touch(lists / "t.txt", b"blues/blues.00029.wav\n")
    touch(lists / "v.txt", b"blues/blues.00000.wav\nblues/blues.00001.wav\n")
    touch(lists / "e.txt", b"blues/blues.00012.wav\n")
    files = {"train": str(lists / "t.txt"), "valid": str(lists / "v.txt")}
    files["test"] = str(lists / "e.txt")
    assert get_source("gtzan", str(tmp_path), split_files=files).protocol == p


def test_gtzan_named_split_errors(tmp_path):
    make_listed_gtzan(tmp_path)
    with pytest.raises(ConfigError, match=r"unknown named split 'artist'.*known: fault_filtered"):
        get_source("gtzan", str(tmp_path), split="artist")
    with pytest.raises(ConfigError, match=r"not both"):
        get_source("gtzan", str(tmp_path), split="fault_filtered", split_files={"train": "x"})
    for name in ("blues.00000", "blues.00001", "blues.00012", "blues.00029"):
        (tmp_path / "blues" / f"{name}.wav").unlink()
    with pytest.raises(SourceError, match=r"none of the 2 tracks is named in split='fault_"):
        get_source("gtzan", str(tmp_path), split="fault_filtered")


def test_gtzan_track_in_two_split_lists_is_an_error(tmp_path):
    make_gtzan_with_junk(tmp_path)
    touch(tmp_path / "a.txt", b"blues.00000\n")
    touch(tmp_path / "b.txt", b"blues/blues.00000.wav\n")
    with pytest.raises(SourceError, match=r"'blues.00000' is in two split lists"):
        get_source(
            "gtzan",
            str(tmp_path),
            split_files={"train": str(tmp_path / "a.txt"), "test": str(tmp_path / "b.txt")},
        )


def test_gtzan_split_files_errors(tmp_path):
    make_gtzan_with_junk(tmp_path)
    touch(tmp_path / "a.txt", b"blues.00000\n")
    with pytest.raises(SourceError, match=r"split 'holdout'.*must be one of train, validation"):
        get_source("gtzan", str(tmp_path), split_files={"holdout": str(tmp_path / "a.txt")})
    with pytest.raises(SourceError, match=r"split file .*missing.txt"):
        get_source("gtzan", str(tmp_path), split_files={"train": str(tmp_path / "missing.txt")})


def test_gtzan_root_errors(tmp_path):
    with pytest.raises(SourceError, match=r"root=.*does not exist"):
        get_source("gtzan", str(tmp_path / "nope"))
    write_wav(tmp_path / "file.wav")
    with pytest.raises(SourceError, match=r"root=.*is not a folder"):
        get_source("gtzan", str(tmp_path / "file.wav"))
    (tmp_path / "empty" / "rock").mkdir(parents=True)
    touch(tmp_path / "empty" / "rock" / ".DS_Store")
    with pytest.raises(SourceError, match=r"no usable audio found in root="):
        get_source("gtzan", str(tmp_path / "empty"))


def test_gtzan_duplicate_track_id_names_both_paths(tmp_path):
    write_wav(tmp_path / "jazz" / "jazz.00000.wav")
    write_wav(tmp_path / "jazz" / "jazz.00000.au", fmt="AU")
    with pytest.raises(SourceError, match=r"duplicate track_id 'jazz.00000'.*\.au.*\.wav"):
        get_source("gtzan", str(tmp_path))


# --------------------------------------------------------------------------- fma

FMA_ROWS = [
    # track_id, subset, split, genre_top, artist id
    (2, "small", "training", "Hip-Hop", 1),
    (5, "small", "training", "Hip-Hop", 1),
    (10, "small", "validation", "Pop", 6),
    (140, "small", "test", "Folk", 54),
    (98565, "small", "training", "Electronic", 7),  # known empty file (zero bytes here)
    (99999, "small", "training", "Rock", 8),  # its file is missing
    (200, "medium", "training", "Rock", 9),
    (300, "large", "test", None, 10),  # no genre_top
]


def make_fma(base: Path, rows: list[tuple] = FMA_ROWS) -> Path:
    """Writes ``<base>/fma_small/<NNN>/<id>.mp3`` and ``<base>/fma_metadata/tracks.csv``."""
    columns = pd.MultiIndex.from_tuples(
        [
            ("album", "title"),
            ("artist", "id"),
            ("artist", "name"),
            ("set", "split"),
            ("set", "subset"),
            ("track", "genre_top"),
            ("track", "title"),
        ]
    )
    data = [
        ["Album", artist, f"Artist {artist}", split, subset, genre, f"Song, {track_id}"]
        for track_id, subset, split, genre, artist in rows
    ]
    frame = pd.DataFrame(
        data, columns=columns, index=pd.Index([r[0] for r in rows], name="track_id")
    )
    (base / "fma_metadata").mkdir(parents=True, exist_ok=True)
    frame.to_csv(base / "fma_metadata" / "tracks.csv")
    root = base / "fma_small"
    for track_id, *_ in rows:
        name = f"{track_id:06d}"
        if track_id == 99999:
            continue
        touch(root / name[:3] / f"{name}.mp3", b"" if track_id == 98565 else b"ID3 not decoded")
    touch(root / "README.txt", b"fma_small")
    touch(root / "checksums", b"")
    touch(root / "000" / "._000002.mp3", b"AppleDouble")
    return root


def test_fma_reads_two_row_header_metadata(tmp_path):
    root = make_fma(tmp_path)
    source = get_source("fma", str(root))  # subset inferred from the name fma_small
    tracks = {t.track_id: t for t in source.tracks()}
    assert list(tracks) == ["000002", "000005", "000010", "000140", "098565"]
    assert tracks["000002"] == Track(
        "000002", str(root / "000" / "000002.mp3"), "Hip-Hop", "1", "train"
    )
    assert tracks["000010"].split == "validation" and tracks["000140"].split == "test"
    assert tracks["000005"].group == tracks["000002"].group == "1"
    # The zero-byte known-bad file is listed normally; the decoder skips it later.
    assert os.path.getsize(tracks["098565"].path) == 0
    assert reasons(source.skipped) == {"099999.mp3": "audio file not found"}


def test_fma_subsets_nest(tmp_path):
    root = make_fma(tmp_path)
    medium = get_source("fma", str(root), subset="medium")
    assert "000200" in ids(medium.tracks())
    large = get_source("fma", str(root), subset="large")
    assert "000200" in ids(large.tracks())
    assert reasons(large.skipped)["000300.mp3"] == "no ('track', 'genre_top') in the fma metadata"
    small = get_source("fma", str(root), subset="small")
    assert "000200" not in ids(small.tracks()) and "000200.mp3" not in reasons(small.skipped)
    with pytest.raises(SourceError, match=r"subset='tiny' must be one of"):
        get_source("fma", str(root), subset="tiny")


def test_fma_options(tmp_path):
    root = make_fma(tmp_path)
    source = get_source("fma", str(root), exclude_known_bad=True, use_official_split=False)
    assert "098565" not in ids(source.tracks())
    assert reasons(source.skipped)["098565.mp3"] == "known short/empty fma_small track"
    assert {t.split for t in source.tracks()} == {None}
    assert "098565" in KNOWN_BAD_FMA_SMALL and len(KNOWN_BAD_FMA_SMALL) == 6


def test_fma_metadata_location_and_unknown_files(tmp_path):
    root = make_fma(tmp_path)
    moved = tmp_path / "elsewhere.csv"
    (tmp_path / "fma_metadata" / "tracks.csv").rename(moved)
    with pytest.raises(SourceError, match=r"no tracks.csv found.*pass metadata="):
        get_source("fma", str(root))
    touch(root / "777" / "777777.mp3", b"ID3")
    source = get_source("fma", str(root), metadata=str(moved))
    assert reasons(source.skipped)["777777.mp3"] == "no row in the fma metadata"
    (root / "tracks.csv").write_bytes(moved.read_bytes())
    assert len(get_source("fma", str(root)).tracks()) == 5


def test_fma_metadata_without_required_columns(tmp_path):
    root = make_fma(tmp_path)
    bad = tmp_path / "bad.csv"
    pd.DataFrame({("track", "genre_top"): ["Rock"]}, index=pd.Index([2], name="track_id")).to_csv(
        bad
    )
    with pytest.raises(SourceError, match=r"lacks the columns.*'set', 'split'"):
        get_source("fma", str(root), metadata=str(bad))


# --------------------------------------------------------------------------- folder


def test_folder_walks_nested_label_folders(tmp_path):
    write_wav(tmp_path / "rock" / "a.wav")
    write_wav(tmp_path / "rock" / "live" / "2001" / "b.WAV")
    touch(tmp_path / "rock" / "live" / "c.Flac")
    touch(tmp_path / "pop" / "x.ogg")
    touch(tmp_path / "pop" / "y.mp3")
    touch(tmp_path / "pop" / "cover.jpg")
    touch(tmp_path / "pop" / "._y.mp3")
    write_wav(tmp_path / "pop" / ".cache" / "z.wav")
    write_wav(tmp_path / "unlabelled.wav")
    source = get_source("folder", str(tmp_path))
    tracks = source.tracks()
    assert ids(tracks) == ["pop/x", "pop/y", "rock/a", "rock/live/2001/b", "rock/live/c"]
    assert [t.label for t in tracks] == ["pop", "pop", "rock", "rock", "rock"]
    assert tracks[3].path == str(tmp_path / "rock" / "live" / "2001" / "b.WAV")
    assert list(reasons(source.skipped)) == ["unlabelled.wav"]


def test_folder_unreadable_subfolder_is_skipped(tmp_path, monkeypatch):
    write_wav(tmp_path / "rock" / "a.wav")
    write_wav(tmp_path / "rock" / "locked" / "b.wav")
    locked = str(tmp_path / "rock" / "locked")
    real_scandir = os.scandir

    def scandir(path):  # chmod does not stop root, so simulate the permission error
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    source = get_source("folder", str(tmp_path))
    assert ids(source.tracks()) == ["rock/a"]
    assert source.skipped == [Skip(locked, "cannot read folder: Permission denied")]


def test_folder_errors(tmp_path):
    write_wav(tmp_path / "rock" / "a.wav")
    write_wav(tmp_path / "rock" / "a.flac")
    with pytest.raises(SourceError, match=r"duplicate track_id 'rock/a'"):
        get_source("folder", str(tmp_path))
    write_wav(tmp_path / "flat" / "a.wav")
    with pytest.raises(SourceError, match=r"no usable audio found"):
        get_source("folder", str(tmp_path / "flat"))


# --------------------------------------------------------------------------- csv


def write_csv(path: Path, text: str) -> Path:
    return touch(path, text.encode("utf-8"))


def test_csv_resolves_relative_paths_and_skips_missing_files(tmp_path):
    write_wav(tmp_path / "audio" / "a.wav")
    write_wav(tmp_path / "audio" / "sub" / "b.wav")
    absolute = write_wav(tmp_path / "elsewhere" / "c.wav")
    csv_path = write_csv(
        tmp_path / "list.csv",
        "\ufeffFilename,Genre,artist,split,extra\n"
        "audio/a.wav,rock,art1,training,x\n"
        "./audio/sub/b.wav,jazz,,val,\n"
        f"{absolute},rock,art2,,\n"
        "\n"
        "audio/missing.wav,rock,art3,test,\n",
    )
    source = get_source("csv", str(csv_path))
    tracks = {t.track_id: t for t in source.tracks()}
    assert sorted(tracks) == list(tracks)
    assert tracks["audio/a"] == Track(
        "audio/a", str(tmp_path / "audio" / "a.wav"), "rock", "art1", "train"
    )
    assert tracks["audio/sub/b"] == Track(
        "audio/sub/b", str(tmp_path / "audio" / "sub" / "b.wav"), "jazz", None, "validation"
    )
    third = tracks[str(absolute.with_suffix(""))]
    assert third.path == str(absolute) and third.split is None
    assert source.skipped == [Skip(str(tmp_path / "audio" / "missing.wav"), "file not found")]


def test_csv_track_id_column_and_audio_root_fallback(tmp_path):
    # A GTZAN feature table: bare file names, audio in <audio_root>/<label>/.
    write_wav(tmp_path / "genres" / "blues" / "blues.00000.wav")
    write_wav(tmp_path / "genres" / "rock" / "rock.00000.wav")
    csv_path = write_csv(
        tmp_path / "meta" / "features.csv",
        "filename,length,label\nblues.00000.wav,661794,blues\nrock.00000.wav,661794,rock\n",
    )
    source = get_source("csv", str(csv_path), audio_root=str(tmp_path / "genres"))
    assert ids(source.tracks()) == ["blues.00000", "rock.00000"]
    assert source.tracks()[1].path == str(tmp_path / "genres" / "rock" / "rock.00000.wav")

    csv_path = write_csv(
        tmp_path / "ids.csv", "track_id,path,label\nT1,genres/rock/rock.00000.wav,rock\n"
    )
    assert ids(get_source("csv", str(csv_path)).tracks()) == ["T1"]


def test_csv_validates_rows_before_any_work(tmp_path):
    write_wav(tmp_path / "a.wav")
    write_wav(tmp_path / "b.wav")
    header = "path,label,split\n"
    cases = [
        ("a.wav,rock,\nb.wav,,\n", r"row 3 of .* has an empty label"),
        ("a.wav,rock,\nb.wav,rock,\na.wav,jazz,\n", r"duplicate track_id 'a' in rows 2 .*and 4"),
        ("a.wav,rock,holdout\n", r"split 'holdout' in row 2 of .* must be one of"),
        (",rock,\n", r"row 2 of .* has an empty path"),
    ]
    for i, (body, message) in enumerate(cases):
        csv_path = write_csv(tmp_path / f"case{i}.csv", header + body)
        with pytest.raises(SourceError, match=message):
            get_source("csv", str(csv_path))

    csv_path = write_csv(tmp_path / "labels.csv", header + "a.wav,rock,\n" * 1 + "b.wav,polka,\n")
    with pytest.raises(
        SourceError, match=r"unknown label 'polka' in row 3 .*\(known: rock, jazz\)"
    ):
        get_source("csv", str(csv_path), labels=("rock", "jazz"))
    assert len(get_source("csv", str(csv_path), labels=["rock", "polka"]).tracks()) == 2


def test_csv_file_errors(tmp_path):
    with pytest.raises(SourceError, match=r"does not exist"):
        get_source("csv", str(tmp_path / "none.csv"))
    with pytest.raises(SourceError, match=r"is a folder"):
        get_source("csv", str(tmp_path))
    csv_path = write_csv(tmp_path / "cols.csv", "file_name,category\na.wav,rock\n")
    with pytest.raises(SourceError, match=r"needs a column for path .* and label"):
        get_source("csv", str(csv_path))
    with pytest.raises(SourceError, match=r"is empty"):
        get_source("csv", str(write_csv(tmp_path / "empty.csv", "")))
    csv_path = write_csv(tmp_path / "gone.csv", "path,label\nx.wav,rock\n")
    with pytest.raises(SourceError, match=r"no usable audio"):
        get_source("csv", str(csv_path))


# --------------------------------------------------------------------------- synthetic

SMALL = {"num_genres": 3, "clips_per_genre": 2, "clip_seconds": 0.5, "sample_rate": SR}


def test_synthetic_source_lists_and_never_writes(tmp_path):
    root = tmp_path / "synth"
    # Building the source only lists: without the prepare step there is nothing to list.
    with pytest.raises(SourceError, match=r"holds no synthetic dataset.*SyntheticSource.prepare"):
        get_source("synthetic", str(root), **SMALL, seed=1)
    assert not root.exists()
    prepare_source("synthetic", str(root), **SMALL, seed=1)
    source = get_source("synthetic", str(root), **SMALL, seed=1)
    tracks = source.tracks()
    assert ids(tracks) == [
        "ambient.00000",
        "ambient.00001",
        "rock.00000",
        "rock.00001",
        "techno.00000",
        "techno.00001",
    ]
    assert all(t.group is None and t.split is None for t in tracks)
    assert source.skipped == []
    assert (root / "synthetic.json").exists()
    # Other parameters are listed as they are (with a warning), never rewritten.
    stamp = (root / "synthetic.json").stat().st_mtime_ns
    assert get_source("synthetic", str(root), **SMALL, seed=2).tracks() == tracks
    assert (root / "synthetic.json").stat().st_mtime_ns == stamp
    listed = get_source("synthetic", str(root), generate=False)
    assert listed.tracks() == tracks
    prepare_source("synthetic", str(tmp_path / "none"), generate=False)  # writes nothing
    assert not (tmp_path / "none").exists()
    with pytest.raises(SourceError, match=r"holds no synthetic dataset.*generate=True"):
        get_source("synthetic", str(tmp_path / "none"), generate=False)
    with pytest.raises(ConfigError, match=r"num_genres=0 must be an integer >= 1"):
        get_source("synthetic", str(root), num_genres=0)
    with pytest.raises(ConfigError, match=r"num_genres=0 must be an integer >= 1"):
        prepare_source("synthetic", str(root), num_genres=0)
    prepare_source("gtzan", str(tmp_path / "other"))  # sources that list only: a no-op


# --------------------------------------------------------------------------- real data


@pytest.mark.real_data
def test_gtzan_sample_and_kaggle_table(real_data):
    gtzan = get_source("gtzan", os.path.join(real_data, "gtzan_sample"))
    tracks = gtzan.tracks()
    assert len(tracks) == 20 and gtzan.skipped == []
    assert len({t.label for t in tracks}) == 10
    table = get_source(
        "csv",
        os.path.join(real_data, "gtzan_kaggle", "features_30_sec.csv"),
        audio_root=os.path.join(real_data, "gtzan_sample", "genres"),
    )
    # The table names all 1000 clips; the 20 in the sample are found in their genre folders.
    assert [(t.track_id, t.path, t.label) for t in table.tracks()] == [
        (t.track_id, t.path, t.label) for t in tracks
    ]
    assert {s.reason for s in table.skipped} == {"file not found"}
