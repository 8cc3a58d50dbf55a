"""tools/analysis_tools/benchmark_dps.py: the oracle class scores of its mAP part."""
import json
import os.path as osp

from mmengine.config import Config


def test_oracle_class_scores_mark_the_annotated_classes(load_tool, tiny_data, tiny_config,
                                                        tmp_path):
    cfg = Config.fromfile(tiny_config())
    tool = load_tool('analysis_tools/benchmark_dps')
    out = tool.oracle_class_scores(cfg, str(tmp_path / 'oracle.json'))
    scores = json.load(open(out))
    database = json.load(open(osp.join(tiny_data, 'annotations.json')))['database']
    classes = [c.strip() for c in open(osp.join(tiny_data, 'class_map.txt')) if c.strip()]
    val = {v: info for v, info in database.items() if info['subset'] == 'validation'}
    assert set(scores) == set(val) and len(val) == 4
    for vid, info in val.items():
        labels = {a['label'] for a in info['annotations']}
        assert scores[vid] == [float(c in labels) for c in classes]

