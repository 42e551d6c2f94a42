# torchvision's R3D-18 (torchvision.models.video.r3d_18, the network of its
# Kinetics-400 weights) as MMAction2's ResNet3d: r3d18.py without the
# max-pool after the stem, and with torchvision's strides (time and space by
# 2 in layers 2-4). A 16x112x112 clip gives a 512x2x7x7 feature map.
# tools/convert_torchvision_weights.py r3d_18 converts torchvision's weights
# for it; the data preprocessor of r3d18.py already normalises with
# torchvision's Kinetics mean and std. The Kinetics-400 configs
# (configs/*/*_k400_*.py) keep this layout with the project's temporal
# strides: weights do not depend on strides.
_base_ = ['./r3d18.py']

model = dict(backbone=dict(with_pool1=False, temporal_strides=(1, 2, 2, 2)))
