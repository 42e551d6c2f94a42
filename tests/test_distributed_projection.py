"""Projection in two processes (gloo, CPU) equals projection in one, and
distributed training (torchrun + tools/train.py --launcher pytorch) runs the
phases, the projection and the last-layer phase."""
import glob
import os.path as osp
import subprocess
import sys

import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import Runner

import hprotopnet_mm  # noqa: F401
import hprotopnet_mm.models  # noqa: F401
from conftest import REPO_ROOT, tiny_model_options
from hprotopnet_mm.engine.projection import patches_at, project_prototypes
from mmaction.registry import MODELS
from mmaction.utils import register_all_modules

CONFIG = osp.join(REPO_ROOT, 'configs', 'toy', 'hproto_cpg_r3d18_toy.py')


def cfg_options(toy, embedding_file):
    """Config overrides: the test data and a tiny network."""
    return {
        'train_dataloader.dataset.ann_file': toy.train_list,
        'train_dataloader.dataset.data_prefix.video': toy.video_root,
        'train_dataloader.batch_size': 4,
        'train_dataloader.num_workers': 0,
        'projection_dataloader.dataset.ann_file': toy.train_list,
        'projection_dataloader.dataset.data_prefix.video': toy.video_root,
        'projection_dataloader.batch_size': 5,
        'projection_dataloader.num_workers': 0,
        **tiny_model_options(toy, embedding_file),
    }


def project(options, weights, out):
    """Build the model, load ``weights`` and project (collective when a
    process group exists); save the result to ``out``."""
    register_all_modules()
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(options)
    model = MODELS.build(cfg.model)
    model.load_state_dict(torch.load(weights, weights_only=True))
    dataloader = Runner.build_dataloader(cfg.projection_dataloader, seed=0)
    shard = [i for batch in dataloader.batch_sampler for i in batch]
    result = project_prototypes(model, dataloader, progress=False)
    torch.save(
        dict(
            patches=result.patches,
            distance=result.distance,
            records=[r and r.to_plain() for r in result.records],
            shard=shard), out)


def _worker(rank, world_size, store, options, weights, out_pattern):
    torch_dist.init_process_group(
        'gloo',
        init_method=f'file://{store}',
        rank=rank,
        world_size=world_size)
    try:
        project(options, weights, out_pattern.format(rank))
    finally:
        torch_dist.destroy_process_group()


def test_two_processes_equal_one(toy_data, toy_embedding_d4, tmp_path):
    options = cfg_options(toy_data, toy_embedding_d4)
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(options)
    torch.manual_seed(0)
    weights = str(tmp_path / 'weights.pth')
    torch.save(MODELS.build(cfg.model).state_dict(), weights)

    single = str(tmp_path / 'single.pth')
    project(options, weights, single)
    out_pattern = str(tmp_path / 'rank{}.pth')
    mp.spawn(
        _worker,
        args=(2, str(tmp_path / 'store'), options, weights, out_pattern),
        nprocs=2,
        join=True)

    one = torch.load(single, weights_only=True)
    ranks = [
        torch.load(out_pattern.format(r), weights_only=True) for r in range(2)
    ]
    # each process searched its own half of the 24 clips
    assert sorted(ranks[0]['shard'] + ranks[1]['shard']) == list(range(24))
    assert len(ranks[0]['shard']) == 12
    for result in ranks:
        assert torch.equal(result['patches'], one['patches'])
        assert torch.equal(result['distance'], one['distance'])
        assert result['records'] == one['records']
    # winners come from both shards, so the merge had work to do
    winners = {r['dataset_index'] for r in one['records']}
    assert winners & set(ranks[0]['shard']) and \
        winners & set(ranks[1]['shard'])


def test_torchrun_training_with_projection(toy_data, toy_embedding_d4,
                                           tmp_path):
    """Two gloo processes under torchrun train a warm-up and a joint epoch
    (DDP with frozen parameters), project and run the last-layer phase;
    the provenance in the final checkpoint reproduces every prototype."""
    work_dir = str(tmp_path / 'work')
    options = cfg_options(toy_data, toy_embedding_d4)
    options.update({
        'train_cfg.max_epochs': 2,
        'custom_hooks.1.warmup_epochs': 1,
        'custom_hooks.2.begin': 2,
        'custom_hooks.2.last_layer.iters': 2,
        'default_hooks.logger.interval': 1,
    })
    cmd = [
        # --standalone: the rendezvous takes a free port, so concurrent
        # runs on one machine do not collide
        sys.executable,
        '-m',
        'torch.distributed.run',
        '--standalone',
        '--nproc_per_node',
        '2',
        osp.join(REPO_ROOT, 'tools', 'train.py'),
        CONFIG,
        '--launcher',
        'pytorch',
        '--work-dir',
        work_dir,
        '--no-validate',
        '--cfg-options',
        *[f'{k}={v}' for k, v in options.items()]
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-5000:]
    assert 'Training phase "warm-up"' in log and \
        'Training phase "joint"' in log
    assert 'Prototype projection after epoch 2' in log
    assert 'Last-layer phase after epoch 2 [2/2]' in log
    assert 'Epoch(train) [2][3/3]' in log  # 24 clips, 2 x 4 per iteration

    checkpoint = torch.load(
        osp.join(work_dir, 'epoch_2.pth'), weights_only=True)
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(options)
    model = MODELS.build(cfg.model)
    model.load_state_dict(checkpoint['state_dict'])
    model.eval()
    dataset = Runner.build_dataloader(cfg.projection_dataloader).dataset
    sources = model.cls_head.prototype_sources
    assert sources.epoch == 2
    for p, record in enumerate(sources.prototypes):
        sample = dataset[record.dataset_index]
        data = model.data_preprocessor(pseudo_collate([sample]), False)
        with torch.no_grad():
            feats, _ = model.extract_feat(data['inputs'], test_mode=True)
            z = model.cls_head.forward_features(feats)[record.view]
        grid = record.grid
        cell = (record.cell[0] * grid[1] + record.cell[1]) * grid[2] \
            + record.cell[2]
        patch = patches_at(z, torch.tensor([cell]), (1, 1, 1), grid)[0]
        assert torch.equal(patch, model.cls_head.prototype_vectors[p]), p
    assert not glob.glob(osp.join(work_dir, '*.partial'))
