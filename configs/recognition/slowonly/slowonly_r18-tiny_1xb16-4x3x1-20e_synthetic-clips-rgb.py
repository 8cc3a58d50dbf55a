# Pretrains the encoder of the EGS demo: the tiny SlowOnly (ResNet3d-18 layout, 8 base channels)
# that configs/etad/etad-egs_slowonly-r18-tiny_1xb4-40e_synthetic-tad-rgb.py fine-tunes end to end.
# It stands in for the Kinetics-400 pretraining of the encoders of ETAD (ETAD: A Unified Framework
# for Efficient Temporal Action Detection, arXiv 2205.07134, sec. 4.2): clip classification of
# the 10 patterns of the shared renderer (the A3D synthetic clips, a different set of renders
# than the TAD videos), 4-frame clips (interval 3) at 32x32 like the TAD snippets, 1 process
# (CPU) x 16 clips, 20 epochs.
#   python tools/make_synthetic_clips.py --out-dir data/a3d_synthetic_clips
#   python tools/train.py \
#       configs/recognition/slowonly/slowonly_r18-tiny_1xb16-4x3x1-20e_synthetic-clips-rgb.py \
#       --work-dir work_dirs/encoder_pretrain
# The TAD config loads work_dirs/encoder_pretrain/epoch_20.pth (keys "backbone.*").
_base_ = [
    '../../_base_/datasets/a3d_synthetic_clips/rgb-8x2x1.py', '../../_base_/default_runtime.py'
]
clip_len, frame_interval = 4, 3
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 36)),
    dict(type='RandomCrop', size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 36)),
    dict(type='CenterCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader

model = dict(
    type='Recognizer3D',
    data_preprocessor=dict(
        type='ActionDataPreprocessor', mean=[110.0, 110.0, 110.0], std=[40.0, 40.0, 40.0],
        format_shape='NCTHW'),
    backbone=dict(
        type='ResNet3dSlowOnly', depth=18, pretrained=None, in_channels=3, base_channels=8,
        conv1_kernel=(1, 3, 3), inflate=(0, 0, 1, 1), norm_eval=False),
    cls_head=dict(type='I3DHead', num_classes=10, in_channels=64, spatial_type='avg',
                  dropout_ratio=0.0, average_clips='prob'))

max_epochs = 20
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
                 val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True)]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs))
