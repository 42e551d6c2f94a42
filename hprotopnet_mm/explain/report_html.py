"""Write an explanation: ``report.html`` (self-contained, WebM clips
embedded as base64 data URIs), ``explanation.json`` and the clip files.

The report follows the paper's figures: one row per level of the hierarchy,
top level first (e.g. grandparent, parent, class), each with the node's
name and probability and its top prototypes as (activation on the test clip
| source in the training clip | numbers); then the alternative leaves, the
abstaining prediction and the deletion test when they were computed.
"""
import base64
import html
import json
import os
import os.path as osp
from typing import Dict, List, Optional

from .explainer import Explanation

_STYLE = """
body { font-family: sans-serif; margin: 16px; color: #222; background: #fff; }
h1 { font-size: 20px; } h2 { font-size: 17px; margin-top: 24px; }
.summary td { padding: 2px 10px 2px 0; }
.level { border: 1px solid #bbb; border-radius: 6px; margin: 12px 0;
         padding: 8px; }
.level-head { font-size: 16px; margin-bottom: 6px; }
.level-name { text-transform: uppercase; color: #666; font-size: 12px; }
.prob { font-weight: bold; }
.protos { display: flex; flex-wrap: wrap; gap: 10px; }
.proto { border: 1px solid #ddd; border-radius: 4px; padding: 6px;
         display: flex; gap: 8px; align-items: flex-start; }
.proto figure { margin: 0; text-align: center; font-size: 11px; }
.proto video { display: block; }
.numbers { font-size: 12px; border-collapse: collapse; }
.numbers td { padding: 1px 6px 1px 0; vertical-align: top; }
.note { color: #a33; font-size: 12px; max-width: 260px; }
.notes li { font-size: 12px; margin: 2px 0; }
table.faith { border-collapse: collapse; font-size: 12px; }
table.faith td, table.faith th { border: 1px solid #ccc; padding: 2px 6px; }
"""


def _esc(value) -> str:
    return html.escape(str(value))


def _num(value, digits: int = 4) -> str:
    if value is None:
        return 'n/a'
    return f'{value:.{digits}g}' if isinstance(value, float) else str(value)


def _video(images: Dict[str, bytes], name: Optional[str], alt: str) -> str:
    if name is None:
        return ''
    data = base64.b64encode(images[name]).decode('ascii')
    return (f'<video src="data:video/webm;base64,{data}" autoplay loop muted '
            f'playsinline title="{_esc(alt)}" data-name="{_esc(name)}">'
            '</video>')


def _source_cell(row: Dict) -> List[str]:
    source = row.get('source')
    lines = []
    if source is None:
        return lines
    lines.append(('source', osp.basename(str(source.get('filename')))))
    lines.append(('source label', source.get('label_name',
                                             source.get('label'))))
    inds = source.get('frame_inds') or []
    if inds:
        lines.append(('source frames', f'{inds[0]}-{inds[-1]}'))
    lines.append(('source cell (t,h,w)', source.get('cell')))
    lines.append(('distance at projection', _num(source.get('distance'))))
    if 'distance_now' in source:
        lines.append(('distance now', _num(source['distance_now'])))
    return lines


def _quality_cell(row: Dict) -> List[str]:
    quality = row.get('quality')
    if quality is None:
        return []
    return [
        ('consistency (hit share)',
         f'{quality["hit_share"]:.2f} over {quality["clips"]} clips' +
         (' - consistent' if quality['consistent'] else '')),
        ('stability (peak kept under noise)',
         f'{quality["peak_unchanged"]:.2f}'),
    ]


def _prototype_html(row: Dict, images: Dict[str, bytes]) -> str:
    numbers = [
        ('prototype', row['prototype']),
        ('node', row['node_name']),
        ('similarity', _num(row['similarity'])),
        ('min distance', _num(row['min_distance'])),
        ('contribution (log-probability)', _num(row['contribution'])),
        ('contribution (logit)', _num(row['logit_contribution'])),
        ('best cell (t,h,w)', row['best_cell']),
    ] + _source_cell(row) + _quality_cell(row)
    table = ''.join(f'<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>'
                    for k, v in numbers)
    note = ''
    if row['source_status'] != 'ok':
        note = f'<div class="note">{_esc(row["source_status"])}</div>'
    source_fig = ''
    if row.get('source_clip'):
        source_fig = (
            f'<figure>{_video(images, row["source_clip"], "source")}'
            '<figcaption>training clip (source)</figcaption></figure>')
    test_fig = ''
    if row.get('activation_clip'):
        test_fig = (
            f'<figure>{_video(images, row["activation_clip"], "activation")}'
            '<figcaption>activation on this clip</figcaption></figure>')
    return (f'<div class="proto">{test_fig}{source_fig}<div>'
            f'<table class="numbers">{table}</table>{note}</div></div>')


def _node_html(entry: Dict, images: Dict[str, bytes], label: str,
               css: str) -> str:
    rows = entry['prototypes']
    body = ''.join(_prototype_html(r, images) for r in rows) or \
        ('<div class="note">this node has no prototypes of its own '
         '(or all of them were pruned)</div>')
    return (f'<div class="level {css}"><div class="level-head">'
            f'<span class="level-name">{_esc(label)}</span> '
            f'<b>{_esc(entry["node_name"])}</b> - probability '
            f'<span class="prob">{entry["probability"]:.4f}</span></div>'
            f'<div class="protos">{body}</div></div>')


_SCORE_LABELS = dict(
    similarity='prototype similarity',
    node_log_prob='node log-probability',
    node_logit='node logit')


