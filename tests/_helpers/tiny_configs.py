"""Every tiny config of the test suite: the project's configs shrunk to run in seconds on a CPU.

Config files (``write_*_config(path, ...)``) inherit a config of ``configs/`` through
``_base_`` and are run by the tools or a Runner; model dicts (``*_cfg``) are built with
``MODELS.build``.
"""
import os.path as osp

from .paths import CONFIGS

ETAD_FEATURE_BASE = osp.join(CONFIGS, 'etad', 'etad_lstm_1xb8-16e_synthetic-tad-feature.py')
ETAD_EGS_VIDEO_BASE = osp.join(CONFIGS, 'etad',
                               'etad-egs_slowonly-r18-tiny_1xb4-40e_synthetic-tad-rgb.py')
A3D_BASE = osp.join(CONFIGS, 'a3d',
                    'a3d-0.016-1_slowonly-tiny_1xb16-8x2x1-16e_synthetic-clips-rgb.py')
ACTIONFORMER_FEATURE_BASE = osp.join(CONFIGS, 'actionformer',
                                     'actionformer_1xb8-30e_synthetic-tad-feature.py')
ACTIONFORMER_VIDEO_BASE = osp.join(CONFIGS, 'actionformer',
                                   'actionformer_videomae-tiny-egs_1xb4-40e_synthetic-tad-rgb.py')
BLOCK_DROP_BASE = osp.join(CONFIGS, 'block_drop',
                           'block-drop_videomae-tiny_1xb16-8x2x1-3x4e_synthetic-clips-rgb.py')

# ETAD on 16-channel synthetic features (tools/make_synthetic_tad.py layout), 16-wide heads
_ETAD_FEATURE_MODEL = '''
model = dict(
    neck=dict(in_channels=16, channels=16, norm_cfg=None),
    boundary_head=dict(in_channels=16, feat_channels=16),
    proposal_head=dict(in_channels=16, feat_channels=8, mid_channels=32, fc_channels=16,
                       roi_size=4),
    cls_head=dict(in_channels=16, num_classes=3),
    proposal_sampler=dict(temporal_dim={dim}),
    test_cfg=dict(max_proposals={max_proposals}))
'''

# 16-channel synthetic features, whole videos resized to 32 snippets; train on 'training',
# validate and test on 'validation'
_FEATURE_DATA = '''
_base_ = {base!r}
root = {root!r}
pipeline = [
    dict(type='LoadTADFeatures', in_channels=16),
    dict(type='ResizeTADFeatures', temporal_dim=32),
    dict(type='PackTADInputs')
]
data = dict(ann_file=root + '/annotations.json', class_map=root + '/class_map.txt',
            data_prefix=dict(feature=root + '/features'), temporal_dim=32, pipeline=pipeline)
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False, dataset=data)
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(data, subset='validation'))  # a copy: train keeps its own
test_dataloader = val_dataloader
'''

# whole videos resized to 32 snippets; trains {epochs} epochs, validates after the last
ETAD_FEATURE = _FEATURE_DATA + _ETAD_FEATURE_MODEL.format(dim=32, max_proposals=50) + '''
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
param_scheduler = [dict(type='MultiStepLR', begin=0, end={epochs}, by_epoch=True,
                        milestones=[{epochs}], gamma=0.1)]
default_hooks = dict(logger=dict(interval=1))
'''

# the sliding regime: several windows of 16 snippets per video, merged by the metric (test only)
ETAD_FEATURE_SLIDING = '''
_base_ = {base!r}
root = {root!r}
pipeline = [dict(type='LoadTADFeatures', in_channels=16),
            dict(type='SlidingWindowTADFeatures', window_size=16), dict(type='PackTADInputs')]
data = dict(ann_file=root + '/annotations.json', class_map=root + '/class_map.txt',
            data_prefix=dict(feature=root + '/features'), regime='sliding', temporal_dim=16,
            window_stride=8, pipeline=pipeline, subset='validation', test_mode=True)
test_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False, dataset=data)
''' + _ETAD_FEATURE_MODEL.format(dim=16, max_proposals=30) + '''
test_evaluator = dict(max_per_video=20)
'''

