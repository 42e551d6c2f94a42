"""Inconsistent model configs fail when the recognizer is built, with a
message naming the file, the node or the setting (the main toy config
through ``MODELS.build``)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from conftest import REPO_ROOT
from hprotopnet_mm.hierarchy import HierarchyError

CONFIG = osp.join(REPO_ROOT, 'configs', 'toy', 'hproto_cpg_r3d18_toy.py')


@pytest.fixture
def model_cfg(toy_data):
    """The main toy config's model, reading the test dataset's files."""
    cfg = Config.fromfile(CONFIG).model
    cfg.backbone.base_channels = 8
    cfg.cls_head.update(
        in_channels=32,
        proto_channels=16,
        hierarchy_file=toy_data.hierarchy,
        label_map_file=toy_data.label_map,
        embedding_file=osp.join(toy_data.root, 'embedding_d32.pth'))
    return cfg


def build(cfg):
    from mmaction.registry import MODELS
    return MODELS.build(cfg)


def write_lines(path, lines):
    with open(path, 'w') as f:
        f.writelines(line + '\n' for line in lines)
    return str(path)


def rewrite_embedding(source, path, **changes):
    """Copy an embedding file with some of its stored values replaced."""
    payload = torch.load(source, weights_only=True)
    payload.update(changes)
    torch.save(payload, path)
    return str(path)


def test_the_toy_config_builds(model_cfg):
    head = build(model_cfg).cls_head
    assert head.num_prototypes == 12 * 4 + (6 + 3) * 4


def test_label_map_in_another_order_than_the_embedding(model_cfg, toy_data,
                                                       tmp_path):
    names = open(toy_data.label_map).read().split()
    names[0], names[1] = names[1], names[0]
    model_cfg.cls_head.label_map_file = write_lines(tmp_path / 'labels.txt',
                                                    names)
    with pytest.raises(HierarchyError) as err:
        build(model_cfg)
    message = str(err.value)
    assert 'embedding_d32.pth' in message and 'node 0' in message
    assert repr(names[0]) in message and repr(names[1]) in message


def test_embedding_of_another_hierarchy(model_cfg, toy_data, tmp_path):
    """The hierarchy and label map agree, but one leaf has another name than
    in the embedding file."""
    names = open(toy_data.label_map).read().split()
    renamed = names[5] + '_renamed'
    model_cfg.cls_head.label_map_file = write_lines(
        tmp_path / 'labels.txt', names[:5] + [renamed] + names[6:])
    rows = [
        line.replace(names[5] + ',', renamed + ',', 1)
        for line in open(toy_data.hierarchy).read().splitlines()
    ]
    model_cfg.cls_head.hierarchy_file = write_lines(tmp_path / 'hierarchy.csv',
                                                    rows)
    with pytest.raises(
            HierarchyError,
            match=rf"embedding_d32.pth: node 5 is '{names[5]}'"
            rf".*'{renamed}'"):
        build(model_cfg)


def test_label_map_with_a_class_the_hierarchy_lacks(model_cfg, toy_data,
                                                    tmp_path):
    names = open(toy_data.label_map).read().split()
    model_cfg.cls_head.label_map_file = write_lines(
        tmp_path / 'labels.txt', names[:3] + ['Juggling'] + names[4:])
    with pytest.raises(
            HierarchyError, match=r"labels.txt, line 4: class 'Juggling'"):
        build(model_cfg)


def test_num_classes_other_than_the_hierarchy_leaves(model_cfg):
    model_cfg.cls_head.num_classes = 11
    with pytest.raises(
            ValueError,
            match=r'num_classes=11 but .*hierarchy.csv .* has 12 '
            'leaf classes'):
        build(model_cfg)


@pytest.mark.parametrize('count', [0, -2])
def test_cpg_variant_without_leaf_prototypes(model_cfg, count):
    model_cfg.cls_head.num_prototypes_per_class = count
    with pytest.raises(
            ValueError,
            match=rf'HierarchicalProtoHead: num_prototypes_per_'
            rf'class must be a positive int, got {count}'):
        build(model_cfg)


def test_negative_ancestor_prototypes(model_cfg):
    model_cfg.cls_head.num_prototypes_per_ancestor = -1
    with pytest.raises(
            ValueError,
            match='num_prototypes_per_ancestor must '
            'be a non-negative int, got -1'):
        build(model_cfg)


def test_no_ancestor_prototypes_is_the_plain_variant(model_cfg):
    model_cfg.cls_head.num_prototypes_per_ancestor = 0
    head = build(model_cfg).cls_head
    assert head.num_prototypes == 12 * 4
    assert (head.prototype_node < 12).all()


@pytest.mark.parametrize('curvature', [0.0, -1.0])
def test_curvature_not_positive_in_the_config(model_cfg, curvature):
    model_cfg.cls_head.curvature = curvature
    with pytest.raises(
            ValueError, match=rf'curvature must be positive, got '
            rf'{curvature}'):
        build(model_cfg)


def test_curvature_other_than_the_embedding_files(model_cfg):
    model_cfg.cls_head.curvature = 2.0
    with pytest.raises(
            ValueError,
            match=r'curvature=2.0 differs from the curvature .* '
            r'of .*embedding_d32.pth'):
        build(model_cfg)


@pytest.mark.parametrize('curvature', [0.0, -0.5])
def test_curvature_not_positive_in_the_embedding_file(model_cfg, tmp_path,
                                                      curvature):
    model_cfg.cls_head.embedding_file = rewrite_embedding(
        model_cfg.cls_head.embedding_file,
        tmp_path / 'bad_curvature.pth',
        curvature=curvature)
    with pytest.raises(
            HierarchyError,
            match=r'bad_curvature.pth: bad embedding file: .*'
            'curvature must be positive'):
        build(model_cfg)


def test_embeddings_outside_their_ball(model_cfg, tmp_path):
    source = model_cfg.cls_head.embedding_file
    points = torch.load(source, weights_only=True)['embeddings']
    model_cfg.cls_head.embedding_file = rewrite_embedding(
        source, tmp_path / 'outside.pth', embeddings=points * 1e3)
    with pytest.raises(
            HierarchyError,
            match=r'outside.pth: bad embedding file: .*outside '
            'the Poincare ball'):
        build(model_cfg)


def test_embedding_dim_is_the_head_output_dim(model_cfg, toy_data, tmp_path):
    """The embedding's dimension sets the last layer's output; no config
    value can disagree with it."""
    source = model_cfg.cls_head.embedding_file
    payload = torch.load(source, weights_only=True)
    payload['meta']['settings']['dim'] = 8
    model_cfg.cls_head.embedding_file = rewrite_embedding(
        source,
        tmp_path / 'd8.pth',
        embeddings=payload['embeddings'][:, :8].contiguous(),
        meta=payload['meta'])
    head = build(model_cfg).cls_head
    assert head.last_layer.out_features == 8
    assert head.hyperbolic.node_embeddings.shape == (12 + 6 + 3, 8)


def test_embedding_dim_other_than_its_meta_data(model_cfg, tmp_path):
    source = model_cfg.cls_head.embedding_file
    points = torch.load(source, weights_only=True)['embeddings']
    assert torch.load(
        source, weights_only=True)['meta']['settings']['dim'] == 32
    model_cfg.cls_head.embedding_file = rewrite_embedding(
        source, tmp_path / 'd8.pth', embeddings=points[:, :8].contiguous())
    with pytest.raises(HierarchyError, match=r'd8.pth: .*dim'):
        build(model_cfg)
