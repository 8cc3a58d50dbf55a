# ActionFormer end to end on THUMOS14 raw video with a VideoMAE-S encoder at 768 frames x 160 px
# per window, the setting that Progressive Block Drop (arXiv 2503.16916) compresses. Follows
# OpenTAD configs/adatad/thumos/e2e_thumos_videomae_s_768x1_160_fullft.py (the uncompressed model
# of nanxiaolu/Progressive_Block_Drop-TAD configs/adatad/videomae/e2e_thumos_videomae_s_768x1_160_fullft.py):
# VideoMAE-S (12 blocks, width 384, 6 heads, 16x16 patches, tubelet 2) on 16-frame snippets,
# temporal tokens without fc_norm, gradient through every snippet (ratio=1.0; 0.1 is encoder
# gradient sampling) with activation checkpointing; AdamW lr 1e-4 (encoder x0.1 = 1e-5, as the
# public backbone group), wd 0.05 (on every encoder parameter; detector biases, norms and scales
# none, as the public get_optim_groups), 5 warm-up epochs + cosine, 60 epochs, batch 2, EMA,
# clip 1; Soft-NMS sigma 0.7 with segment voting 0.7, 2000 segments per video.
# Frame sampling as the public LoadFrames: a window is 768 positions, one frame every 4 frames
# (~102 s at 30 fps), read as 48 snippets of 16 strided frames; the 384 temporal tokens are
# resized to the 768 positions (temporal_length) and the projection attends globally
# (window_size=-1, max_seq_len 768, no position embedding). Training: one sample per video
# (regime='full'), randomly truncated every epoch (RandomTruncTAD: 768 positions, or 0.9-1.0 of
# a shorter video; an action is kept if 75% of it is inside); validation: windows overlapping
# by 25% (stride 576), test: by 50% (stride 384), as the public val / test datasets. Position i
# of a window starting at position w0 is the frame 4 * (w0 + i) + 2 (the public grid reads frame
# 4 * (w0 + i): our frames sit at the centre of their 4-frame step, 2 frames = 67 ms later,
# and the times of detections follow the frames read).
# Augmentation as the public pipeline: short side 182, RandomResizedCrop, resize to 160x160,
# flip, mmaction2 ColorJitter; test short side 160 then centre crop 160. Still different:
# - ImgAug(transforms='default') of the public pipeline: needs the imgaug package, which is not
#   a dependency here; ColorJitter is kept.
# The encoder loads an mmaction2 VideoMAE-S checkpoint unchanged (same keys; `backbone.*` of a
# Recognizer3D, or a plain backbone state dict via init_cfg.prefix).
# Built and tested, not trained here (no dataset, no GPU); data layout in
# ../_base_/datasets/thumos14/video.py; checkpoint path:
#   data/pretrained/vit-small-p16_videomae-k400-pre_16x4x1_kinetics-400.pth
_base_ = [
    '../_base_/models/actionformer_videomae-s.py', '../_base_/datasets/thumos14/video.py',
    '../_base_/schedules/actionformer_adamw-cosine.py', '../_base_/default_runtime.py'
]
clip_len, img_size = 16, 160
window, frame_stride = 768, 4  # positions per window, frames between read frames
train_pipeline = [
    dict(type='RandomTruncTAD', trunc_thresh=0.75, crop_ratio=(0.9, 1.0)),
    dict(type='DecodeTADSnippets', clip_len=clip_len, sampling='frames', short_side=182),
    dict(type='Resize', scale=(-1, 182)),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='ColorJitter'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]
test_pipeline = [
    dict(type='DecodeTADSnippets', clip_len=clip_len, sampling='frames', short_side=img_size),
    dict(type='Resize', scale=(-1, img_size)),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]
data = dict(temporal_dim=window, snippet_stride=frame_stride)
train_dataloader = dict(batch_size=2, num_workers=4,
                        dataset=dict(data, regime='full', pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=4,
                      dataset=dict(data, window_stride=window * 3 // 4, pipeline=test_pipeline))
test_dataloader = dict(batch_size=1, num_workers=4,
                       dataset=dict(data, window_stride=window // 2, pipeline=test_pipeline))
model = dict(backbone=dict(temporal_length=window),
             projection=dict(window_size=-1, max_seq_len=window))
val_evaluator = dict(
    _delete_=True, type='TADMetric', tiou_thresholds='thumos', max_per_video=2000,
    nms_cfg=dict(type='soft', sigma=0.7, iou_threshold=0.0, min_score=1e-3, voting_thresh=0.7))
test_evaluator = val_evaluator
# encoder lr x0.1 and weight decay 0.05 on all its parameters (the custom key bypasses
# norm_decay_mult / bias_decay_mult, which stay 0 for the detector)
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1, decay_mult=1.0)}))
max_epochs = 60
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=max_epochs, T_max=max_epochs - 5,
         eta_min=0.0, convert_to_iter_based=True)
]
