# R3D-18 from MMAction2's ResNet3d: 3x7x7 stem, 3x3x3 convolutions in every
# block. The paper's layout strides time by 2 in pool1 and layers 2-4, which
# turns a 16-frame clip into a feature map with T0=1: nothing left to explain
# in time. This layout strides time only in layers 3 and 4 (16 frames ->
# T0=4; 112 px -> 4x4), so prototypes are matched over space *and* time.
model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='ResNet3d',
        depth=18,
        pretrained=None,
        pretrained2d=False,
        base_channels=64,
        conv1_kernel=(3, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        with_pool2=False,
        inflate=(1, 1, 1, 1),
        spatial_strides=(1, 2, 2, 2),
        temporal_strides=(1, 1, 2, 2),
        norm_eval=False,
        zero_init_residual=False),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[110.2, 100.64, 96.0],
        std=[58.15, 56.47, 55.33],
        format_shape='NCTHW'))
