import json
import os.path as osp

import numpy as np

from mmtad_ext.datasets.synthetic.feature_tad import generate_synthetic_tad


def _gen(path, seed):
    return generate_synthetic_tad(str(path), num_train=4, num_val=2, num_classes=3, feat_dim=8,
                                  min_snippets=20, max_snippets=40, seed=seed)


def test_deterministic_by_seed_and_valid(tmp_path):
    a, b, c = _gen(tmp_path / 'a', 7), _gen(tmp_path / 'b', 7), _gen(tmp_path / 'c', 8)
    ann_a, ann_b, ann_c = (json.load(open(x['ann_file']))['database'] for x in (a, b, c))
    assert ann_a == ann_b and ann_a != ann_c
    for vid, info in ann_a.items():
        fa = np.load(osp.join(a['feature_dir'], vid + '.npy'))
        assert np.array_equal(fa, np.load(osp.join(b['feature_dir'], vid + '.npy')))
        assert fa.shape[1] == 8 and 20 <= fa.shape[0] <= 40
        assert info['duration'] == fa.shape[0] * 0.5
        assert 1 <= len(info['annotations']) <= 3
        segs = sorted(x['segment'] for x in info['annotations'])
        assert all(0 <= s < e <= info['duration'] for s, e in segs)
        assert all(e1 <= s2 for (_, e1), (s2, _) in zip(segs, segs[1:]))  # no overlap
        assert {x['label'] for x in info['annotations']} <= set(a['classes'])
    subsets = [info['subset'] for info in ann_a.values()]
    assert subsets.count('training') == 4 and subsets.count('validation') == 2


def test_actions_stand_out_along_their_class_direction(tmp_path):
    """The class pattern raises the features inside the annotated intervals."""
    info = generate_synthetic_tad(str(tmp_path), num_train=6, num_val=0, num_classes=2,
                                  feat_dim=16, seed=0)
    db = json.load(open(info['ann_file']))['database']
    inside = {c: [] for c in info['classes']}
    outside = []
    for vid, v in db.items():
        f = np.load(osp.join(info['feature_dir'], vid + '.npy'))
        mask = np.zeros(len(f), bool)
        for a in v['annotations']:
            s, e = int(a['segment'][0] / 0.5), int(a['segment'][1] / 0.5)
            inside[a['label']].append(f[s:e])
            mask[s:e] = True
        outside.append(f[~mask])
    background = np.concatenate(outside).mean(0)
    for label, parts in inside.items():
        # the class pattern (amplitude 1.5 along a unit direction here) shifts the mean
        shift = np.linalg.norm(np.concatenate(parts).mean(0) - background)
        assert shift > 0.8, (label, shift)
