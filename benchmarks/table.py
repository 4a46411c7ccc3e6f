"""The benchmark figures as the plain-text table ``make bench`` prints."""

from __future__ import annotations

from typing import Any

Row = tuple[str, str, str, str]


def format_table(r: dict[str, Any]) -> str:
    """The figures as a plain-text table: figure, tfgenre, baseline, ratio."""
    rows: list[Row] = []
    # A run with --only measured some figures: each section needs its first key.
    for key, section in (
        ("features_speedup", _features_rows),
        ("writer_speedup", _writer_rows),
        ("bytes_per_segment", _bytes_rows),
        ("reader_speedup", _reader_rows),
        ("train_throughput", _train_rows),
        ("predict_latency", _predict_rows),
        (None, _backbone_rows),
        (None, _serving_rows),
    ):
        if key is None or key in r:
            rows += section(r)
    head = ("figure", "tfgenre", "baseline", "ratio")
    widths = [max(len(row[i]) for row in [*rows, head]) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    m = r["meta"]
    lines.append(
        f"({m['clips']} {m['source']} {m['clip_seconds']:g}-s clips, {m['cores']} cores, "
        f"load {m['load_average'][0]:.1f}, {m.get('seconds', 0):.0f} s)"
    )
    return "\n".join(lines)


def _features_rows(r: dict[str, Any]) -> list[Row]:
    """``features_speedup``: seconds per clip for the 57 features, against librosa."""
    rows: list[Row] = []
    f = r["features_speedup"]
    rows.append(
        (
            "features: s/clip (57 feats)",
            f"{f['fast_s']:.3f}",
            f"{f['reference_s']:.3f} librosa",
            f"{f['speedup']:.1f}x",
        )
    )
    return rows


def _writer_rows(r: dict[str, Any]) -> list[Row]:
    """``writer_speedup`` and ``writer_scaling``: clips/s against the naive writer."""
    rows: list[Row] = []
    ws = r["writer_speedup"]
    naive = f"{ws['naive_clips_per_s']:.2f} naive"
    naive_all = f"{ws['naive_all_views_clips_per_s']:.2f} naive"
    rows.append(
        (
            "writer mel, 1 worker clips/s",
            f"{ws['mel_1_worker_clips_per_s']:.2f}",
            naive,
            f"{ws['speedup_mel_1_worker']:.1f}x",
        )
    )
    rows.append(
        (
            "writer 3 views, 1 worker",
            f"{ws['all_views_1_worker_clips_per_s']:.2f}",
            naive_all,
            f"{ws['speedup_all_views_1_worker']:.1f}x",
        )
    )
    sc = r["writer_scaling"]
    n = sc["workers"]
    if n > 1:
        rows.append(
            (
                f"writer 3 views, {n} workers",
                f"{sc[f'all_views_{n}_workers_clips_per_s']:.2f}",
                naive_all,
                f"{ws[f'speedup_all_views_{n}_workers']:.1f}x",
            )
        )
        rows.append(
            (
                f"writer scaling 1->{n} (3 views)",
                f"{sc[f'all_views_{n}_workers_clips_per_s']:.2f}",
                f"{sc['all_views_1_worker_clips_per_s']:.2f} 1 worker",
                f"{sc['scaling_all_views']:.2f}x",
            )
        )
        if sc.get("machine_scaling_pure_compute"):
            rows.append(
                (
                    f"machine scaling 1->{n}, pure compute",
                    "",
                    "",
                    f"{sc['machine_scaling_pure_compute']:.2f}x",
                )
            )
        rows.append(
            (
                f"writer scaling 1->{n} (mel)",
                f"{sc[f'mel_{n}_workers_clips_per_s']:.2f}",
                f"{sc['mel_1_worker_clips_per_s']:.2f} 1 worker",
                f"{sc['scaling_mel']:.2f}x",
            )
        )
    return rows


def _bytes_rows(r: dict[str, Any]) -> list[Row]:
    """``bytes_per_segment`` per view, against the naive FloatLists."""
    rows: list[Row] = []
    b = r["bytes_per_segment"]
    for view in ("mel", "raw", "features"):
        naive_key = "naive_floatlist_224x224x3" if view == "mel" else f"naive_floatlist_{view}"
        rows.append(
            (
                f"bytes/segment {view}",
                f"{b[view]:.0f}",
                f"{b[naive_key]:.0f} naive",
                f"{b[f'naive_over_{view}']:.1f}x smaller",
            )
        )
    return rows


def _reader_rows(r: dict[str, Any]) -> list[Row]:
    """``reader_speedup`` and ``reader_vs_train``."""
    rows: list[Row] = []
    rd = r["reader_speedup"]
    rows.append(
        (
            "reader 224x224x3 ex/s",
            f"{rd['tfgenre_mel_224x224x3_examples_per_s']:.0f}",
            f"{rd['naive_floatlist_examples_per_s']:.0f} FloatList",
            f"{rd['speedup_vs_floatlist']:.1f}x",
        )
    )
    rows.append(
        (
            "reader 224x224x3 ex/s",
            f"{rd['tfgenre_mel_224x224x3_examples_per_s']:.0f}",
            f"{rd['decode_audio_every_epoch_examples_per_s']:.1f} audio/epoch",
            f"{rd['speedup_vs_audio']:.1f}x",
        )
    )
    rows.append(
        (
            "reader mel, model-side resize",
            f"{rd['tfgenre_mel_native_examples_per_s']:.0f}",
            f"{rd['naive_floatlist_examples_per_s']:.0f} FloatList",
            f"{rd['speedup_native_vs_floatlist']:.1f}x",
        )
    )
    for name, v in r.get("reader_vs_train", {}).items():
        rows.append(
            (
                f"reader vs train {name}",
                f"{v['reader_examples_per_s']:.0f}",
                f"{v['train_examples_per_s']:.1f} train",
                f"{v['ratio']:.1f}x",
            )
        )
    return rows


def _train_rows(r: dict[str, Any]) -> list[Row]:
    """``train_throughput``, with mixed precision where measured."""
    rows: list[Row] = []
    t = r["train_throughput"]
    mixed = t.get("examples_per_s_mixed_precision", {})
    for name, rate in t["examples_per_s"].items():
        if name in mixed:
            rows.append(
                (
                    f"train {name} ({t['device']}) ex/s, mixed precision",
                    f"{mixed[name]:.1f}",
                    f"{rate:.1f} float32",
                    f"{mixed[name] / rate:.2f}x",
                )
            )
        else:
            rows.append((f"train {name} ({t['device']}) ex/s", f"{rate:.1f}", "", ""))
    return rows


def _predict_rows(r: dict[str, Any]) -> list[Row]:
    """``predict_latency``: one clip's seconds against its length."""
    rows: list[Row] = []
    p = r["predict_latency"]
    rows.append(
        (
            f"predict {p['clip_seconds']:.0f}-s clip ({p['model']}) s",
            f"{p['seconds']:.3f}",
            f"{p['clip_seconds']:.0f} s audio",
            f"{p['realtime_factor']:.0f}x realtime",
        )
    )
    return rows


def _backbone_rows(r: dict[str, Any]) -> list[Row]:
    """``embeddings_throughput``, ``probe_time`` and ``embeddings_recipe_cost``."""
    rows: list[Row] = []
    e = r.get("embeddings_throughput", {})
    if "ratio" in e:
        rows.append(
            (
                f"embeddings {e['weights']}, {e['clip_seconds']:.0f}-s clips/s",
                f"{e['clips_per_second']:.2f}",
                f"{e['original_clips_per_second']:.2f} original graph",
                f"{e['ratio']:.2f}x",
            )
        )
        rows.append(("embeddings realtime factor", f"{e['realtime_factor']:.0f}x", "", ""))
    pt = r.get("probe_time") or {}
    if "total_seconds" in pt:
        rows.append(
            (
                f"probe {pt['clips']} clips ({pt['backbone']}) s",
                f"{pt['total_seconds']:.1f}",
                f"write {pt['write_seconds']:.1f} + probe {pt['baselines_seconds']:.1f}",
                f"{pt['clips'] / pt['total_seconds']:.2f} clips/s",
            )
        )
    rc = r.get("embeddings_recipe_cost") or {}
    if "ratio" in rc:
        rows.append(
            (
                f"embeddings recipe s per {rc['clip_seconds']:.0f}-s clip",
                f"{rc['recipe_seconds_per_clip']:.2f}",
                f"{rc['musicnn_msd_seconds_per_clip']:.2f} musicnn_msd alone",
                f"{rc['ratio']:.2f}x",
            )
        )
    return rows


def _serving_rows(r: dict[str, Any]) -> list[Row]:
    """``serve_latency``, ``library_predict`` and ``finetune_throughput``."""
    rows: list[Row] = []
    sv = r.get("serve_latency")
    if sv:
        for clients in (1, 4):
            level = sv[f"{clients}_clients"]
            rows.append(
                (
                    f"serve p50 / p95 s, {clients} client(s), {sv['clip_seconds']:.0f}-s clip",
                    f"{level['p50_seconds']:.2f} / {level['p95_seconds']:.2f}",
                    f"{sv['fresh_predict_seconds']:.2f} fresh predict",
                    f"{sv['fresh_predict_seconds'] / level['p50_seconds']:.1f}x, "
                    f"{level['requests_per_s']:.2f} req/s",
                )
            )
    lp = r.get("library_predict")
    if lp:
        rates = lp["tracks_per_second"]
        rows.append(
            (
                f"predict library {lp['tracks']} tracks/s, 1 | 2 workers",
                f"{rates['workers_1']:.2f} | {rates['workers_2']:.2f}",
                f"{rates['baseline']:.2f} predict_files loop",
                f"{lp['ratio_workers_1']:.2f}x | {lp['ratio_workers_2']:.2f}x",
            )
        )
    ft = r.get("finetune_throughput")
    if ft:
        rates = ft["examples_per_second"]
        rows.append(
            (
                f"finetune {ft['model']} ({ft['device']}) ex/s, unfrozen",
                f"{rates['unfrozen']:.1f}",
                f"{rates['frozen']:.1f} frozen",
                f"{ft['unfrozen_over_frozen']:.2f}x",
            )
        )
    return rows
