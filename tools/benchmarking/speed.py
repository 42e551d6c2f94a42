"""Figures 1, 2 and 4 of the benchmark: train step and inference against
I3DHead, the projection pass against inference, and the vectorised prototype
distances against a per-prototype loop."""
import copy
from typing import Callable, Dict, Sequence

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from torch import Tensor

from hprotopnet_mm.engine.projection import project_prototypes
from hprotopnet_mm.hierarchy import ClassHierarchy
from mmaction.registry import MODELS
from .models import (DATASETS, HEAD_NAMES, HEADS, SCHEDULE_CONFIG,
                     SyntheticClips, build_model, clip_loader, head_config,
                     recognizer_config, synthetic_samples)
from .timing import interleaved_times, paired_figure, per_call, scale_times


def figure_steps(args, files: Dict[str, Dict[str, str]]) -> Dict[str, Dict]:
    """Figure 1: train step and inference, prototype heads vs I3DHead."""
    in_channels = args.base_channels * 8
    schedule = Config.fromfile(SCHEDULE_CONFIG)
    inputs = [
        torch.randint(
            0,
            256, (1, 3) + tuple(args.clip),
            dtype=torch.uint8,
            generator=torch.Generator().manual_seed(args.seed + i))
        for i in range(args.batch_size)
    ]
    models, wrappers, num_classes = {}, {}, {}
    for dataset in DATASETS:
        hierarchy = ClassHierarchy.from_files(files[dataset]['hierarchy_file'],
                                              files[dataset]['label_map_file'])
        for head in HEADS:
            key = f'{dataset}/{head}'
            cfg = recognizer_config(
                args.model_config,
                head_config(head, files[dataset], hierarchy.num_leaves,
                            in_channels), args.base_channels)
            models[key] = build_model(cfg, args.device, args.seed)
            wrappers[key] = build_optim_wrapper(
                models[key], copy.deepcopy(schedule.optim_wrapper))
            num_classes[key] = hierarchy.num_leaves

    def batch(key: str) -> Dict:
        # Fresh dict and samples: the preprocessor and predict write to them.
        return dict(
            inputs=list(inputs),
            data_samples=synthetic_samples(
                range(args.batch_size), num_classes[key]))

    def train_step(key: str) -> Callable[[], object]:

        def run():
            models[key].train()
            return models[key].train_step(batch(key), wrappers[key])

        return run

    def inference(key: str) -> Callable[[], object]:

        def run():
            models[key].eval()
            with torch.no_grad():
                return models[key].test_step(batch(key))

        return run

    figures = {}
    for stage, make in (('train_step', train_step), ('inference', inference)):
        times = interleaved_times({key: make(key)
                                   for key in models}, args.warmup,
                                  args.repeats, args.device, stage)
        for dataset in DATASETS:
            for head in HEADS[1:]:
                key = f'{dataset}/{head}'
                figures[f'{stage}/{key}'] = paired_figure(
                    times,
                    key,
                    f'{dataset}/i3d',
                    args.clock,
                    what=f'{stage.replace("_", " ")}, {dataset} size, '
                    f'{HEAD_NAMES[head]}',
                    baseline=f'{HEAD_NAMES["i3d"]}',
                    num_prototypes=models[key].cls_head.num_prototypes)
    return figures


