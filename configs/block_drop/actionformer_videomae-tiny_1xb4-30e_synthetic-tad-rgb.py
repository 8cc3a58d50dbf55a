# The uncompressed detector that block drop starts from: ActionFormer end to end on the synthetic
# raw-video benchmark with the tiny VideoMAEEncoder (videomae-tiny) of
# ../actionformer/actionformer_videomae-tiny-egs_1xb4-40e_synthetic-tad-rgb.py (8 blocks,
# width 64, 2 temporal tokens per 4-frame snippet), trained here from scratch with gradient through every
# snippet (EGS ratio 1.0, nothing frozen, one learning rate), 30 epochs (CPU, minutes;
# OMP_NUM_THREADS=1 on a shared machine).
#   python tools/make_synthetic_tad.py --modality video --out-dir data/synthetic_tad_video
#   python tools/train.py configs/block_drop/actionformer_videomae-tiny_1xb4-30e_synthetic-tad-rgb.py
_base_ = ['../actionformer/actionformer_videomae-tiny-egs_1xb4-40e_synthetic-tad-rgb.py']
model = dict(
    backbone=dict(
        backbone=dict(qkv_bias=True, use_mean_pooling=True),
        ratio=1.0, chunk_size=64, frozen_modules=(), init_cfg=None),
    projection=dict(max_seq_len=64))
optim_wrapper = dict(paramwise_cfg=dict(
    _delete_=True, norm_decay_mult=0.0, bias_decay_mult=0.0,
    custom_keys={'.scale': dict(decay_mult=0.0)}))
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=max_epochs, T_max=max_epochs - 5,
         eta_min=0.0, convert_to_iter_based=True)
]
custom_hooks = [dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.001)]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=10))
