# ActionFormer's schedule (OpenTAD configs/actionformer/thumos_i3d.py): AdamW lr 1e-4, weight
# decay 0.05 (none on biases, norms and the scale parameters), 5 linear warm-up epochs then
# cosine to the end, gradient clipping 1.0, EMA of the weights (decay 0.999 = mmengine momentum
# 0.001), evaluated with the EMA weights.
max_epochs = 35
warmup_epochs = 5
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
                 val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
    # mmengine's parameter groups, logged as one line per rule (per parameter at DEBUG)
    constructor='SummaryOptimWrapperConstructor',
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                       custom_keys={'.scale': dict(decay_mult=0.0)}),
    clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=warmup_epochs, end=max_epochs,
         T_max=max_epochs - warmup_epochs, eta_min=0.0, convert_to_iter_based=True)
]
custom_hooks = [dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.001)]
auto_scale_lr = dict(enable=False, base_batch_size=2)
