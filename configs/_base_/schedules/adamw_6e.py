# ETAD schedule (ETAD: A Unified Framework for Efficient Temporal Action Detection, arXiv
# 2205.07134, sec. 4.2): AdamW, lr 1e-3, weight decay 1e-4, 6 epochs, x0.1 after 5.
max_epochs = 6
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
                 val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=40, norm_type=2))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[5], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
