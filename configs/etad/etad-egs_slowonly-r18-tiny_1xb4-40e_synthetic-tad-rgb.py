# ETAD end to end from raw video with encoder gradient sampling (EGS; ETAD: A Unified Framework for
# Efficient Temporal Action Detection, arXiv 2205.07134, sec. 3.3) on the embedded synthetic video
# benchmark, 1 process x 4 videos; trains on 2 CPU cores in minutes (OMP_NUM_THREADS=1 avoids thread
# oversubscription on a shared machine).
#   python tools/make_synthetic_tad.py --modality video --out-dir data/synthetic_tad_video
#   python tools/make_synthetic_clips.py --out-dir data/a3d_synthetic_clips
#   python tools/train.py \
#       configs/recognition/slowonly/slowonly_r18-tiny_1xb16-4x3x1-20e_synthetic-clips-rgb.py \
#       --work-dir work_dirs/encoder_pretrain
#   python tools/train.py configs/etad/etad-egs_slowonly-r18-tiny_1xb4-40e_synthetic-tad-rgb.py
# Encoder: a tiny SlowOnly (ResNet3d-18 layout, 8 base channels) on 4-frame 32x32 snippets,
# 32 snippets per video, pretrained by clip classification (the paper's Kinetics pretraining),
# first two stages and all BN frozen, random EGS ratio 0.1.
# model.backbone.ratio=0 is the frozen encoder ("0*"), 1.0 full end-to-end training;
# model.backbone.mode='two_phase' lowers the peak memory with the same gradients.
_base_ = [
    '../_base_/models/etad.py', '../_base_/datasets/synthetic_tad/video.py',
    '../_base_/schedules/adamw_6e.py', '../_base_/default_runtime.py'
]
temporal_dim = 32
model = dict(
    data_preprocessor=dict(
        type='ActionDataPreprocessor', mean=[110.0, 110.0, 110.0], std=[40.0, 40.0, 40.0],
        format_shape='NCTHW'),
    backbone=dict(
        type='EGSBackboneWrapper',
        backbone=dict(
            type='ResNet3dSlowOnly', depth=18, pretrained=None, in_channels=3,
            base_channels=8, conv1_kernel=(1, 3, 3), inflate=(0, 0, 1, 1),
            norm_eval=True),
        ratio=0.1,
        strategy='random',
        mode='joint',
        chunk_size=32,
        seed=0,
        frozen_modules=('conv1', 'layer1'),
        norm_eval=True,
        # a Recognizer3D checkpoint: its "backbone.*" keys match the wrapper's
        init_cfg=dict(type='Pretrained', checkpoint='work_dirs/encoder_pretrain/epoch_20.pth')),
    neck=dict(in_channels=64, channels=64, norm_cfg=dict(type='GN', num_groups=8)),
    boundary_head=dict(in_channels=64, feat_channels=64),
    proposal_sampler=dict(temporal_dim=temporal_dim, ratio=0.3),
    proposal_head=dict(in_channels=64, feat_channels=32, mid_channels=128, fc_channels=64,
                       roi_size=8),
    cls_head=dict(in_channels=64, num_classes=4))

max_epochs = 40
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=4e-3, weight_decay=1e-4),
    # separate encoder learning rate (paper: 1e-6 encoder vs 1e-3 detector, i.e. lr_mult 1e-3;
    # here 0.01: with 0.1, EGS 0.1 training of the encoder was unstable across seeds)
    constructor='SummaryOptimWrapperConstructor',  # one log line per rule
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.01)}))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[32], gamma=0.1)
]
default_hooks = dict(logger=dict(interval=6), checkpoint=dict(interval=max_epochs))
