"""One validation of the annotation file, through TADDataset and through the Python API."""
import json
import math

import numpy as np
import pytest

from mmtad_ext.datasets import AnnotationError, TADDataset, load_annotations


def _db():
    return {
        'v1': dict(subset='training', duration=20.0, fps=25.0, annotations=[
            dict(label='jump', segment=[2.0, 6.0]), dict(label='run', segment=[10.0, 19.0])]),
        'v2': dict(subset='training', duration=10.0, annotations=[
            dict(label='run', segment=[1.0, 3.0])]),
    }


def _write(tmp_path, db):
    """The file as Python's json writes it: NaN / Infinity / -Infinity as bare words."""
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(dict(database=db)))
    fdir = tmp_path / 'feat'
    fdir.mkdir(exist_ok=True)
    for vid in db:
        np.save(fdir / f'{vid}.npy', np.ones((8, 4), np.float32))
    return str(path), str(fdir)


def _set(db, field, value):
    if field == 'duration':
        db['v2']['duration'] = value
    elif field == 'fps':
        db['v2']['fps'] = value
    elif field == 'start':
        db['v2']['annotations'][0]['segment'][0] = value
    else:
        db['v2']['annotations'][0]['segment'][1] = value
    return db


NON_FINITE = [math.nan, math.inf, -math.inf]
FIELDS = {'duration': r'"duration"', 'fps': r'"fps"', 'start': r'annotations\[0\]\.segment',
          'end': r'annotations\[0\]\.segment'}


@pytest.mark.parametrize('value', NON_FINITE, ids=['nan', 'inf', '-inf'])
@pytest.mark.parametrize('field', list(FIELDS))
def test_non_finite_numbers_name_video_field_and_file(tmp_path, field, value):
    ann, fdir = _write(tmp_path, _set(_db(), field, value))
    assert ('NaN' in open(ann).read()) == (value != value)  # really written as JSON NaN
    with pytest.raises(AnnotationError, match=rf"video 'v2' in {ann}: {FIELDS[field]}.*"
                       r'(nan|inf)'):
        TADDataset(ann, data_prefix=dict(feature=fdir), pipeline=[])


@pytest.mark.parametrize('field,value,match', [
    ('duration', -5.0, r'"duration" \(seconds\) must be a finite positive number, got -5.0'),
    ('duration', 0, 'finite positive number, got 0'),
    ('duration', True, 'finite positive number, got True'),
    ('fps', -25.0, r'"fps" must be a finite positive number'),
    ('start', 4.0, r'segment \[4.0, 3.0\] is empty or reversed'),
    ('end', 1.0, r'segment \[1.0, 1.0\] is empty or reversed'),
    ('end', 30.0, 'outside the video'),
    ('start', '1', 'must be two numbers'),
])
def test_bad_numbers(tmp_path, field, value, match):
    ann, fdir = _write(tmp_path, _set(_db(), field, value))
    with pytest.raises(AnnotationError, match=rf"video 'v2' in {ann}: .*{match}"):
        TADDataset(ann, data_prefix=dict(feature=fdir), pipeline=[])


@pytest.mark.parametrize('label,match', [('swim', r"label 'swim' is not in the class map"),
                                         (None, 'label must be a non-empty string, got None'),
                                         (3, 'label must be a non-empty string, got 3')])
def test_unknown_or_malformed_labels(tmp_path, label, match):
    db = _db()
    db['v2']['annotations'][0]['label'] = label
    ann, fdir = _write(tmp_path, db)
    with pytest.raises(AnnotationError, match=rf"video 'v2' in {ann}: annotations\[0\]\.{match}"):
        TADDataset(ann, data_prefix=dict(feature=fdir), class_map=['jump', 'run'], pipeline=[])
    if label is not None and not isinstance(label, str):  # without a class map: still checked
        with pytest.raises(AnnotationError, match='non-empty string'):
            TADDataset(ann, data_prefix=dict(feature=fdir), pipeline=[])


def test_entry_that_is_not_a_mapping(tmp_path):
    db = _db()
    db['v2'] = [1, 2]
    ann, fdir = _write(tmp_path, db)
    with pytest.raises(AnnotationError, match="video 'v2'.*must be a mapping"):
        TADDataset(ann, data_prefix=dict(feature=fdir), class_map=['jump', 'run'], pipeline=[])


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_valid_file_is_clipped_and_shared_with_load_annotations(tmp_path):
    db = _db()
    db['v1']['annotations'][1]['segment'] = [10.0, 20.5]  # within the 1 s tolerance: clipped
    ann, fdir = _write(tmp_path, db)
    ds = TADDataset(ann, data_prefix=dict(feature=fdir), pipeline=[])
    checked = load_annotations(ann, classes=['jump', 'run'])
    assert checked['v1']['annotations'][1]['segment'] == [10.0, 20.0]
    assert ds.metainfo['ground_truth']['v1']['annotations'] == checked['v1']['annotations']
    with pytest.raises(AnnotationError, match="'run' is not in the class map"):
        load_annotations(ann, classes=['jump'])
    assert list(load_annotations(ann, videos=['v2', 'absent'])) == ['v2']
