"""``OUT/report/``: static pages to check a run by eye (no server, no network at view time).

- ``index.html`` (and ``index-2.html``, …: ``PAGE`` items a page): the counts, errors by type
  with their messages, the share of windows with each modality, a histogram of every quality
  figure, the worst items of each figure, run time, throughput and settings; the items'
  table sorts by any column in the page;
- ``items/ID.html`` for the worst items of each figure and a sample (``items``), or all
  (``all_items``): the video with the cues as placed and as written as WebVTT tracks, a
  timeline on the media clock (waveform, cues, words, shots, windows; a click seeks the video
  there), thumbnails at their times, and lists of cues, words, shots and content assignments,
  each entry seeking the video when clicked.
"""

from __future__ import annotations

import base64
import html
import json
import os
import time
from typing import Optional

import numpy as np
import pyarrow.dataset as ds

from mmfuse.report.figures import QUALITY_COLUMNS, item_timeline, png, quality_histogram
from mmfuse.report.media import cues_as_written, thumbnails, waveform

__all__ = ["PAGE", "build_report"]

PAGE = 100
_CSS = """body{font:13px system-ui,sans-serif;margin:16px;color:#222}table{border-collapse:collapse}
td,th{border-bottom:1px solid #ddd;padding:2px 6px;text-align:left}th{cursor:pointer;background:#f4f4f4}
.figs img{margin:4px}.bad{color:#b00}.seek{cursor:pointer;color:#14a}.seek:hover{text-decoration:underline}
.thumbs img{height:60px;margin:1px;cursor:pointer}.timeline{width:100%;cursor:crosshair;display:block}"""
_SORT_JS = """document.querySelectorAll('th').forEach((th,i)=>th.onclick=()=>{const t=th.closest('table'),
b=t.tBodies[0],r=[...b.rows],asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';r.sort((x,y)=>{
const a=x.cells[i].dataset.v??x.cells[i].textContent,c=y.cells[i].dataset.v??y.cells[i].textContent,
p=parseFloat(a),q=parseFloat(c);return (isNaN(p)||isNaN(q)?a.localeCompare(c):p-q)*(asc?1:-1)});
r.forEach(x=>b.appendChild(x))});"""


def _read(run: str, table: str, columns=None) -> list[dict]:
    path = os.path.join(run, table)
    if not os.path.isdir(path):
        return []
    dataset = ds.dataset(path, format="parquet")
    names = [c for c in columns if c in dataset.schema.names] if columns else None
    return dataset.to_table(columns=names).to_pylist()


def _by_item(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict = {}
    for r in rows:
        out.setdefault(r["media_id"], []).append(r)
    return out


def _vtt_time(us: int) -> str:
    ms = max(0, int(us)) // 1000
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def webvtt(cues) -> str:
    """WebVTT of ``(start_us, end_us, text)`` cues."""
    lines = ["WEBVTT", ""]
    for k, (start, end, text) in enumerate(cues):
        if end <= start:
            continue
        lines += [str(k + 1), f"{_vtt_time(start)} --> {_vtt_time(end)}", text.replace("-->", "→"), ""]
    return "\n".join(lines)


def _data_url(text: str) -> str:
    return "data:text/vtt;base64," + base64.b64encode(text.encode()).decode()


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _write(path: str, data) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def _page(title: str, body: str, script: str = "") -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body>{body}<script>{_SORT_JS}{script}</script></body></html>"
    )


def _worst(media: list[dict], column: str, n: int = 5) -> list[dict]:
    """Items with the figure furthest from good: lowest confidences/ratios/scores, largest
    offsets and counts."""
    have = [m for m in media if m.get(column) is not None]
    low_is_bad = column.endswith("confidence") or column in ("aligned_word_ratio", "semantic_score_mean")
    return sorted(have, key=lambda m: m[column] if low_is_bad else -abs(m[column]))[:n]


def _item_link(media_id: str, pages: set, prefix: str = "items/") -> str:
    name = _e(media_id)
    return f"<a href='{prefix}{_slug(media_id)}.html'>{name}</a>" if media_id in pages else name


def _slug(media_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in media_id)


