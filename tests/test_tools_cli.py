import os.path as osp
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

TRAIN_FLAGS = ('--work-dir', '--resume', '--amp', '--cfg-options',
               '--launcher', '--local_rank', '--no-validate', '--seed',
               '--auto-scale-lr')
TEST_FLAGS = ('--work-dir', '--dump', '--cfg-options', '--launcher',
              '--local_rank', '--show-dir')


def _help(tool):
    out = subprocess.run(
        [sys.executable,
         osp.join(REPO_ROOT, 'tools', tool), '-h'],
        capture_output=True,
        text=True,
        check=True)
    return out.stdout


@pytest.mark.parametrize('tool,flags', [('train.py', TRAIN_FLAGS),
                                        ('test.py', TEST_FLAGS)])
def test_tools_show_mmaction_flags(tool, flags):
    text = _help(tool)
    for flag in flags:
        assert flag in text, f'{tool} -h lacks {flag}'
    if tool == 'test.py':
        assert 'checkpoint' in text


def test_train_with_missing_dataset_names_the_missing_file(tmp_path):
    config = osp.join(REPO_ROOT, 'configs', 'toy', 'i3d_r3d18_toy.py')
    missing = tmp_path / 'nowhere'
    out = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'), config, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'train_dataloader.dataset.ann_file={missing}/train_list.txt'
    ],
                         capture_output=True,
                         text=True,
                         cwd=str(tmp_path))
    assert out.returncode != 0
    assert 'Traceback' not in out.stderr
    assert 'train.py: error:' in out.stderr
    assert f'{missing}/train_list.txt' in out.stderr
    assert 'train_dataloader.dataset.ann_file' in out.stderr


def test_preflight_stress_tool_counts_passes_and_failures(toy_data, tmp_path):
    """tools/stress_preflight.py (README: 200 processes) on a few: the toy
    videos pass; a folder holding a text file named .mp4 fails."""
    tool = osp.join(REPO_ROOT, 'tools', 'stress_preflight.py')
    out = subprocess.run([
        sys.executable, tool, '--processes', '3', '--videos',
        toy_data.video_root
    ],
                         capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f'3 fresh processes, {toy_data.num_videos} videos each, released ' \
        'together: 3 passed, 0 killed by a signal, 0 found unusable videos' \
        in out.stdout
    (tmp_path / 'broken.mp4').write_text('not a video\n')
    out = subprocess.run([
        sys.executable, tool, '--processes', '2', '--videos',
        str(tmp_path), '--workers', '0'
    ],
                         capture_output=True,
                         text=True)
    assert out.returncode == 1
    assert '0 passed, 0 killed by a signal, 2 found unusable videos' \
        in out.stdout
    assert f'{tmp_path}/broken.mp4: decord cannot open it' in out.stdout
