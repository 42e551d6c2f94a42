"""Every row of the paper's Table 1 trains on toy mp4s via tools/train.py."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from conftest import REPO_ROOT, retarget_toy_config

TABLE1 = ('i3d', 'hyperbolic', 'protopnet', 'hproto_plain', 'hproto_cpg5',
          'hproto_cpg10')


@pytest.mark.parametrize('variant', TABLE1)
def test_toy_variant_trains_a_few_iterations(variant, toy_data, tmp_path):
    config = osp.join(REPO_ROOT, 'configs', 'toy', f'{variant}_r3d18_toy.py')
    config = retarget_toy_config(config, toy_data, tmp_path, max_epochs=1)
    work_dir = str(tmp_path / 'work')
    cmd = [
        sys.executable,
        osp.join(REPO_ROOT, 'tools',
                 'train.py'), config, '--work-dir', work_dir, '--no-validate',
        '--cfg-options', 'model.backbone.base_channels=8',
        'model.cls_head.in_channels=32', 'train_dataloader.batch_size=12'
    ]
    # warm-up would freeze the backbone in the only epoch: start joint
    cfg = Config.fromfile(config)
    for index, hook in enumerate(cfg.get('custom_hooks', [])):
        if hook['type'] == 'TrainingPhaseHook':
            cmd.append(f'custom_hooks.{index}.warmup_epochs=0')
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert 'Epoch(train) [1][2/2]' in out.stdout + out.stderr
    state = torch.load(
        osp.join(work_dir, 'epoch_1.pth'), weights_only=True)['state_dict']
    head_type = cfg.model.cls_head.type
    if head_type == 'HierarchicalProtoHead':
        prototypes = state['cls_head.prototype_layer.prototype_vectors']
        leaves, nodes = 12, 12 + 6 + 3
        per_class = cfg.model.cls_head.num_prototypes_per_class
        per_ancestor = cfg.model.cls_head.num_prototypes_per_ancestor
        assert prototypes.shape[0] == leaves * per_class + \
            (nodes - leaves) * per_ancestor
    elif head_type in ('I3DHead', 'MaxPoolI3DHead'):
        assert state['cls_head.fc_cls.weight'].shape[0] == 12