def build_report(run: str, to: Optional[str] = None, items: int = 20, all_items: bool = False, seed: int = 0) -> dict:
    """Write the report of ``run`` into ``to`` (default ``run/report``); returns what it wrote:
    ``{"folder", "index_pages", "item_pages", "seconds"}``."""
    started = time.perf_counter()
    folder = to or os.path.join(run, "report")
    summary = json.load(open(os.path.join(run, "run.json")))
    media = sorted(_read(run, "media"), key=lambda m: m["media_id"])
    errors = _read(run, "errors")
    windows = _read(run, "windows", ["media_id", "window_index", "start_us", "end_us", "has_video", "has_audio", "has_text"])
    chosen = {m["media_id"] for m in media} if all_items else set()
    if not all_items:
        for column in QUALITY_COLUMNS:
            chosen |= {m["media_id"] for m in _worst(media, column, 3)}
        chosen |= {m["media_id"] for m in media if m["status"] == "partial"}
        rest = [m["media_id"] for m in media if m["media_id"] not in chosen and m["status"] != "failed"]
        rng = np.random.default_rng(seed)
        chosen |= (
            set(rng.choice(rest, size=min(len(rest), max(0, items - len(chosen))), replace=False).tolist()) if rest else set()
        )
    failed = {m["media_id"] for m in media if m["status"] == "failed"}
    chosen -= failed
    index_pages = _index(folder, run, summary, media, errors, windows, chosen)
    # every table's rows by item, once: an item page then takes its own rows
    grouped = {"windows": _by_item(windows), **{t: _by_item(_read(run, t)) for t in ("words", "shots", "alignments")}}
    for m in media:
        if m["media_id"] in chosen:
            rows = {t: by_item.get(m["media_id"], []) for t, by_item in grouped.items()}
            _item_page(folder, m, rows.pop("windows"), rows)
    return {"folder": folder, "index_pages": index_pages, "item_pages": len(chosen), "seconds": time.perf_counter() - started}


