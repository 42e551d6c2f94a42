"""Training killed with SIGKILL at random moments always resumes.

The main toy config (tiny network, 12 clips, 2 epochs with a projection and
a last-layer phase after each) is killed three times at seeded random
moments (after a random number of the run's log lines, plus a random
fraction of a second) and once while a checkpoint is being written. After
every kill each ``*.pth`` in the work dir loads and ``tools/train.py
--resume`` continues from the checkpoint ``last_checkpoint`` names; the
final checkpoint holds projected prototypes with valid provenance.
"""
import glob
import os
import os.path as osp
import random
import shutil
import threading
import time

import pytest
import torch
from mmengine.config import Config

from conftest import REPO_ROOT, retarget_toy_config, start_train

CONFIG = osp.join(REPO_ROOT, 'configs', 'toy', 'hproto_cpg_r3d18_toy.py')
# logged by CheckpointHook.before_train, after the checkpoint is resumed
STARTED = 'Checkpoints will be saved to'
RANDOM_KILLS = 3
SEED = 0


@pytest.fixture(scope='module')
def config(toy_data, tmp_path_factory):
    """The main toy config on one clip per class, batch 12 (one iteration
    per epoch), warm-up 1 epoch, projection + 1 last-layer iteration after
    epochs 1 and 2."""
    folder = tmp_path_factory.mktemp('interruption')
    path = retarget_toy_config(CONFIG, toy_data, folder, max_epochs=2)
    cfg = Config.fromfile(path)
    train_list = folder / 'train_list.txt'
    lines = open(toy_data.train_list).read().splitlines()
    train_list.write_text('\n'.join(line
                                    for line in lines if '_0.mp4' in line) +
                          '\n')
    for loader in ('train_dataloader', 'projection_dataloader'):
        cfg[loader].dataset.ann_file = str(train_list)
    cfg.train_dataloader.batch_size = 12
    cfg.model.backbone.base_channels = 8
    cfg.model.cls_head.update(
        in_channels=32,
        proto_channels=16,
        num_prototypes_per_class=2,
        num_prototypes_per_ancestor=2)
    for hook in cfg.custom_hooks:
        if hook.type == 'TrainingPhaseHook':
            hook.warmup_epochs = 1
        if hook.type == 'PrototypeProjectionHook':
            hook.update(begin=1, interval=1, progress=False)
            hook.last_layer.iters = 1
    cfg.dump(path)
    return path


class TrainRun:
    """tools/train.py in a subprocess whose output is read by a thread."""

    def __init__(self, config, work_dir, resume):
        self.proc = start_train(config, '--work-dir', work_dir,
                                '--no-validate',
                                *(['--resume'] if resume else []))
        self.lines = []
        self.events = None  # log lines since training started
        self.progress = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.progress:
                self.lines.append(line)
                if self.events is not None and ' - mmengine - ' in line:
                    self.events += 1
                elif STARTED in line:
                    self.events = 0
                self.progress.notify_all()
        with self.progress:
            self.ended = True
            self.progress.notify_all()

    ended = False

    def wait_for_events(self, count):
        """Wait until ``count`` log lines followed the start of training
        (or the process ended)."""
        with self.progress:
            assert self.progress.wait_for(
                lambda: self.ended or
                (self.events or 0) >= count and self.events is not None,
                timeout=300)

    def kill(self):
        """SIGKILL the process; False if it had already ended."""
        if self.proc.poll() is not None:
            return False
        self.proc.kill()
        return True

    def finish(self):
        code = self.proc.wait(timeout=300)
        self.reader.join(timeout=60)
        return code, ''.join(self.lines)


def named_checkpoint(work_dir):
    """The file ``last_checkpoint`` names, or None."""
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return f.read().strip()


def check_work_dir(work_dir):
    """Every checkpoint loads weights-only; ``last_checkpoint`` names one
    of them. Returns the (epoch, iter) of the named one, or None."""
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        torch.load(path, map_location='cpu', weights_only=True)
    named = named_checkpoint(work_dir)
    if named is None:
        return None
    assert osp.isfile(named), f'last_checkpoint names missing {named}'
    meta = torch.load(named, map_location='cpu', weights_only=True)['meta']
    return meta['epoch'], meta['iter']


def kill_during_checkpoint_write(run, work_dir):
    """Kill as soon as a temporary checkpoint file appears."""
    while run.proc.poll() is None:
        if osp.isdir(work_dir) and any(
                name.endswith('.partial') for name in os.listdir(work_dir)):
            return run.kill()
        time.sleep(0.0005)
    return False


