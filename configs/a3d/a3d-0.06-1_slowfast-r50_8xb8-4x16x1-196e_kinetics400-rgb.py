# A3D-SlowFast-4x16-[0.06, 1] R50 on Kinetics-400, 8 GPUs x 8 clips (A3D: Adaptive 3D Networks
# for Video Action Recognition, arXiv 2011.12384, Table 1: 75.7 top-1 at x1, 74.9 at x0.5, 71.6
# at x0.25; the paper trains A3D-SlowFast with the [0.06, 1] range only, sec. 4).
# Slow pathway: slimmable, 4 frames (tau = 8) resampled by gamma_s/gamma_t (2/3/4 frames);
# Fast pathway: never slimmed, 32 frames (alpha = 8), beta = 1/8; adaptive lateral fusion.
# Data (not shipped): 32 frames x interval 2, layout of _base_/datasets/a3d_kinetics400/.
# Settings of the official SlowFast codes: SGD lr 0.8 for 64 clips, 34 warm-up + cosine, 196 e.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/a3d_range-0.06-1.py',
    '../_base_/datasets/a3d_kinetics400/rgb-8x8x1.py',
    '../_base_/schedules/a3d_sgd-cosine-196e_kinetics400.py'
]
# mutual training under DDP; scoped name: mmengine's Runner looks it up in its root registry
model_wrapper_cfg = dict(
    type='mmtad_ext.DelegatingDistributedDataParallel',
    broadcast_buffers=False,  # mmengine's defaults when model_wrapper_cfg is not set
    find_unused_parameters=False)
model = dict(
    type='A3DRecognizer3D',
    backbone=dict(
        type='A3DSlowFast',
        pretrained=None,
        resample_rate=8,  # tau
        speed_ratio=8,  # alpha
        channel_ratio=8,  # 1 / beta
        width_divisor=8,
        min_channels=8,
        slow_pathway=dict(
            type='resnet3d', depth=50, pretrained=None, lateral=True, conv1_kernel=(1, 7, 7),
            dilations=(1, 1, 1, 1), conv1_stride_t=1, pool1_stride_t=1, inflate=(0, 0, 1, 1),
            norm_eval=False),
        fast_pathway=dict(
            type='resnet3d', depth=50, pretrained=None, lateral=False, base_channels=8,
            conv1_kernel=(5, 7, 7), conv1_stride_t=1, pool1_stride_t=1, norm_eval=False)),
    cls_head=dict(
        type='SlowFastHead',
        in_channels=2304,  # 256 fast (never slimmed, first) + 2048 slow
        num_classes=400,
        spatial_type='avg',
        dropout_ratio=0.5,
        average_clips='prob'),
    mutual_cfg={{_base_.a3d_mutual_cfg}},
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))

# SlowFast-4x16 sampling: 32 frames at interval 2 (the backbone keeps 1 in 8 for the Slow path)
clip_len, frame_interval = 32, 2
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=10,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='ThreeCrop', crop_size=256),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
default_hooks = dict(checkpoint=dict(interval=4, max_keep_ckpts=3))
# after the last epoch: BN statistics of the 45 a3d_table sub-networks into the checkpoint
custom_hooks = [dict(type='BNCalibrationHook')]
