"""End to end: train a tiny model through a prototype projection with
tools/train.py, explain a validation video with tools/explain.py, and open
the HTML report in headless Chromium (every clip must load and play; a
screenshot is saved). Also the batch mode over a split list.

Chromium is looked for at /usr/bin/chromium (or $HPROTO_CHROMIUM). Without
it the browser checks are skipped, unless HPROTO_REQUIRE_CHROMIUM=1.
"""
import base64
import html
import json
import os
import os.path as osp
import re
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import torch
from PIL import Image
from test_explain import CONFIG, make_embedding, tiny_model_options

from conftest import REPO_ROOT, decode_clip
from hprotopnet_mm.explain.clip_video import encode_webm

TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
EXPLAIN = osp.join(REPO_ROOT, 'tools', 'explain.py')
CHROMIUM = os.environ.get('HPROTO_CHROMIUM', '/usr/bin/chromium')
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu',
                  '--disable-quic', '--no-first-run',
                  '--disable-background-networking',
                  '--disable-component-update', '--disable-sync',
                  '--hide-scrollbars')
VIDEO_CHECK = """<script>
window.addEventListener('load', function () {
  var videos = Array.from(document.querySelectorAll('video'));
  setTimeout(function () {
    var out = document.createElement('pre');
    out.id = 'video-check';
    out.textContent = JSON.stringify(videos.map(function (v) {
      return [v.getAttribute('data-name'), v.readyState >= 2 && !v.error,
              v.videoWidth, v.videoHeight, v.currentTime > 0];
    }));
    document.body.appendChild(out);
  }, 3000);
});
</script>"""


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout


@pytest.fixture(scope='module')
def trained(toy_data, tmp_path_factory):
    """A tiny model trained for one epoch (warm-up) and projected after it,
    then 3 last-layer iterations."""
    folder = tmp_path_factory.mktemp('report')
    options = tiny_model_options(
        toy_data, make_embedding(toy_data, str(folder / 'embedding.pth')))
    options.update({
        'train_dataloader.dataset.ann_file': toy_data.train_list,
        'train_dataloader.dataset.data_prefix.video': toy_data.video_root,
        'train_dataloader.batch_size': 8,
        'train_dataloader.num_workers': 0,
        'projection_dataloader.num_workers': 0,
        'train_cfg.max_epochs': 1,
        'custom_hooks.1.warmup_epochs': 1,
        'custom_hooks.2.begin': 1,
        'custom_hooks.2.interval': 1,
        'custom_hooks.2.last_layer.iters': 3,
    })
    options = [f'{k}={v}' for k, v in options.items()]
    work_dir = str(folder / 'work')
    log = run([
        sys.executable, TRAIN, CONFIG, '--work-dir', work_dir, '--no-validate',
        '--seed', '0', '--cfg-options', *options
    ])
    del log
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    sources = torch.load(
        checkpoint, weights_only=True
    )['state_dict']['cls_head._extra_state']['prototype_sources']
    assert sources['epoch'] == 1
    return checkpoint, options, folder


@pytest.fixture(scope='module')
def report(trained, toy_data):
    checkpoint, options, folder = trained
    out = str(folder / 'explanation')
    video = osp.join(toy_data.video_root, 'val',
                     'green_triangle_sway_smooth_0.mp4')
    stdout = run([
        sys.executable, EXPLAIN, CONFIG, checkpoint, video, '--out', out,
        '--topk-classes', '1', '--topk-prototypes', '2', '--min-confidence',
        '0.6', '--faithfulness', '--num-random', '3', '--cfg-options', *options
    ])
    assert 'report written to' in stdout
    with open(osp.join(out, 'explanation.json')) as f:
        data = json.load(f)
    with open(osp.join(out, 'report.html'), encoding='utf-8') as f:
        page = f.read()
    return out, data, page