# the tiny EGS raw-video ETAD in the sliding regime (windows of {dim} snippets, a snippet every
# 4 frames), random encoder (no pretrained checkpoint), at most 20 proposals per window
ETAD_EGS_VIDEO = '''
_base_ = {base!r}
root = {root!r}
data = dict(ann_file=root + '/annotations.json', class_map={class_map!r},
            data_prefix=dict(video=root + '/videos'), regime='sliding', temporal_dim={dim},
            window_stride={stride}, snippet_stride=4)
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=data)
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                      dataset=dict(data, subset='validation'))
test_dataloader = val_dataloader
model = dict(backbone=dict(init_cfg=None), proposal_sampler=dict(temporal_dim={dim}),
             cls_head=dict(num_classes={num_classes}), test_cfg=dict(max_proposals=20))
'''

# A3D mutual training of the tiny SlowOnly on a synthetic clip dataset (make_clip_dataset),
# a checkpoint every epoch, no validation, no scheduler, no BN-calibration hook
A3D = '''
_base_ = {base!r}
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(ann_file={data!r} + '/train_list_videos.txt', data_prefix=dict(video={data!r})))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(ann_file={data!r} + '/val_list_videos.txt', data_prefix=dict(video={data!r})))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs={epochs}, val_interval={epochs} + 1)
param_scheduler = []
custom_hooks = []
default_hooks = dict(checkpoint=dict(interval=1), logger=dict(interval=1))
'''

# ActionFormer on 16-channel synthetic features: 2 epochs, validated and saved after the 2nd
ACTIONFORMER_FEATURE = _FEATURE_DATA + '''
model = dict(projection=dict(in_channels=16, embed_dims=16, num_heads=2, window_size=5),
             neck=dict(in_channels=16), head=dict(num_classes=3, in_channels=16))
train_cfg = dict(max_epochs=2, val_interval=2)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
'''

# end-to-end ActionFormer on raw video: a random 3-block, 32-wide EGS-wrapped encoder whose
# patch embedding and first block are frozen, 1 epoch
ACTIONFORMER_VIDEO = '''
_base_ = {base!r}
root = {root!r}
data = dict(ann_file=root + '/annotations.json', class_map=root + '/class_map.txt',
            data_prefix=dict(video=root + '/videos'))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=data)
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=data)
test_dataloader = val_dataloader
model = dict(backbone=dict(ratio=0.25, init_cfg=None,
                           frozen_modules=('patch_embed', 'blocks.0'),
                           backbone=dict(depth=3, embed_dims=32, num_heads=2)),
             projection=dict(in_channels=32, embed_dims=16, num_heads=2, window_size=5),
             neck=dict(in_channels=16), head=dict(num_classes=2, in_channels=16))
train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
'''


def _write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def write_etad_feature_config(path, root, base=ETAD_FEATURE_BASE, epochs=2):
    """The tiny feature ETAD (``ETAD_FEATURE``) on the synthetic benchmark ``root``."""
    return _write(path, ETAD_FEATURE.format(base=base, root=str(root), epochs=epochs))


def write_etad_feature_sliding_config(path, root, base=ETAD_FEATURE_BASE):
    """The tiny feature ETAD in the sliding regime (``ETAD_FEATURE_SLIDING``), test only."""
    return _write(path, ETAD_FEATURE_SLIDING.format(base=base, root=str(root)))


def write_video_config(path, root, class_map, num_classes, dim=16, stride=8):
    """The tiny raw-video EGS ETAD (``ETAD_EGS_VIDEO``) on the synthetic videos of ``root``."""
    return _write(path, ETAD_EGS_VIDEO.format(base=ETAD_EGS_VIDEO_BASE, root=str(root),
                                              class_map=class_map, num_classes=num_classes,
                                              dim=dim, stride=stride))


def write_a3d_config(path, data, epochs=1):
    """The tiny A3D SlowOnly (``A3D``) on the synthetic clip dataset ``data``."""
    return _write(path, A3D.format(base=A3D_BASE, data=str(data), epochs=epochs))


def write_actionformer_feature_config(path, root):
    """The tiny feature ActionFormer (``ACTIONFORMER_FEATURE``)."""
    return _write(path, ACTIONFORMER_FEATURE.format(base=ACTIONFORMER_FEATURE_BASE,
                                                    root=str(root)))


def write_actionformer_video_config(path, root):
    """The tiny raw-video ActionFormer (``ACTIONFORMER_VIDEO``)."""
    return _write(path, ACTIONFORMER_VIDEO.format(base=ACTIONFORMER_VIDEO_BASE, root=str(root)))


