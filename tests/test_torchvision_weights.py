"""torchvision's Kinetics-400 video ResNets as MMAction2 backbones: the
converter's output, loaded into the backbone of the architecture's base
config, gives torchvision's features; tools/train.py loads it with
load_from; bad files are refused with the tensors named."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from test_checkpoint_trust import _malicious_checkpoint as malicious_checkpoint

from conftest import REPO_ROOT, logged_key_mismatch
from hprotopnet_mm.models.backbones import rename_torchvision_state_dict
from mmaction.registry import MODELS
from torchvision_reference import random_torchvision_model

TOOL = osp.join(REPO_ROOT, 'tools', 'convert_torchvision_weights.py')
BASE_CONFIGS = {
    'r3d_18': 'r3d18_torchvision.py',
    'mc3_18': 'mc3_18_torchvision.py',
    'r2plus1d_18': 'r2plus1d_18_torchvision.py',
}
K400_CONFIGS = [
    f'configs/{dataset}/{row}_r3d18_k400_{dataset}.py'
    for dataset in ('ucf101', 'activitynet')
    for row in ('hproto_cpg10', 'i3d', 'protopnet')
]


def base_config(arch):
    return Config.fromfile(
        osp.join(REPO_ROOT, 'configs', '_base_', 'models', BASE_CONFIGS[arch]))


def convert(arch, src, dst):
    """Run the converter's command line; returns its completed process."""
    return subprocess.run([sys.executable, TOOL, arch, src, dst],
                          capture_output=True,
                          text=True,
                          cwd=REPO_ROOT)


def torchvision_features(model, clip):
    """torchvision's network up to its last residual stage."""
    x = model.stem(clip)
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = layer(x)
    return x


@pytest.mark.parametrize('arch', sorted(BASE_CONFIGS))
def test_converted_backbone_gives_torchvision_features(arch, tmp_path):
    """Random torchvision weights (batch-norm statistics too), converted by
    the command line and loaded strictly into the recognizer of the base
    config: same feature map on a 16x112x112 clip, in eval mode, up to
    1e-4 of its largest magnitude."""
    reference = random_torchvision_model(arch, seed=1)
    src, dst = str(tmp_path / 'torchvision.pth'), str(tmp_path / 'mm.pth')
    torch.save(reference.state_dict(), src)
    out = convert(arch, src, dst)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'left out: fc.weight, fc.bias' in out.stdout

    recognizer = MODELS.build(base_config(arch).model)
    checkpoint = torch.load(dst, weights_only=True)
    assert set(checkpoint['state_dict']) == {
        f'backbone.{name}'
        for name in recognizer.backbone.state_dict()
    }
    load_checkpoint(recognizer, dst, strict=True)
    recognizer.eval()  # ResNet3d.train() returns None: no chaining
    clip = torch.randn(
        1, 3, 16, 112, 112, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = torchvision_features(reference, clip)
        got = recognizer.backbone(clip)
    assert got.shape == expected.shape
    relative = ((got - expected).abs().max() / expected.abs().max()).item()
    print(f'{arch}: feature map {tuple(got.shape[1:])}, max |diff| / max '
          f'|map| = {relative:.2e}')
    assert relative <= 1e-4


@pytest.mark.parametrize('config', K400_CONFIGS)
def test_kinetics_configs_use_the_torchvision_layout(config):
    """The Kinetics-400 configs build torchvision's R3D-18 up to its strides
    in time, which stay the project's (weights do not depend on strides),
    and load the converted file."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    expected = base_config('r3d_18').model.backbone
    backbone = cfg.model.backbone
    assert backbone.temporal_strides == (1, 1, 2, 2)
    assert {k: v for k, v in backbone.items() if k != 'temporal_strides'} \
        == {k: v for k, v in expected.items() if k != 'temporal_strides'}
    assert cfg.load_from == 'checkpoints/r3d_18_kinetics400.pth'
    model = MODELS.build(cfg.model.backbone).to('meta')  # shapes only
    assert model(torch.zeros(1, 3, 16, 112, 112, device='meta')).shape == \
        (1, 512, 4, 7, 7)


def test_train_loads_converted_weights_with_no_missing_backbone_key(
        toy_data, tmp_path):
    """tools/train.py on the Kinetics-400 CPG config (toy clips) with
    --cfg-options load_from=DST: the log names only head tensors as
    missing, nothing as unexpected or of another size."""
    src, dst = str(tmp_path / 'r3d_18.pth'), str(tmp_path / 'r3d_18_mm.pth')
    torch.save(random_torchvision_model('r3d_18').state_dict(), src)
    assert convert('r3d_18', src, dst).returncode == 0
    train_list = tmp_path / 'train_list.txt'
    with open(toy_data.train_list) as f:
        train_list.write_text(''.join(f.readlines()[:2]))
    toy = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'toy', 'i3d_r3d18_toy.py'))
    config = tmp_path / 'k400_toy.py'
    config.write_text(f"""
_base_ = [{osp.join(REPO_ROOT, 'configs', 'ucf101',
                    'hproto_cpg10_r3d18_k400_ucf101.py')!r}]
model = dict(cls_head=dict(
    num_classes=12, hierarchy_file={toy_data.hierarchy!r},
    label_map_file={toy_data.label_map!r},
    embedding_file={osp.join(toy_data.root, 'embedding_d32.pth')!r}))
toy = dict(_delete_=True, type='CheckedVideoDataset', num_classes=12,
           ann_file={str(train_list)!r},
           data_prefix=dict(video={toy_data.video_root!r}))
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(toy, pipeline={toy.train_pipeline!r}))
projection_dataloader = dict(
    num_workers=0, dataset=dict(toy, pipeline={toy.single_clip_pipeline!r}))
