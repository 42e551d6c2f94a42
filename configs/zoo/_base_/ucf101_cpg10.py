# What the zoo configs share: the project's runtime and prototype schedule,
# UCF-101 split 1 (../../_base_/datasets/ucf101.py) at the input size of
# MMAction2's Kinetics-400 zoo models (224x224; 32 frames, one every 2: the
# sampling of its I3D, R(2+1)D and Swin configs), and the hierarchical
# prototype head with 10 prototypes per leaf and per ancestor (CPG). Each
# zoo config adds its zoo model and its backbone's channels.
_base_ = [
    '../../_base_/default_runtime.py', '../../_base_/datasets/ucf101.py',
    '../../_base_/models/hproto_head.py', '../../_base_/schedules/hproto.py'
]

clip_len = 32
frame_interval = 2
train_pipeline = [
    dict(type='DecordInit'),
    dict(
        type='SampleFrames',
        clip_len=clip_len,
        frame_interval=frame_interval,
        num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomCrop', size=224),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=_base_.meta_keys)
]
single_clip_pipeline = [
    dict(type='DecordInit'),
    dict(
        type='SampleFrames',
        clip_len=clip_len,
        frame_interval=frame_interval,
        num_clips=1,
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=_base_.meta_keys)
]
test_pipeline = [
    dict(type='DecordInit'),
    dict(
        type='SampleFrames',
        clip_len=clip_len,
        frame_interval=frame_interval,
        num_clips=_base_.num_test_clips,
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=_base_.meta_keys)
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=single_clip_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
projection_dataloader = dict(dataset=dict(pipeline=single_clip_pipeline))

# The zoo configs replace the zoo model's head with this one:
# cls_head=dict(_base_.zoo_cls_head, _delete_=True, in_channels=C).
zoo_cls_head = dict(
    _base_.hproto_head,
    **_base_.hierarchy_head,
    num_prototypes_per_class=10,
    num_prototypes_per_ancestor=10)
