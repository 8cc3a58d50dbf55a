# ActionFormer end to end on THUMOS14 raw video with a VideoMAE-S encoder at 768 frames x 160 px
# per window, the setting that Progressive Block Drop (arXiv 2503.16916) compresses (OpenTAD /
# AdaTAD style): VideoMAE-S (12 blocks, width 384, 6 heads, 16x16 patches, tubelet 2) on
# 16-frame snippets (48 per window, every frame), temporal tokens kept (8 per snippet -> 384
# positions), gradient through every snippet (ratio=1.0; 0.1 is encoder gradient
# sampling) with activation checkpointing; ActionFormer width 512, window 19; AdamW lr 1e-4, wd
# 0.05, 5 warm-up epochs + cosine, 60 epochs, batch 2, EMA, clip 1 (the block-drop paper's
# per-stage recipe). The encoder loads an mmaction2 VideoMAE-S checkpoint unchanged (same keys;
# `backbone.*` of a Recognizer3D, or a plain backbone state dict via init_cfg.prefix).
# Built and tested, not trained here (no dataset, no GPU); data layout in
# ../_base_/datasets/thumos14/video.py; checkpoint path:
#   data/pretrained/vit-small-p16_videomae-k400-pre_16x4x1_kinetics-400.pth
_base_ = [
    '../_base_/models/actionformer_videomae-s.py', '../_base_/datasets/thumos14/video.py',
    '../_base_/schedules/actionformer_adamw-cosine.py', '../_base_/default_runtime.py'
]
clip_len, img_size, num_snippets = 16, 160, 48  # 48 x 16 = 768 frames per window
train_pipeline = [
    dict(type='DecodeTADSnippets', clip_len=clip_len, frame_interval=1, short_side=180),
    dict(type='Resize', scale=(-1, 180)),
    dict(type='RandomCrop', size=img_size),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]
test_pipeline = [
    dict(type='DecodeTADSnippets', clip_len=clip_len, frame_interval=1, short_side=180),
    dict(type='Resize', scale=(-1, 180)),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]
data = dict(temporal_dim=num_snippets, window_stride=num_snippets // 2, snippet_stride=clip_len)
train_dataloader = dict(batch_size=2, num_workers=4,
                        dataset=dict(data, pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=4, dataset=dict(data, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True, type='TADMetric', tiou_thresholds='thumos', max_per_video=2000,
    nms_cfg=dict(type='soft', sigma=0.5, iou_threshold=0.1, min_score=1e-3))
test_evaluator = val_evaluator
max_epochs = 60
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=max_epochs, T_max=max_epochs - 5,
         eta_min=0.0, convert_to_iter_based=True)
]
