# Hierarchical ProtoPNet CPG (10 prototypes per leaf and per ancestor) on
# MMAction2's I3D R50, started from its Kinetics-400 checkpoint in
# MMAction2's model zoo, on UCF-101 split 1 (./_base_/ucf101_cpg10.py). The
# model is that of the zoo config named by zoo_config (its model base in
# mmaction::_base_/models/) with the prototype head in place of its
# classifier; load_from is that config's checkpoint (its metafile.yml). See
# README, "Kinetics-400 weights".
_base_ = ['mmaction::_base_/models/i3d_r50.py', './_base_/ucf101_cpg10.py']

zoo_config = 'mmaction::recognition/i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py'  # noqa: E501
load_from = 'https://download.openmmlab.com/mmaction/v1.0/recognition/i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb_20220812-e213c223.pth'  # noqa: E501
model = dict(
    # load_from replaces every weight: no ImageNet initialisation first
    backbone=dict(pretrained=None, pretrained2d=False),
    cls_head=dict(_base_.zoo_cls_head, _delete_=True, in_channels=2048))
