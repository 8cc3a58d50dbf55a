"""mmtad_ext.visualization: every plot writes a PNG; matplotlib is used there only, lazily."""
import ast
import os
import re

from PIL import Image

from mmtad_ext.visualization import (plot_block_drop_stages, plot_budget_table, plot_curves,
                                     plot_timeline)

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
