# ActionFormer end to end on ActivityNet-1.3 raw video with VideoMAE-S, the ActivityNet model that
# Progressive Block Drop (arXiv 2503.16916) compresses. Follows OpenTAD
# configs/adatad/anet/e2e_anet_videomae_s_192x4_160_fullft.py (as used by
# nanxiaolu/Progressive_Block_Drop-TAD configs/adatad/videomae/e2e_anet_videomae_s_768x1_160_LongLoRA.py):
# 160 px, VideoMAE-S temporal tokens without fc_norm, ActionFormer width 256 with global
# attention and a position embedding, one class-agnostic class fused with an external video
# classifier (top 2), AdamW lr 1e-3 (encoder x0.1), wd 0.05 (on every encoder parameter, LayerNorms,
# biases and patch embedding included; detector biases, norms and scales none), 5 warm-up epochs
# + cosine, 15 epochs, 4 GPUs x 4 videos, clip 1.0; Soft-NMS sigma 0.7, segment voting 0.9.
# Frame sampling as the public LoadFrames(method='resize', scale_factor=4): 192 x 4 = 768 frames
# spread evenly over the whole video (each at the centre of its 1/768 of the video), read as 48
# snippets of 16; the 384 temporal tokens are resized to 192 positions (temporal_length), the
# annotations normalised to the video's duration (192 positions); projection max_seq_len 192,
# input dropout 0.2.
# Augmentation as the public pipeline: short side 182, RandomResizedCrop, resize to 160x160,
# flip, mmaction2 ColorJitter; test short side 160 then centre crop 160. Still different:
# - ImgAug(transforms='default') of the public pipeline: needs the imgaug package, which is not
#   a dependency here; ColorJitter is kept.
# Built and tested, not trained here (no dataset, no GPU).
_base_ = [
    '../_base_/models/actionformer_videomae-s.py', '../_base_/datasets/activitynet/video.py',
    '../_base_/schedules/actionformer_adamw-cosine.py', '../_base_/default_runtime.py'
]
clip_len, img_size = 16, 160
positions, frames_per_position = 192, 4  # 768 frames per video
decode = dict(type='DecodeTADSnippets', clip_len=clip_len, sampling='frames',
              frames_per_position=frames_per_position)
train_pipeline = [
    dict(decode, short_side=182),
    dict(type='Resize', scale=(-1, 182)),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='ColorJitter'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]
test_pipeline = [
    dict(decode, short_side=img_size),
    dict(type='Resize', scale=(-1, img_size)),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]
train_dataloader = dict(
    batch_size=4, dataset=dict(temporal_dim=positions, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, dataset=dict(temporal_dim=positions, pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(
    backbone=dict(temporal_length=positions),
    projection=dict(in_channels=384, embed_dims=256, window_size=-1, use_abs_pe=True,
                    max_seq_len=positions, input_drop=0.2),
    neck=dict(in_channels=256),
    head=dict(num_classes=1, in_channels=256, feat_channels=256, label_smoothing=0.1,
              reg_loss_weight=2.0, loss_normalizer=200),
    test_cfg=dict(class_agnostic=True))
max_epochs = 15
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    # the custom key bypasses norm_decay_mult / bias_decay_mult (0 for the detector only)
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1, decay_mult=1.0),
                                    '.scale': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=max_epochs, T_max=max_epochs - 5,
         eta_min=0.0, convert_to_iter_based=True)
]
val_evaluator = dict(
    type='TADMetric', tiou_thresholds='activitynet', max_per_video=100, topk_classes=2,
    nms_cfg=dict(type='soft', sigma=0.7, iou_threshold=0.0, min_score=1e-3, voting_thresh=0.9),
    class_score_file='data/activitynet/annotations/video_class_scores.json')
test_evaluator = val_evaluator