def figure_projection(args, files: Dict[str, str]) -> Dict:
    """Figure 2: projection pass vs inference pass, same model and clips."""
    hierarchy = ClassHierarchy.from_files(files['hierarchy_file'],
                                          files['label_map_file'])
    cfg = recognizer_config(
        args.model_config,
        head_config('hproto_cpg', files, hierarchy.num_leaves,
                    args.base_channels * 8), args.base_channels)
    model = build_model(cfg, args.device, args.seed)
    model.eval()
    loader = clip_loader(
        SyntheticClips(args.projection_clips, (3, ) + tuple(args.clip),
                       hierarchy.num_leaves, False, args.seed),
        args.batch_size)

    def inference_pass():
        with torch.no_grad():
            for data_batch in loader:
                model.test_step(data_batch)

    def projection_pass(clips_per_forward: int) -> Callable[[], object]:
        return lambda: project_prototypes(
            model, loader, clips_per_forward=clips_per_forward, progress=False)

    times = interleaved_times(
        dict(
            projection=projection_pass(1),
            projection_batched=projection_pass(args.batch_size),
            inference=inference_pass), args.warmup, args.repeats, args.device,
        'projection')
    what = (f'projection pass over {args.projection_clips} clips, '
            'activitynet size CPG')
    common = dict(
        baseline=f'inference pass over the same clips, batch size '
        f'{args.batch_size}',
        num_clips=args.projection_clips,
        batch_size=args.batch_size)
    return {
        'projection_pass':
        paired_figure(
            times,
            'projection',
            'inference',
            args.clock,
            what=what + ', one clip per forward (the default)',
            **common),
        'projection_pass_batched':
        paired_figure(
            times,
            'projection_batched',
            'inference',
            args.clock,
            what=what + f', {args.batch_size} clips per forward',
            **common),
    }


def naive_distance_maps(z: Tensor, prototypes: Tensor) -> Tensor:
    """Squared L2 distances, one prototype at a time in a Python loop.

    Args:
        z (Tensor): Features, shape (B, C, T, H, W).
        prototypes (Tensor): Shape (P, C, t, h, w).

    Returns:
        Tensor: Shape (B, P, T - t + 1, H - h + 1, W - w + 1).
    """
    t, h, w = prototypes.shape[2:]
    # (B, C, T', H', W', t, h, w)
    windows = z.unfold(2, t, 1).unfold(3, h, 1).unfold(4, w, 1)
    maps = []
    for prototype in prototypes:
        diff = windows - prototype[None, :, None, None, None]
        maps.append(diff.pow(2).sum(dim=(1, 5, 6, 7)))
    return torch.stack(maps, dim=1)


def figure_distances(args, files: Dict[str, str],
                     feature_shape: Sequence[int]) -> Dict:
    """Figure 4: vectorised prototype distances vs a per-prototype loop."""
    hierarchy = ClassHierarchy.from_files(files['hierarchy_file'],
                                          files['label_map_file'])
    torch.manual_seed(args.seed)
    head = MODELS.build(
        head_config('hproto_cpg', files, hierarchy.num_leaves,
                    feature_shape[0])).to(args.device)
    layer = head.prototype_layer
    generator = torch.Generator().manual_seed(args.seed)
    z = torch.randn(
        (args.batch_size, head.proto_channels) + tuple(feature_shape[1:]),
        generator=generator).relu_().to(args.device)
    prototypes = layer.prototype_vectors.detach()
    with torch.no_grad():
        fast = layer.distance_maps(z)
        slow = naive_distance_maps(z, prototypes)
    error = (fast - slow).abs().max().item() / slow.abs().max().item()
    if fast.shape != slow.shape or not error < 1e-4:
        raise RuntimeError(
            f'PrototypeLayer.distance_maps disagrees with the per-prototype '
            f'loop: shapes {tuple(fast.shape)} and {tuple(slow.shape)}, '
            f'largest difference {error:.3g} of the largest distance')
    seconds = 0.01 if args.quick else 0.2
    with torch.no_grad():
        vectorised, vectorised_calls = per_call(lambda: layer.distance_maps(z),
                                                seconds, args.device)
        loop, loop_calls = per_call(lambda: naive_distance_maps(z, prototypes),
                                    seconds, args.device)
        times = interleaved_times(
            dict(vectorised=vectorised, loop=loop), args.warmup, args.repeats,
            args.device, 'distances')
    times = scale_times(times,
                        dict(vectorised=vectorised_calls, loop=loop_calls))
    return paired_figure(
        times,
        'vectorised',
        'loop',
        args.clock,
        what=f'PrototypeLayer.distance_maps, {head.num_prototypes} '
        f'prototypes, z {tuple(z.shape)}',
        baseline='per-prototype Python loop, same inputs',
        relative_difference=error)
