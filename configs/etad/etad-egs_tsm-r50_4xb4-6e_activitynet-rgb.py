# ETAD end to end on ActivityNet-1.3 raw videos with encoder gradient sampling (ETAD: A Unified
# Framework for Efficient Temporal Action Detection, arXiv 2205.07134, sec. 3.3 and 4.2, Tab. 3
# "TSM-ResNet50, 10%": 36.75 avg mAP at 4x23 GB), 4 GPUs x 4 videos.
# Encoder: TSM-R50 (Kinetics-400 pretrained, not fine-tuned), 8-frame snippets at 224, first two
# stages and all BN frozen, encoder lr 1e-6 (lr_mult 1e-3 of the detector's 1e-3); random EGS
# 10%. Paths: see configs/_base_/datasets/activitynet/video.py; the TSM recognizer checkpoint,
# e.g. mmaction2's tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb, goes to
# checkpoints/tsm_r50_k400.pth (its "backbone.*" keys match the wrapper's).
#   python tools/train.py configs/etad/etad-egs_tsm-r50_4xb4-6e_activitynet-rgb.py \
#       --launcher pytorch   # 4 GPUs x 4 videos; single GPU: mode='two_phase' needs less memory
# Public counterpart: OpenTAD configs/etad/e2e_anet_tsp.py (R(2+1)D-34 TSP encoder, 128 snippets
# of 16 frames at 128 px); this config keeps the paper's TSM-R50 row (Tab. 3) instead.
_base_ = [
    '../_base_/models/etad.py', '../_base_/datasets/activitynet/video.py',
    '../_base_/schedules/adamw_6e.py', '../_base_/default_runtime.py'
]
model = dict(
    data_preprocessor=dict(
        type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], format_shape='NCTHW'),
    backbone=dict(
        type='EGSBackboneWrapper',
        backbone=dict(
            # pretrained2d=False: mmaction2's default would load torchvision ImageNet weights
            # from `pretrained` first; the Kinetics checkpoint below replaces every weight
            type='ResNetTSM', depth=50, num_segments=8, shift_div=8, pretrained=None,
            pretrained2d=False, norm_eval=True),
        input_format='NCHW',  # TSM is a 2D network over the 8 frames of a snippet
        ratio=0.1,
        strategy='random',
        mode='joint',  # the paper's formulation; DDP-compatible
        chunk_size=16,
        frozen_modules=('conv1', 'layer1', 'layer2'),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/tsm_r50_k400.pth')),
    neck=dict(in_channels=2048),
    cls_head=None)  # video-level classes from an external classifier (paper: [52])
test_evaluator = dict(class_score_file='data/activitynet/annotations/video_class_scores.json')
val_evaluator = test_evaluator
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    constructor='SummaryOptimWrapperConstructor',  # one log line per rule
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1e-3)}),
    clip_grad=dict(max_norm=40, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=16)
