import json
import os.path as osp
import sys

from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import benchmark_dps  # noqa: E402


def test_oracle_class_scores_mark_the_annotated_classes(tiny_data, tiny_config, tmp_path):
    cfg = Config.fromfile(tiny_config())
    out = benchmark_dps.oracle_class_scores(cfg, str(tmp_path / 'oracle.json'))
    scores = json.load(open(out))
    database = json.load(open(osp.join(tiny_data, 'annotations.json')))['database']
    classes = [c.strip() for c in open(osp.join(tiny_data, 'class_map.txt')) if c.strip()]
    val = {v: info for v, info in database.items() if info['subset'] == 'validation'}
    assert set(scores) == set(val) and len(val) == 4
    for vid, info in val.items():
        labels = {a['label'] for a in info['annotations']}
        assert scores[vid] == [float(c in labels) for c in classes]


def test_mean_sd_se():
    m, sd, se = benchmark_dps.mean_sd_se([1.0, 2.0, 3.0, 4.0])
    assert (m, round(sd, 6), round(se, 6)) == (2.5, round(1.2909944, 6), round(1.2909944 / 2, 6))
