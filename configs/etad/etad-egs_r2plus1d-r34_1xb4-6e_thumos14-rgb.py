# ETAD end to end on THUMOS14 raw videos with encoder gradient sampling (ETAD: A Unified Framework
# for Efficient Temporal Action Detection, arXiv 2205.07134, sec. 3.3, 4.2), one GPU x 4 videos
# (two-phase EGS runs in a single process): R(2+1)D-34 encoder (TSP / Kinetics pretrained) on
# 16-frame snippets at 112 px, first two stages and all BN frozen, encoder lr 1e-6, random EGS 10%,
# 128-snippet sliding windows with stride 64. Paths: see configs/_base_/datasets/thumos14/video.py;
# the encoder checkpoint (an mmaction2 Recognizer3D checkpoint, e.g. r2plus1d_r34 on Kinetics-400,
# or TSP weights converted to that layout) goes to checkpoints/r2plus1d_r34_tsp.pth.
#   python tools/train.py configs/etad/etad-egs_r2plus1d-r34_1xb4-6e_thumos14-rgb.py
# OpenTAD has no end-to-end ETAD config for THUMOS14: this one follows the paper (sec. 4.2) with
# the sliding windows of OpenTAD configs/etad/thumos_i3d.py.
_base_ = [
    '../_base_/models/etad.py', '../_base_/datasets/thumos14/video.py',
    '../_base_/schedules/adamw_6e.py', '../_base_/default_runtime.py'
]
model = dict(
    data_preprocessor=dict(
        type='ActionDataPreprocessor', mean=[110.2008, 100.63983, 95.99475],
        std=[58.14765, 56.46975, 55.332195], format_shape='NCTHW'),
    backbone=dict(
        type='EGSBackboneWrapper',
        backbone=dict(
            type='ResNet2Plus1d', depth=34, pretrained=None, pretrained2d=False,
            norm_eval=True, conv_cfg=dict(type='Conv2plus1d'),
            norm_cfg=dict(type='BN3d', requires_grad=True, eps=1e-3), conv1_kernel=(3, 7, 7),
            conv1_stride_t=1, pool1_stride_t=1, inflate=(1, 1, 1, 1),
            spatial_strides=(1, 2, 2, 2), temporal_strides=(1, 2, 2, 2),
            zero_init_residual=False),
        ratio=0.1,
        strategy='random',
        mode='two_phase',  # lower peak memory (public ETAD code); single-GPU training
        chunk_size=16,
        frozen_modules=('conv1', 'layer1', 'layer2'),
        norm_eval=True,
        # an mmaction2 recognizer checkpoint: its "backbone.*" keys match the wrapper's
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/r2plus1d_r34_tsp.pth')),
    neck=dict(in_channels=512),
    cls_head=dict(in_channels=512, num_classes=20))
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    constructor='SummaryOptimWrapperConstructor',  # one log line per rule
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1e-3)}),
    clip_grad=dict(max_norm=40, norm_type=2))
