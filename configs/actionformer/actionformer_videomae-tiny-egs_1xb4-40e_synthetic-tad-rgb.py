# ActionFormer end to end from raw video on the embedded synthetic video benchmark: a tiny
# VideoMAE-shaped encoder (VideoMAEEncoder, LoRA-ready and block-addressable for Progressive Block
# Drop, arXiv 2503.16916) inside EGSBackboneWrapper (encoder gradient sampling, random 10%, ETAD
# arXiv 2205.07134 sec. 3.3), temporal tokens kept per snippet (2 per 4-frame snippet, as
# OpenTAD's end-to-end VideoMAE), ActionFormer (arXiv 2202.07925) on the 64 tokens.
#   python tools/make_synthetic_tad.py --modality video --out-dir data/synthetic_tad_video
#   python tools/make_synthetic_clips.py --out-dir data/a3d_synthetic_clips
#   python tools/train.py \
#       configs/recognition/videomae/videomae-tiny_1xb16-4x3x1-20e_synthetic-clips-rgb.py \
#       --work-dir work_dirs/videomae-tiny_pretrain
#   python tools/train.py \
#       configs/actionformer/actionformer_videomae-tiny-egs_1xb4-40e_synthetic-tad-rgb.py
# model.backbone.ratio=0 is the frozen encoder, 1.0 full end-to-end training.
_base_ = [
    '../_base_/models/actionformer.py', '../_base_/datasets/synthetic_tad/video.py',
    '../_base_/schedules/actionformer_adamw-cosine.py', '../_base_/default_runtime.py'
]
model = dict(
    data_preprocessor=dict(
        _delete_=True, type='ActionDataPreprocessor', mean=[110.0, 110.0, 110.0],
        std=[40.0, 40.0, 40.0], format_shape='NCTHW'),
    backbone=dict(
        type='EGSBackboneWrapper',
        backbone=dict(type='VideoMAEEncoder', out_type='temporal', img_size=32, patch_size=8,
                      embed_dims=64, depth=8, num_heads=4, mlp_ratio=4, num_frames=4,
                      tubelet_size=2, drop_path_rate=0.0),
        ratio=0.1,
        strategy='random',
        mode='joint',
        chunk_size=32,
        seed=0,
        frozen_modules=('patch_embed', 'blocks.0', 'blocks.1'),
        norm_eval=True,
        keep_temporal=True,
        with_cp=False,
        # a Recognizer3D checkpoint: its "backbone.*" keys match the wrapper's
        init_cfg=dict(type='Pretrained',
                      checkpoint='work_dirs/videomae-tiny_pretrain/epoch_20.pth')),
    projection=dict(in_channels=64, embed_dims=64, window_size=9, drop_path=0.1),
    neck=dict(in_channels=64),
    head=dict(num_classes=4, in_channels=64, feat_channels=64))

max_epochs = 40
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    # encoder learning rate x0.01, as the ETAD EGS demo
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.01), '.scale':
                                    dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=max_epochs, T_max=max_epochs - 5,
         eta_min=0.0, convert_to_iter_based=True)
]
custom_hooks = [dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.01)]
val_evaluator = dict(nms_cfg=dict(type='soft', sigma=0.5, iou_threshold=0.1, min_score=1e-3))
test_evaluator = val_evaluator
default_hooks = dict(logger=dict(interval=6), checkpoint=dict(interval=max_epochs))
