"""mmtad_ext.visualization: every plot writes a PNG; matplotlib is used there only, lazily."""
import ast
import os
import re

from PIL import Image

import numpy as np
import pytest

from mmtad_ext.visualization import (assign_lanes, plot_block_drop_stages, plot_budget_table,
                                     plot_curves, plot_timeline, timeline_detections,
                                     timeline_figure)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _png(path):
    with Image.open(path) as im:
        assert im.format == 'PNG' and im.size[0] > 100 and im.size[1] > 100


def test_plotting_lives_in_one_module_and_imports_matplotlib_lazily():
    """Only visualization/plots.py uses matplotlib, and only inside functions."""
    package = os.path.join(REPO, 'mmtad_ext')
    users = []
    for root, _, files in os.walk(package):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(root, name)
                with open(path) as f:
                    if re.search(r'^\s*(import|from) matplotlib', f.read(), re.M):
                        users.append(os.path.relpath(path, package))
    assert users == [os.path.join('visualization', 'plots.py')]
    with open(os.path.join(package, 'visualization', 'plots.py')) as f:
        tree = ast.parse(f.read())
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not any('matplotlib' in ast.dump(n) for n in top_level)


def test_timeline(tmp_path):
    dets = [dict(label='jump', score=0.9, segment=[1.0, 3.0]),
            dict(label='run', score=0.2, segment=[2.0, 6.0])]
    gt = [dict(label='jump', segment=[1.2, 2.8])]
    rows = plot_timeline(str(tmp_path / 't.png'), 'v', 8.0, dets, gt)
    assert rows == ['jump', 'run']
    _png(tmp_path / 't.png')


def _candidates(seed=0, n=300):
    """Many overlapping low-score candidates and a few confident detections (best first)."""
    rng = np.random.default_rng(seed)
    dets = [dict(label=str(rng.choice(['a', 'b', 'c'])), score=float(s),
                 segment=[float(t), float(t + d)])
            for s, t, d in zip(rng.uniform(0.001, 0.3, n), rng.uniform(0, 25, n),
                               rng.uniform(0.5, 5, n))]
    dets += [dict(label='a', score=0.95, segment=[2.0, 6.0]),
             dict(label='a', score=0.6, segment=[3.0, 7.0]),
             dict(label='b', score=0.03, segment=[10.0, 12.0])]
    return sorted(dets, key=lambda d: -d['score'])


def test_timeline_default_filter_keeps_what_it_says():
    dets = _candidates()
    kept = timeline_detections(dets)  # defaults: score >= 0.1, best 20 per class
    expected = []
    for c in 'abc':
        expected += [d for d in dets if d['label'] == c and d['score'] >= 0.1][:20]
    assert sorted(map(id, kept)) == sorted(map(id, expected)) and len(kept) == 60
    assert [d['score'] for d in kept] == sorted((d['score'] for d in kept), reverse=True)
    assert len(timeline_detections(dets, 0.0, 0)) == len(dets)
    assert all(d['score'] >= 0.25 for d in timeline_detections(dets, 0.25, 0))
    with pytest.raises(ValueError, match='topk_per_class'):
        timeline_detections(dets, 0.1, -1)


def test_lanes_separate_overlapping_segments():
    assert assign_lanes([(0, 4), (1, 2), (4, 6), (3, 5), (7, 8)]) == [0, 1, 0, 1, 0]
    assert assign_lanes([(0, 4), (1, 3), (2, 5), (3.5, 6)]) == [0, 1, 2, 1]
    assert assign_lanes([]) == []


def _bars(fig, gid):
    ax = fig.axes[0]
    return [p for p in ax.patches if p.get_gid() == gid]