def _index(folder, run, summary, media, errors, windows, pages) -> int:
    counts = summary.get("counts", {})
    head = (
        f"<h1>mmfuse run: {_e(run)}</h1><p>{counts.get('inputs', len(media))} inputs: {counts.get('ok', 0)} ok "
        f"({counts.get('partial', 0)} partial, {counts.get('skipped', 0)} carried over), "
        f"<span class='bad'>{counts.get('failed', 0)} failed</span>; {counts.get('windows', len(windows))} windows, "
        f"{counts.get('frames', 0)} frames sampled.</p>"
    )
    wall = (summary.get("timings") or {}).get("wall_seconds")
    hours = sum((m.get("duration_us") or 0) for m in media) / 3.6e9
    if wall:
        head += f"<p>Run time {wall:.1f} s; {hours * 3600 / wall:.1f} s of media per second.</p>"
    n = max(1, len(windows))
    cover = ", ".join(
        f"{k[4:]} {100 * sum(bool(w[k]) for w in windows) / n:.0f}%" for k in ("has_video", "has_audio", "has_text")
    )
    head += f"<p>Windows with each modality: {cover}.</p>"
    by_type: dict = {}
    for e in errors:
        by_type.setdefault(e["error_type"], []).append(e)
    head += "<h2>Errors</h2>" + (
        "<table><thead><tr><th>type</th><th>count</th><th>stage</th><th>item</th><th>message</th></tr></thead><tbody>"
        + "".join(
            f"<tr><td>{_e(t)}</td><td>{len(es)}</td><td>{_e(es[0]['stage'])}</td><td>{_e(es[0]['media_id'])}</td>"
            f"<td>{_e(es[0]['message'][:300])}</td></tr>"
            for t, es in sorted(by_type.items())
        )
        + "</tbody></table>"
        if errors
        else "<p>none</p>"
    )
    figs, worst = [], []
    for column, (label, scale, unit) in QUALITY_COLUMNS.items():
        values = [m.get(column) for m in media if m.get(column) is not None]
        if not values:
            continue
        _write(os.path.join(folder, "figures", f"{column}.png"), png(quality_histogram(values, column)))
        figs.append(f"<img src='figures/{column}.png' alt='{_e(label)}'>")
        links = ", ".join(f"{_item_link(m['media_id'], pages)} ({m[column] * scale:.3g}{unit})" for m in _worst(media, column))
        worst.append(f"<li>{_e(label)}: {links}</li>")
    head += "<h2>Quality</h2><div class='figs'>" + "".join(figs) + "</div><h3>Worst items</h3><ul>" + "".join(worst) + "</ul>"
    settings = json.dumps(summary.get("config", {}), indent=1, sort_keys=True, default=str)
    columns = ["status", "duration_us", "n_windows", "n_cues", *QUALITY_COLUMNS]
    n_pages = max(1, -(-len(media) // PAGE))
    for page in range(n_pages):
        rows = media[page * PAGE : (page + 1) * PAGE]
        body = "".join(
            "<tr><td>"
            + _item_link(m["media_id"], pages)
            + "</td>"
            + "".join(f"<td data-v='{_e(m.get(c))}'>{_e(m.get(c))}</td>" for c in columns)
            + "</tr>"
            for m in rows
        )
        nav = " ".join(f"<a href='{_index_name(k)}'>{k + 1}</a>" if k != page else f"<b>{k + 1}</b>" for k in range(n_pages))
        table = (
            f"<h2>Items (page {page + 1} of {n_pages}: {nav})</h2><table id='items'><thead><tr><th>item</th>"
            + "".join(f"<th>{_e(c)}</th>" for c in columns)
            + f"</tr></thead><tbody>{body}</tbody></table>"
        )
        extra = f"<h2>Settings</h2><pre>{_e(settings)}</pre>" if page == 0 else ""
        _write(os.path.join(folder, _index_name(page)), _page("mmfuse report", (head if page == 0 else "") + table + extra))
    return n_pages


def _index_name(page: int) -> str:
    return "index.html" if page == 0 else f"index-{page + 1}.html"


def _item_page(folder: str, m: dict, windows: list, tables: dict) -> None:
    media_id, slug = m["media_id"], _slug(m["media_id"])
    duration = (m.get("duration_us") or max([w["end_us"] for w in windows] or [1])) / 1e6
    video = m.get("video_uri")
    local = video if video and "://" not in video and os.path.exists(video) else None
    audio = local or (m.get("audio_uri") if m.get("audio_uri") and "://" not in m["audio_uri"] else None)
    written = [(c.start_us, c.end_us, c.text) for c in cues_as_written(m.get("transcript_uri"))]
    offset = m.get("transcript_offset_us") if m.get("transcript_offset_applied") else 0
    placed = [(start + (offset or 0), end + (offset or 0), text) for start, end, text in written]
    for a in tables["alignments"]:  # a cue moved by content is shown where content put it
        k = a["cue_index"]
        if 0 <= k < len(placed):
            placed[k] = (a["content_start_us"], a["content_end_us"], placed[k][2])
    words = [(w["start_us"], w["end_us"], w["word"]) for w in tables["words"] if w.get("start_us") is not None]
    shots = sorted((s["start_us"], s["end_us"]) for s in tables["shots"])
    spans = sorted((w["start_us"], w["end_us"]) for w in windows)
    sec = lambda xs: [(s / 1e6, e / 1e6, *rest) for s, e, *rest in xs]  # noqa: E731
    wave = waveform(audio) if audio else None
    fig = item_timeline(duration, wave, sec(written), sec(placed), sec(words), sec(shots), sec(spans))
    base = os.path.join(folder, "items")
    _write(os.path.join(base, f"{slug}.timeline.png"), png(fig))
    thumbs = thumbnails(local, [w["start_us"] for w in sorted(windows, key=lambda w: w["start_us"])][:40]) if local else []
    strip = []
    for k, (pts, jpeg) in enumerate(thumbs):
        _write(os.path.join(base, "thumbs", f"{slug}-{k}.jpg"), jpeg)
        strip.append(f"<img src='thumbs/{slug}-{k}.jpg' title='{pts / 1e6:.3f} s' onclick='seek({pts / 1e6:.6f})'>")
    poster = f"poster='thumbs/{slug}-0.jpg'" if thumbs else ""
    placed_vtt, written_vtt = webvtt(placed), webvtt(written)
    # the .vtt files are for players and editors; the page embeds the same text, because a
    # browser refuses a track file beside a page opened from disk (file: is no origin)
    _write(os.path.join(base, f"{slug}.placed.vtt"), placed_vtt)
    _write(os.path.join(base, f"{slug}.written.vtt"), written_vtt)
    player = (
        f"<video id='v' controls preload='metadata' width='480' {poster} src='{_e(os.path.relpath(local, base))}'>"
        f"<track kind='subtitles' label='as placed' srclang='en' src='{_data_url(placed_vtt)}' default>"
        f"<track kind='subtitles' label='as written' srclang='en' src='{_data_url(written_vtt)}'></video>"
        if local
        else "<p>(no local video to play)</p>"
    )

    def rows(items, fmt):
        return "".join(fmt(x) for x in items)

    cue_rows = rows(
        enumerate(written),
        lambda kc: (
            f"<tr><td>{kc[0]}</td><td class='seek' onclick='seek({placed[kc[0]][0] / 1e6:.6f})'>{placed[kc[0]][0] / 1e6:.3f}</td>"
            f"<td>{kc[1][0] / 1e6:.3f}</td><td>{_e(kc[1][2])}</td></tr>"
        ),
    )
    word_rows = rows(words, lambda w: f"<span class='seek' onclick='seek({w[0] / 1e6:.6f})'>{_e(w[2])}</span> ")
    shot_rows = rows(
        enumerate(shots),
        lambda ks: f"<span class='seek' onclick='seek({ks[1][0] / 1e6:.6f})'>#{ks[0]} {ks[1][0] / 1e6:.3f} s</span> ",
    )
    align_rows = rows(
        tables["alignments"],
        lambda a: (
            f"<tr><td>{a['cue_index']}</td><td class='seek' onclick='seek({a['content_start_us'] / 1e6:.6f})'>{a['shot_index']}</td>"
            f"<td>{_e(a['space'])}</td><td>{_e(a['score'])}</td></tr>"
        ),
    )
    figures = "".join(
        f"<li>{_e(label)}: {_e(m.get(c))}</li>" for c, (label, _, _) in QUALITY_COLUMNS.items() if m.get(c) is not None
    )
    warnings = "".join(f"<li>{_e(w)}</li>" for w in (m.get("warnings") or []))
    body = (
        f"<p><a href='../index.html'>← run</a></p><h1>{_e(media_id)}</h1><p>status {_e(m['status'])}, "
        f"{duration:.2f} s, label {_e(m.get('label'))}</p>{player}"
        f"<img class='timeline' id='timeline' src='{slug}.timeline.png' data-duration='{duration:.6f}' alt='timeline'>"
        f"<div class='thumbs'>{''.join(strip)}</div><h2>Quality</h2><ul>{figures}</ul><h2>Warnings</h2><ul>{warnings or '<li>none</li>'}</ul>"
        f"<h2>Cues</h2><table><thead><tr><th>#</th><th>placed (s)</th><th>written (s)</th><th>text</th></tr></thead><tbody>{cue_rows}</tbody></table>"
        f"<h2>Words</h2><p>{word_rows or 'none'}</p><h2>Shots</h2><p>{shot_rows or 'none'}</p>"
        f"<h2>Cues placed by content</h2><table><thead><tr><th>cue</th><th>shot</th><th>space</th><th>score</th></tr></thead>"
        f"<tbody>{align_rows}</tbody></table>"
    )
    script = """function seek(t){const v=document.getElementById('v');if(v){v.currentTime=t;}}
const tl=document.getElementById('timeline');tl.onclick=e=>seek(e.offsetX/tl.clientWidth*parseFloat(tl.dataset.duration));
const v=document.getElementById('v');if(v){const tr=v.textTracks[0];tr.mode='hidden';
const el=v.querySelector('track');el.addEventListener('load',()=>{document.body.dataset.cues=tr.cues.length;});}"""
    _write(os.path.join(base, f"{slug}.html"), _page(f"{media_id}: mmfuse report", body, script))