def tiny_a3d_recognizer_cfg(num_classes=4, base_channels=16, **mutual):
    """An ``A3DRecognizer3D`` on a one-block-per-stage slimmable ResNet-50 (``base_channels``
    wide: 16 gives 512 head channels), ``mutual_cfg=dict(seed=0, **mutual)``."""
    return dict(
        type='A3DRecognizer3D',
        backbone=dict(type='SlimmableResNet3D', depth=50, stage_blocks=(1, 1, 1, 1),
                      base_channels=base_channels, pretrained=None, pretrained2d=False,
                      width_divisor=4, min_channels=4),
        cls_head=dict(type='I3DHead', num_classes=num_classes, in_channels=32 * base_channels,
                      dropout_ratio=0.0, average_clips='prob'),
        mutual_cfg=dict(seed=0, **mutual),
        data_preprocessor=dict(type='ActionDataPreprocessor', mean=[114.75] * 3,
                               std=[57.375] * 3, format_shape='NCTHW'))


def block_drop_config(clips_root, work_dir, stage_epochs=2, max_drops=2, name='bd', **hook):
    """The synthetic block-drop config shrunk for tests (an mmengine ``Config``): a 4-block,
    32-wide encoder from random init on the clip dataset ``clips_root`` (4 classes, 16-frame
    clips), batch 8, checkpoints every epoch, a stage-relative linear warm-up (over the running
    stage: ``stage_epochs`` may be one per stage); ``hook`` overrides BlockDropHook's
    arguments."""
    from mmengine.config import Config
    root = clips_root
    cfg = Config.fromfile(BLOCK_DROP_BASE)
    loader = dict(batch_size=8, num_workers=0, persistent_workers=False)
    lengths = [stage_epochs] if isinstance(stage_epochs, int) else list(stage_epochs)
    total = sum(lengths[min(t, len(lengths) - 1)] for t in range(max_drops))
    cfg.merge_from_dict(dict(
        model=dict(student_ckpt=None, student=dict(
            backbone=dict(embed_dims=32, depth=4, num_heads=2),
            cls_head=dict(num_classes=4, in_channels=32))),
        train_dataloader=dict(dataset=dict(ann_file=f'{root}/train_list_videos.txt',
                                           data_prefix=dict(video=root)), **loader),
        val_dataloader=dict(dataset=dict(ann_file=f'{root}/val_list_videos.txt',
                                         data_prefix=dict(video=root)), **loader),
        train_cfg=dict(max_epochs=total, val_interval=100),
        default_hooks=dict(logger=dict(interval=1),
                           checkpoint=dict(interval=1, max_keep_ckpts=10)),
        work_dir=work_dir, experiment_name=name))
    cfg.test_dataloader = cfg.val_dataloader
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.5, by_epoch=True, begin=0,
                                convert_to_iter_based=True)]  # end: the stage's length
    hook_cfg = dict(tolerance=1.0, metric_key='acc/top1', subset_size=8, latency_repeats=1)
    hook_cfg.update(hook)
    cfg.custom_hooks = [dict(type='BlockDropHook', stage_epochs=stage_epochs,
                             max_drops=max_drops, **hook_cfg)]
    return cfg


def block_drop_detector_config(video_root, work_dir, **hook):
    """The tiny ActionFormer + VideoMAE block-drop config shrunk for tests (an mmengine
    ``Config``): a 3-block, 32-wide encoder from random init on the raw-video TAD set
    ``video_root`` (2 classes), batch 2, 2 epochs at a constant learning rate, average mAP of 4
    training videos as the criterion; ``hook`` sets BlockDropHook's stage_epochs / max_drops."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(CONFIGS, 'block_drop', 'block-drop_actionformer-'
                                   'videomae-tiny_1xb4-3x4e_synthetic-tad-rgb.py'))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(batch_size=2, num_workers=0, persistent_workers=False)
        cfg[loader].dataset.update(ann_file=video_root + '/annotations.json',
                                   class_map=video_root + '/class_map.txt',
                                   data_prefix=dict(video=video_root + '/videos'))
    cfg.merge_from_dict(dict(model=dict(student_ckpt=None, student=dict(
        backbone=dict(backbone=dict(embed_dims=32, depth=3, num_heads=2)),
        projection=dict(in_channels=32, embed_dims=32), neck=dict(in_channels=32),
        head=dict(num_classes=2, in_channels=32, feat_channels=32)))))
    cfg.train_cfg.update(max_epochs=2, val_interval=100)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
    cfg.custom_hooks = [dict(type='BlockDropHook', tolerance=100.0, metric_key='tad/average_mAP',
                             subset_size=4, latency_repeats=1, **hook)]
    cfg.work_dir = work_dir
    return cfg
