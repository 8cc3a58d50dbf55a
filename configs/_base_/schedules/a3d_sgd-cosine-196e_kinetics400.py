# Slow-8x8 / SlowFast-4x16 from scratch on Kinetics-400, the SlowFast codes' settings that A3D
# follows (A3D: Adaptive 3D Networks for Video Action Recognition, arXiv 2011.12384, sec. 4):
# SGD lr 0.8 for 64 clips (8 GPUs x 8), momentum 0.9, wd 1e-4, 34 warm-up epochs, cosine to
# 196 epochs.
max_epochs = 196
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.8, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=40, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=34,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 34, eta_min=0, by_epoch=True, begin=34,
         end=max_epochs)
]
auto_scale_lr = dict(enable=False, base_batch_size=64)
