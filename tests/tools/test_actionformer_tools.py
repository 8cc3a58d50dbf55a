"""ActionFormer through tools/train.py and tools/test.py: synthetic features and raw video."""
import json
import os.path as osp

import pytest

from test_train_test import REPO, TEST, TRAIN, run  # sibling module (tests/tools is on sys.path)

FEATURE_CONFIG = osp.join(REPO, 'configs', 'actionformer',
                          'actionformer_1xb8-30e_synthetic-tad-feature.py')
VIDEO_CONFIG = osp.join(REPO, 'configs', 'actionformer',
                        'actionformer_videomae-tiny-egs_1xb4-40e_synthetic-tad-rgb.py')

TINY_FEATURE = '''
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
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False, dataset=data)
val_dataloader['dataset']['subset'] = 'validation'
test_dataloader = val_dataloader
model = dict(projection=dict(in_channels=16, embed_dims=16, num_heads=2, window_size=5),
             neck=dict(in_channels=16), head=dict(num_classes=3, in_channels=16))
train_cfg = dict(max_epochs=2, val_interval=2)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
'''

TINY_VIDEO = '''
_base_ = {base!r}
root = {root!r}
data = dict(ann_file=root + '/annotations.json', class_map=root + '/class_map.txt',
            data_prefix=dict(video=root + '/videos'))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=data)
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=data)
test_dataloader = val_dataloader
model = dict(backbone=dict(ratio=0.25, init_cfg=None,
                           backbone=dict(depth=3, embed_dims=32, num_heads=2)),
             frozen_modules=None,
             projection=dict(in_channels=32, embed_dims=16, num_heads=2, window_size=5),
             neck=dict(in_channels=16), head=dict(num_classes=2, in_channels=16))
train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
'''


def test_train_then_test_on_synthetic_features(tiny_data, tmp_path):
    cfg = tmp_path / 'af.py'
    cfg.write_text(TINY_FEATURE.format(base=FEATURE_CONFIG, root=tiny_data))
    work = str(tmp_path / 'work')
    log = run([TRAIN, str(cfg), '--work-dir', work], cwd=str(tmp_path))
    assert 'loss_cls' in log and 'loss_reg' in log and 'tad/average_mAP' in log
    dump = str(tmp_path / 'sub.json')
    log = run([TEST, str(cfg), osp.join(work, 'epoch_2.pth'), '--work-dir', work, '--dump',
               dump], cwd=str(tmp_path))
    assert 'tad/average_mAP' in log
    with open(dump) as f:
        results = json.load(f)['results']
    assert len(results) == 4 and all(d['label'] for dets in results.values() for d in dets)


def test_train_then_test_end_to_end_on_synthetic_video(tiny_video_tad, tmp_path):
    cfg = tmp_path / 'af_video.py'
    text = TINY_VIDEO.format(base=VIDEO_CONFIG, root=tiny_video_tad)
    text = text.replace("             frozen_modules=None,\n", '')
    text = text.replace("model = dict(backbone=dict(ratio=0.25, init_cfg=None,",
                        "model = dict(backbone=dict(ratio=0.25, init_cfg=None, "
                        "frozen_modules=('patch_embed', 'blocks.0'),")
    cfg.write_text(text)
    work = str(tmp_path / 'work')
    log = run([TRAIN, str(cfg), '--work-dir', work], cwd=str(tmp_path))
    assert 'loss_cls' in log and 'tad/average_mAP' in log
    log = run([TEST, str(cfg), osp.join(work, 'epoch_1.pth'), '--work-dir', work],
              cwd=str(tmp_path))
    assert 'tad/mAP@0.5' in log