def _mean(values: List[float]) -> float:
    return sum(values) / len(values)


def _faithfulness_html(faith: Dict, names: List[str]) -> str:
    scores = faith['scores']
    head = '<tr><th>prototype</th><th>node</th><th>voxels</th>' + ''.join(
        f'<th>{_esc(_SCORE_LABELS.get(key, key))} drop (top)</th>'
        f'<th>{_esc(_SCORE_LABELS.get(key, key))} drop (random, mean)</th>'
        for key in scores) + '</tr>'
    rows = ''
    for r in faith['prototypes']:
        cells = ''.join(f'<td>{_num(r[f"{key}_drop_top"])}</td>'
                        f'<td>{_num(_mean(r[f"{key}_drops_random"]))}</td>'
                        for key in scores)
        rows += (f'<tr><td>{r["prototype"]}</td><td>{_esc(names[r["node"]])}'
                 f'</td><td>{r["voxels"]}</td>{cells}</tr>')
    summary = ''.join(
        f'<li>{_esc(_SCORE_LABELS.get(key, key))}: mean drop '
        f'{_num(faith[f"{key}_drop_top"])} (top) vs '
        f'{_num(faith[f"{key}_drop_random"])} (random), ratio <b>'
        f'{_ratio_text(faith[f"{key}_ratio"])}</b></li>' for key in scores)
    return (f'<p>Occluding each prototype\'s top region (voxels at or above '
            f'the {faith["percentile"]}th percentile of its activation map, '
            f'filled with the {faith["fill"]} value) against '
            f'{faith["num_random"]} randomly shifted regions of the same '
            f'size (seed {faith["seed"]}); scope: {_esc(faith["scope"])}.'
            f'</p><ul>{summary}</ul><table class="faith">{head}{rows}'
            '</table>')


def _ratio_text(ratio: Optional[float]) -> str:
    if ratio is None:
        return 'undefined (the mean random drop is not positive)'
    return _num(ratio)


def render_html(explanation: Explanation) -> str:
    """The report as one self-contained HTML page."""
    data, images = explanation.data, explanation.images
    pred = data['prediction']
    proj = data['projection']
    summary = [
        ('video', data['video']),
        ('prediction', f'{pred["name"]} (probability '
         f'{pred["probability"]:.4f})'),
        ('clips', f'{data["num_clips"]} sampled; explained clip '
         f'{data["explained_clip"] + 1} of {data["num_clips"]} (highest '
         'probability of the predicted class), frames '
         f'{data["frame_inds"][0] if data["frame_inds"] else "?"}-'
         f'{data["frame_inds"][-1] if data["frame_inds"] else "?"} of '
         f'{data["video_frames"]}'),
        ('clip / feature map (T,H,W)',
         f'{data["clip_size"]} / {data["feature_size"]}'),
        ('head', f'{data["head"]}, average_clips={data["average_clips"]}'),
        ('prototypes projected',
         f'yes (epoch {proj.get("epoch", "?")})' if proj['projected'] else
         'no: the prototypes have not been projected onto training patches '
         'yet, so they have no source clips'),
    ]
    if data['abstain'] is not None:
        a = data['abstain']
        answer = 'no answer (root)' if a['node'] == -1 else \
            f'{a["node_name"]} ({a["level_name"]}, probability ' \
            f'{a["probability"]:.4f})'
        summary.append((f'abstaining answer at min confidence '
                        f'{a["min_confidence"]}', answer))
    parts = [
        '<!DOCTYPE html><html><head><meta charset="utf-8">',
        f'<title>Explanation: {_esc(osp.basename(data["video"]))}</title>',
        f'<style>{_STYLE}</style></head><body>',
        f'<h1>Why {_esc(pred["name"])}?</h1>', '<table class="summary">' +
        ''.join(f'<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>'
                for k, v in summary) + '</table>',
        '<h2>Prediction, from the top of the hierarchy down</h2>'
    ]
    for entry in data['levels']:
        parts.append(
            _node_html(entry, images, entry['level_name'],
                       f'level-{entry["level_name"]}'))
    if data['alternatives']:
        parts.append('<h2>Next most likely classes</h2>')
        for entry in data['alternatives']:
            parts.append(
                _node_html(entry, images, f'rank {entry["rank"]}',
                           'alternative'))
    if data['faithfulness'] is not None:
        parts.append('<h2>Faithfulness (deletion test)</h2>')
        parts.append(
            _faithfulness_html(data['faithfulness'], data['node_names']))
    parts.append('<h2>How to read this</h2><ul class="notes">' + ''.join(
        f'<li><b>{_esc(k.replace("_", " "))}</b>: {_esc(v)}</li>'
        for k, v in data['notes'].items()) + '</ul></body></html>')
    return '\n'.join(parts)


def write_report(explanation: Explanation, out_dir: str) -> Dict[str, str]:
    """Write ``report.html``, ``explanation.json`` and ``clips/`` to
    ``out_dir``.

    Returns:
        dict[str, str]: Paths of the report and the JSON file.
    """
    os.makedirs(out_dir, exist_ok=True)
    for name, content in explanation.images.items():
        path = osp.join(out_dir, name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(content)
    json_path = osp.join(out_dir, 'explanation.json')
    with open(json_path, 'w') as f:
        json.dump(explanation.data, f, indent=1)
    html_path = osp.join(out_dir, 'report.html')
    with open(html_path, 'w', encoding='utf-8') as f:
        f.write(render_html(explanation))
    return dict(html=html_path, json=json_path)