train_cfg = dict(max_epochs=1)
default_hooks = dict(checkpoint=dict(interval=100, save_last=False),
                     logger=dict(interval=1))
""")
    out = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'),
        str(config), '--work-dir',
        str(tmp_path / 'work'), '--no-validate', '--cfg-options',
        f'load_from={dst}'
    ],
                         capture_output=True,
                         text=True,
                         cwd=REPO_ROOT,
                         env=dict(os.environ, OMP_NUM_THREADS='1'))
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert f'Load checkpoint from {dst}' in log
    missing, unexpected, size_mismatch = logged_key_mismatch(log)
    assert missing and all(name.startswith('cls_head.') for name in missing)
    assert not unexpected and not size_mismatch
    print(f'load_from={dst}: {len(missing)} missing tensors, all cls_head.*')
    assert 'Epoch(train) [1][1/1]' in log


def test_rename_names_unknown_missing_and_misshapen_tensors():
    """Every problem is reported at once, with torchvision's names."""
    recognizer = MODELS.build(base_config('r3d_18').model)
    expected = {
        n: t.shape
        for n, t in recognizer.backbone.state_dict().items()
    }
    state = random_torchvision_model('r3d_18').state_dict()
    renamed, dropped = rename_torchvision_state_dict('r3d_18', state, expected)
    assert set(renamed) == set(expected) and dropped == [
        'fc.weight', 'fc.bias'
    ]
    assert torch.equal(renamed['layer2.0.downsample.conv.weight'],
                       state['layer2.0.downsample.0.weight'])
    del state['layer3.1.conv2.1.running_var']
    state['layer1.0.conv1.0.weight'] = torch.zeros(64, 64, 1, 3, 3)
    state['extra.weight'] = torch.zeros(1)
    with pytest.raises(ValueError) as err:
        rename_torchvision_state_dict(
            'r3d_18', state, expected, source='x.pth')
    message = str(err.value)
    assert message.startswith('x.pth is not a torchvision r3d_18 state dict')
    assert 'unknown tensors (not in r3d_18): extra.weight' in message
    assert 'missing tensors of r3d_18: layer3.1.conv2.1.running_var' in message
    assert 'layer1.0.conv1.0.weight (64, 64, 1, 3, 3) (expected (64, 64, 3, ' \
        '3, 3))' in message


def test_rename_refuses_another_architecture():
    """An R(2+1)D state dict is not an R3D one: its tensors are named."""
    recognizer = MODELS.build(base_config('r3d_18').model)
    expected = {
        n: t.shape
        for n, t in recognizer.backbone.state_dict().items()
    }
    state = random_torchvision_model('r2plus1d_18').state_dict()
    with pytest.raises(
            ValueError,
            match=r'unknown tensors \(not in r3d_18\):'
            r' .*stem\.3\.weight'):
        rename_torchvision_state_dict('r3d_18', state, expected)


def test_converter_never_unpickles_code(tmp_path):
    """A file with pickled code is refused, naming it; the code does not
    run, and nothing is written."""
    src, marker = malicious_checkpoint(tmp_path)
    dst = str(tmp_path / 'out.pth')
    out = convert('r3d_18', src, dst)
    assert out.returncode == 1
    assert f'refused to load {src}' in out.stderr
    assert not osp.exists(marker) and not osp.exists(dst)


def test_train_without_the_weights_names_load_from(tmp_path):
    """Before anything is built, tools/train.py names a missing load_from
    file next to the other missing paths."""
    config = osp.join(REPO_ROOT, 'configs', 'ucf101',
                      'hproto_cpg10_r3d18_k400_ucf101.py')
    out = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'), config, '--work-dir',
        str(tmp_path / 'work')
    ],
                         capture_output=True,
                         text=True,
                         cwd=str(tmp_path))
    assert out.returncode != 0 and 'Traceback' not in out.stderr
    assert 'load_from = checkpoints/r3d_18_kinetics400.pth' in out.stderr