def test_timeline_colour_is_absolute_score_and_overlaps_get_own_lanes():
    import matplotlib.pyplot as plt
    dets = _candidates()
    gt = [dict(label='a', segment=[2.5, 6.5]), dict(label='c', segment=[20.0, 22.0])]
    fig, rows = timeline_figure('v', 30.0, dets, gt, classes=['c', 'b', 'a', 'unused'])
    try:
        assert rows == ['c', 'b', 'a']  # classes' order; empty classes get no row
        kept = timeline_detections(dets)
        bars = _bars(fig, 'det')
        assert len(bars) == len(kept) and len(_bars(fig, 'gt')) == 2
        # a colour bar axis labelled 'score' from 0 to 1
        cbar = [a for a in fig.axes if a.get_ylabel() == 'score']
        assert len(cbar) == 1 and cbar[0].get_ylim() == (0.0, 1.0)
        (mesh, ) = [c for c in cbar[0].collections if type(c).__name__ == 'QuadMesh']
        cmap, norm = mesh.get_cmap(), mesh.norm
        assert (norm.vmin, norm.vmax) == (0.0, 1.0)
        by_label = {}
        for d in kept:
            by_label.setdefault(d['label'], []).append(d)
        ordered = [d for c in rows for d in by_label.get(c, [])]
        for bar, d in zip(bars, ordered):
            assert bar.get_x() == pytest.approx(d['segment'][0])
            assert bar.get_width() == pytest.approx(d['segment'][1] - d['segment'][0])
            # the colour is the colour map at the absolute score, not relative to the best
            np.testing.assert_allclose(bar.get_facecolor(), cmap(norm(d['score'])), atol=1e-6)
        # the best one is darker than a weak one
        assert sum(bars[0].get_facecolor()[:3]) < sum(bars[-1].get_facecolor()[:3])
        # overlapping segments of a class never share a y position
        for c in rows:
            mine = [(b, d) for b, d in zip(bars, ordered) if d['label'] == c]
            for i, (b1, d1) in enumerate(mine):
                for b2, d2 in mine[i + 1:]:
                    if d1['segment'][0] < d2['segment'][1] and d2['segment'][0] < d1['segment'][1]:
                        assert b1.get_y() != b2.get_y()
        # ground truth sits above the detections of its class, outside their lanes
        gt_a = [b for b in _bars(fig, 'gt') if b.get_x() == 2.5][0]
        det_a = [b for b, d in zip(bars, ordered) if d['label'] == 'a']
        assert gt_a.get_y() + gt_a.get_height() <= min(b.get_y() for b in det_a)
    finally:
        plt.close(fig)


def test_timeline_of_weak_detections_draws_none_and_says_so(tmp_path):
    import matplotlib.pyplot as plt
    weak = [dict(label='a', score=0.029, segment=[1.0, 2.0])]
    fig, rows = timeline_figure('v', 5.0, weak)
    try:
        assert rows == [] and _bars(fig, 'det') == []
        assert '0 of 1 detections drawn' in fig.axes[0].get_title()
    finally:
        plt.close(fig)
    # with the filter off it is drawn pale: its colour is that of 0.029 on the 0..1 scale
    fig, _ = timeline_figure('v', 5.0, weak, score_thr=0.0)
    try:
        (bar, ) = _bars(fig, 'det')
        assert sum(bar.get_facecolor()[:3]) > 2.4  # close to white
    finally:
        plt.close(fig)


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_block_drop_stages_budget_table_and_curves(tmp_path):
    records = [dict(stage=0, metric_before=None, metric_after=0.9, macs=4e9),
               dict(stage=1, metric_before=0.8, metric_after=0.88, macs=3e9)]
    plot_block_drop_stages(records, str(tmp_path / 'bd.png'), 'acc/top1')
    rows = [dict(gamma_w=w, gamma_s=1.0, gamma_t=1.0, gmacs=g, latency_ms=l, top1=t)
            for w, g, l, t in ((0.5, 1.0, 2.0, 0.6), (1.0, 4.0, 6.0, 0.8))]
    plot_budget_table(rows, str(tmp_path / 'budget.png'))
    plot_curves({'loss': {'run': ([1, 2, 3], [3.0, 2.0, 1.0], 'iter')}},
                str(tmp_path / 'curves.png'), title='t')
    for name in ('bd.png', 'budget.png', 'curves.png'):
        _png(tmp_path / name)