@pytest.fixture(scope='module')
def interrupted(config, tmp_path_factory):
    """The run with its kills; returns the work dir and what happened."""
    work_dir = str(tmp_path_factory.mktemp('killed') / 'work')
    rng = random.Random(SEED)
    events = []
    for attempt in range(RANDOM_KILLS + 2):
        resumed_from = check_work_dir(work_dir) if attempt else None
        run = TrainRun(config, work_dir, resume=attempt > 0)
        if attempt < RANDOM_KILLS:
            run.wait_for_events(rng.randint(0, 4))
            time.sleep(rng.uniform(0.0, 1.0))
            killed = run.kill()
        elif attempt == RANDOM_KILLS:
            killed = kill_during_checkpoint_write(run, work_dir)
        else:
            killed = False
        code, log = run.finish()
        events.append(
            dict(killed=killed, code=code, log=log, resumed_from=resumed_from))
        assert code == (-9 if killed else 0), log[-5000:]
    return work_dir, events


def test_resume_continues_after_every_kill(interrupted):
    work_dir, events = interrupted
    assert all(e['killed'] for e in events[:RANDOM_KILLS])
    for event in events:
        log = event['log']
        if event['resumed_from'] is not None:
            epoch, iteration = event['resumed_from']
            if STARTED in log:
                assert f'resumed epoch: {epoch}, iter: {iteration}' in log
    # every checkpoint left behind loads; none is half written
    check_work_dir(work_dir)
    assert events[-1]['code'] == 0


def test_final_checkpoint_has_projected_prototypes_with_provenance(
        interrupted, config, toy_data):
    from hprotopnet_mm.hierarchy import ClassHierarchy
    work_dir, _ = interrupted
    assert osp.basename(named_checkpoint(work_dir)) == 'epoch_2.pth'
    final = torch.load(
        osp.join(work_dir, 'epoch_2.pth'),
        map_location='cpu',
        weights_only=True)
    assert final['meta']['epoch'] == 2
    assert 'projection_step' not in final['meta']
    state = final['state_dict']
    sources = state['cls_head._extra_state']['prototype_sources']
    assert sources['epoch'] == 2
    num_prototypes = state['cls_head.prototype_layer.prototype_vectors'].shape[
        0]
    assert num_prototypes == 12 * 2 + (6 + 3) * 2
    records = sources['prototypes']
    assert len(records) == num_prototypes
    hierarchy = ClassHierarchy.from_files(toy_data.hierarchy,
                                          toy_data.label_map)
    train_list = Config.fromfile(config).train_dataloader.dataset.ann_file
    clips = {
        line.split()[0]: int(line.split()[1])
        for line in open(train_list).read().splitlines()
    }
    node_of = state['cls_head.prototype_node']
    for p, record in enumerate(records):
        assert record is not None, f'prototype {p} was not projected'
        assert osp.isfile(record['filename'])
        relative = osp.relpath(record['filename'], toy_data.video_root)
        assert clips[relative] == record['label']
        assert record['node'] == int(node_of[p])
        assert record['node_name'] == hierarchy.node_names[record['node']]
        # the clip's leaf is the prototype's node or lies under it
        assert hierarchy.leaf_membership[record['node'], record['label']]
        assert record['distance'] >= 0


def copy_work_dir(interrupted, tmp_path):
    """A copy of the finished run whose last_checkpoint can be damaged."""
    work_dir = str(tmp_path / 'work')
    shutil.copytree(interrupted[0], work_dir)  # keeps modification times
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work_dir, 'epoch_2.pth'))
    return work_dir


def resume_in_process(config, work_dir):
    """Build the config's Runner on ``work_dir`` and run its auto resume
    (what ``tools/train.py --resume`` does before training)."""
    from mmengine.registry import RUNNERS
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.resume = True
    cfg.load_from = None
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.experiment_name = f'resume_{osp.basename(osp.dirname(work_dir))}'
    runner = RUNNERS.build(cfg)
    runner.load_or_resume()
    return runner


def damage(work_dir, how):
    """Break last_checkpoint as a kill between two writes can; returns the
    checkpoint a robust --resume falls back to."""
    last = osp.join(work_dir, 'last_checkpoint')
    final = osp.join(work_dir, 'epoch_2.pth')
    if how == 'empty':  # killed after open(..., 'w'), before write
        open(last, 'w').close()
        return final
    if how == 'missing':  # names a file that was removed or never written
        with open(last, 'w') as f:
            f.write(osp.join(work_dir, 'epoch_3.pth'))
        return final
    # truncated: a checkpoint cut short (a writer without atomic rename)
    with open(final, 'rb') as f:
        data = f.read()
    with open(final, 'wb') as f:
        f.write(data[:len(data) // 2])
    return osp.join(work_dir, 'epoch_2_projected.pth')


@pytest.mark.parametrize('how', ['empty', 'missing', 'truncated'])
def test_auto_resume_falls_back_when_last_checkpoint_is_broken(
        interrupted, config, tmp_path, how):
    work_dir = copy_work_dir(interrupted, tmp_path)
    fallback = damage(work_dir, how)
    meta = torch.load(fallback, weights_only=True)['meta']
    runner = resume_in_process(config, work_dir)
    assert (runner.epoch, runner.iter) == (meta['epoch'], meta['iter'])
