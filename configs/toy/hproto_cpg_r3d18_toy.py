# Hierarchical prototype network with class-prototype generalisation (CPG:
# prototypes for every leaf and every ancestor node) on the toy dataset:
# slim R3D-18 up to layer 3 with a dilated layer 3 (r3d18_toy_backbone.py:
# 64 channels, an 8x7x7 map for 16x56x56 clips), hyperbolic class
# embeddings, the phased schedule with two projections. Three departures
# from the paper, all measured in the README: features and prototypes are
# compared cell by cell at unit norm (unit_norm: otherwise the prototypes
# settle on the zero-padded border, whose features are weak), each cell is
# centred on the training clips' mean at its position (centring_grid:
# otherwise a prototype fires where its source patch sat, not where its
# evidence is), and the clips' points are clipped to the leaves' radius of
# the ball (clip_radius). Runs on CPU in minutes; the
# backbone comes pre-trained from the 3D-ResNet baseline
# (tools/run_toy_demo.sh):
#   python tools/make_toy_dataset.py --out data/toy
#   python tools/embed_hierarchy.py data/toy/hierarchy.csv \
#       data/toy/label_map.txt --dim 32 --out data/toy/embedding_d32.pth
#   python tools/train.py configs/toy/i3d_r3d18_toy.py --work-dir work_dirs/bb
#   python tools/train.py configs/toy/hproto_cpg_r3d18_toy.py \
#       --cfg-options load_from=work_dirs/bb/epoch_25.pth
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/r3d18_hproto.py',
    '../_base_/models/r3d18_toy_backbone.py', '../_base_/datasets/toy.py',
    '../_base_/schedules/hproto_toy.py'
]

model = dict(
    backbone={{_base_.toy_prototype_backbone}},
    cls_head=dict(
        num_classes={{_base_.num_classes}},
        in_channels={{_base_.toy_feature_channels}},
        hierarchy_file={{_base_.hierarchy_file}},
        label_map_file={{_base_.label_map_file}},
        embedding_file={{_base_.embedding_file}},
        proto_channels=64,
        num_prototypes_per_class=4,
        num_prototypes_per_ancestor=4,
        unit_norm=True,
        centring_grid={{_base_.toy_feature_grid}},
        clip_radius='leaves'))

# Workers restart (and reseed) every epoch, so that a resumed run draws the
# same augmentation as an uninterrupted one.
train_dataloader = dict(persistent_workers=False)