def test_report_rows_sources_and_numbers(report, tmp_path):
    out, data, page = report
    # one row per level, top level first, then the alternative leaf
    order = [m.group(1) for m in re.finditer(r'class="level ([\w-]+)"', page)]
    assert order == [
        'level-grandparent', 'level-parent', 'level-leaf', 'alternative'
    ]
    levels = data['levels']
    assert [level['level_name']
            for level in levels] == ['grandparent', 'parent', 'leaf']
    assert levels[-1]['node'] == data['prediction']['leaf']
    for level in levels:
        assert f'<b>{html.escape(level["node_name"])}</b>' in page
        assert f'{level["probability"]:.4f}' in page
        assert len(level['prototypes']) == 2
    rows = [
        r for level in levels + data['alternatives']
        for r in level['prototypes']
    ]
    for row in rows:
        # the source clip decoded again reproduces the projected patch
        assert row['source_status'] == 'ok', row['source_status']
        source = row['source']
        assert source['frames_match'] is True
        assert source['distance_now'] < 1e-3
        assert osp.isfile(source['filename'])
        for key in ('activation_clip', 'source_clip'):
            assert row[key].endswith('.webm')
            with open(osp.join(out, row[key]), 'rb') as f:
                frames = decode_clip(f.read(), tmp_path / 'clip.webm')
            assert frames.shape == (16, 224, 224, 3)
    assert data['projection']['projected'] is True
    assert data['abstain']['min_confidence'] == 0.6
    faith = data['faithfulness']
    assert len(faith['prototypes']) == 6
    assert all(
        len(r['similarity_drops_random']) == 3 for r in faith['prototypes'])
    assert 'Faithfulness (deletion test)' in page
    # self-contained: no file or network references
    assert 'src="data:video/webm;base64,' in page
    # 16 clips of 16 frames at 224 px: WebM keeps it well under 100 kB each
    assert len(page.encode('utf-8')) < 16 * 100_000
    assert not re.search(r'(src|href)="(?!data:)', page)


def chromium_or_skip():
    if osp.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = f'headless Chromium not found at {CHROMIUM}'
    if os.environ.get('HPROTO_REQUIRE_CHROMIUM') == '1':
        pytest.fail(message + ' (HPROTO_REQUIRE_CHROMIUM=1)')
    pytest.skip(message)


def chromium(browser, *args):
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f'--user-data-dir={profile}', *args],
            capture_output=True,
            text=True,
            timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def played_videos(browser, page_path):
    """[name, loaded, width, height, playing] of every <video> of a page,
    three seconds after the page's load event, as Chromium sees it."""
    with open(page_path, encoding='utf-8') as f:
        page = f.read()
    check_path = page_path[:-len('.html')] + '_check.html'
    with open(check_path, 'w', encoding='utf-8') as f:
        f.write(page.replace('</body>', VIDEO_CHECK + '</body>'))
    dom = chromium(browser, '--autoplay-policy=no-user-gesture-required',
                   '--virtual-time-budget=20000', '--dump-dom',
                   f'file://{check_path}')
    found = re.search(r'<pre id="video-check">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


def test_video_check_detects_broken_videos(tmp_path):
    browser = chromium_or_skip()
    frames = np.zeros((8, 32, 48, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(8)[:, None, None] * 30
    good = base64.b64encode(encode_webm(frames)).decode('ascii')
    page = tmp_path / 'control.html'
    page.write_text(
        '<!DOCTYPE html><html><body>'
        f'<video data-name="good" src="data:video/webm;base64,{good}" '
        'autoplay loop muted></video>'
        '<video data-name="bad" src="data:video/webm;base64,AAAAAAAA" '
        'autoplay loop muted></video></body></html>')
    assert played_videos(browser, str(page)) == [['good', True, 48, 32, True],
                                                 ['bad', False, 0, 0, False]]


def test_report_opens_in_chromium(report):
    browser = chromium_or_skip()
    out, data, _ = report
    videos = played_videos(browser, osp.join(out, 'report.html'))
    rows = [
        r for level in data['levels'] + data['alternatives']
        for r in level['prototypes']
    ]
    assert len(videos) == 2 * len(rows) == 16
    assert all(loaded and width == 224 and height == 224 and playing
               for _, loaded, width, height, playing in videos), videos
    screenshot = osp.join(out, 'report_screenshot.png')
    chromium(browser, f'--screenshot={screenshot}', '--window-size=1400,2000',
             f'file://{osp.join(out, "report.html")}')
    with Image.open(screenshot) as shot:
        assert shot.size == (1400, 2000)
        colours = shot.convert('RGB').getcolors(maxcolors=1 << 20)
        assert colours is None or len(colours) > 1000  # not blank
    print(f'screenshot: {screenshot}')


def test_batch_mode_over_a_split(trained, toy_data):
    checkpoint, options, folder = trained
    out = str(folder / 'batch')
    stdout = run([
        sys.executable, EXPLAIN, CONFIG, checkpoint, '--split-list',
        toy_data.val_list, '--video-root', toy_data.video_root, '--max-videos',
        '2', '--faithfulness', '--num-random', '2', '--min-confidence', '0.6',
        '--topk-prototypes', '1', '--out', out, '--cfg-options', *options
    ])
    with open(osp.join(out, 'batch_results.json')) as f:
        results = json.load(f)
    summary = results['summary']
    assert summary['num_videos'] == 2 and len(results['videos']) == 2
    assert f'similarity_ratio_mean: {summary["similarity_ratio_mean"]}' \
        in stdout
    assert summary['similarity_drop_top_mean'] is not None
    assert results['settings']['num_random'] == 2
