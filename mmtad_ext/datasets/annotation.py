"""Reading and validating ActivityNet-format annotation files (one set of checks for all users).

``TADDataset`` (training, testing), :func:`mmtad_ext.apis.init_detector` (class names) and
``tools/infer.py`` (``--ann-file``: durations and the ground truth of the plots) read an
annotation file through these functions, so a file accepted by one is accepted by all.

Python's ``json`` reads ``NaN``, ``Infinity`` and ``-Infinity``; every number is therefore
checked with :func:`math.isfinite` before any range check (``NaN < x`` is False, so a range
check alone would let NaN through).
"""
import json
import math
import os.path as osp
from numbers import Real
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from mmtad_ext.utils.errors import UserError

SUBSET_ALIASES = {'train': 'training', 'val': 'validation', 'test': 'testing'}


class AnnotationError(UserError, ValueError):
    """An annotation file is not valid JSON or holds a malformed video entry."""


def _is_number(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


def check_positive_seconds(value: Any, what: str) -> float:
    """``value`` as a float if it is a finite number > 0, else an :class:`AnnotationError`.

    Args:
        value: A duration, fps...
        what (str): What the value is, for the message (``'video "x" in a.json: "duration"'``).

    Returns:
        float: The value.
    """
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise AnnotationError(f'{what} must be a finite positive number, got {value!r}')
    return float(value)


def load_annotation_json(ann_file: str) -> dict:
    """Read an ActivityNet-format annotation file and return its ``database`` dict (unchecked;
    :func:`check_video_annotation` checks one entry).

    Raises:
        FileNotFoundError: The file does not exist.
        AnnotationError: The file is not JSON or has no ``database`` mapping.
    """
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file not found: {ann_file}')
    try:
        with open(ann_file) as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AnnotationError(f'annotation file {ann_file} is not valid JSON: {e}') from e
    database = data.get('database') if isinstance(data, dict) else None
    if not isinstance(database, dict):
        raise AnnotationError(f'annotation file {ann_file} has no "database" mapping (expected '
                              'ActivityNet format {"database": {video_id: {...}}})')
    return database


def _entries(vid: str, info: Any, ann_file: str) -> list:
    where = f'video {vid!r} in {ann_file}'
    if not isinstance(info, dict):
        raise AnnotationError(f'{where}: the entry must be a mapping with "duration" and '
                              f'"annotations", got {type(info).__name__}')
    anns = info.get('annotations', [])
    if not isinstance(anns, list) or not all(isinstance(a, dict) for a in anns):
        raise AnnotationError(f'{where}: "annotations" must be a list of '
                              '{"segment": [start, end], "label": name}')
    return anns


def video_subset(vid: str, info: Any, ann_file: str) -> Optional[str]:
    """The subset of one entry, aliases normalised (``train`` -> ``training``).

    Raises:
        AnnotationError: The entry is not a mapping.
    """
    _entries(vid, info, ann_file)
    subset = info.get('subset')
    return SUBSET_ALIASES.get(subset, subset)


def annotation_labels(database: dict, ann_file: str,
                      ignore_labels: Sequence[str] = ()) -> List[str]:
    """The sorted action labels of every video of ``database``, without ``ignore_labels``.

    Raises:
        AnnotationError: An entry is not a mapping or a label is not a non-empty string.
    """
    labels = set()
    for vid, info in database.items():
        for k, ann in enumerate(_entries(vid, info, ann_file)):
            label = ann.get('label')
            if not isinstance(label, str) or not label:
                raise AnnotationError(f'video {vid!r} in {ann_file}: annotations[{k}].label must '
                                      f'be a non-empty string, got {label!r}')
            labels.add(label)
    return sorted(labels - set(ignore_labels))


def check_video_annotation(vid: str,
                           info: Any,
                           ann_file: str,
                           classes: Optional[Sequence[str]] = None,
                           ignore_labels: Sequence[str] = (),
                           tolerance: float = 1.0) -> dict:
    """Check one video's entry; return it with segments clipped to ``[0, duration]``.

    Checks: ``duration`` (and ``fps`` if given) finite and positive; every segment two finite
    numbers, ``start < end``, inside ``[-tolerance, duration + tolerance]`` (smaller
    overshoots are clipped); every label a string in ``classes`` or ``ignore_labels``.

    Args:
        vid (str): Video id (the key in ``database``).
        info (dict): Its entry.
        ann_file (str): The file, for the messages.
        classes (Sequence[str], optional): Known classes. Defaults to None: any label.
        ignore_labels (Sequence[str]): Labels that are never a class (e.g. ``'Ambiguous'``).
            Defaults to ().
        tolerance (float): Seconds a segment may extend past the video. Defaults to 1.0.

    Returns:
        dict: The entry with ``duration`` (float), ``annotations`` (clipped, ``label`` and
        ``segment`` only) and ``subset`` (aliases normalised: ``train`` -> ``training``).

    Raises:
        AnnotationError: Naming the video, the field and the file.
    """
    where = f'video {vid!r} in {ann_file}'
    anns = _entries(vid, info, ann_file)
    duration = check_positive_seconds(info.get('duration'), f'{where}: "duration" (seconds)')
    if info.get('fps') is not None:
        check_positive_seconds(info['fps'], f'{where}: "fps"')
    annotations = []
    for k, ann in enumerate(anns):
        field = f'{where}: annotations[{k}].segment'
        seg, label = ann.get('segment'), ann.get('label')
        if (not isinstance(seg, (list, tuple)) or len(seg) != 2
                or not all(_is_number(x) for x in seg)):
            raise AnnotationError(f'{field} must be two numbers [start, end] in seconds, got '
                                  f'{seg!r}')
        start, end = float(seg[0]), float(seg[1])
        if not (math.isfinite(start) and math.isfinite(end)):
            raise AnnotationError(f'{field} must be finite seconds, got {seg!r}')
        if not start < end:
            raise AnnotationError(f'{field} [{start}, {end}] is empty or reversed (start must be '
                                  'before end)')
        if start < -tolerance or end > duration + tolerance:
            raise AnnotationError(
                f'{field} [{start}, {end}] lies outside the video [0, {duration}] by more than '
                f'{tolerance} s; fix the annotation or raise annotation_tolerance')
        if not isinstance(label, str) or not label:
            raise AnnotationError(f'{where}: annotations[{k}].label must be a non-empty string, '
                                  f'got {label!r}')
        if classes is not None and label not in classes and label not in ignore_labels:
            raise AnnotationError(f'{where}: annotations[{k}].label {label!r} is not in the '
                                  'class map and not in ignore_labels')
        annotations.append(dict(label=label, segment=[max(start, 0.0), min(end, duration)]))
    return dict(info, duration=duration, annotations=annotations,
                subset=video_subset(vid, info, ann_file))


def load_annotations(ann_file: str,
                     classes: Optional[Sequence[str]] = None,
                     ignore_labels: Sequence[str] = (),
                     tolerance: float = 1.0,
                     videos: Optional[Iterable[str]] = None) -> Dict[str, dict]:
    """Read ``ann_file`` and check every video (or only ``videos``) with
    :func:`check_video_annotation`.

    Returns:
        dict: ``{video_id: checked entry}``.
    """
    database = load_annotation_json(ann_file)
    vids = sorted(database) if videos is None else [v for v in videos if v in database]
    return {
        v: check_video_annotation(v, database[v], ann_file, classes, ignore_labels, tolerance)
        for v in vids
    }


def load_name_list(value: Union[None, str, Sequence[str]], what: str) -> Optional[List[str]]:
    """A list given inline, or read from a .json list or a text file with one name per line."""
    if value is None or isinstance(value, (list, tuple)):
        return None if value is None else list(value)
    if not osp.isfile(value):
        raise FileNotFoundError(f'{what} file not found: {value}')
    with open(value) as f:
        if value.endswith('.json'):
            names = json.load(f)
            if not isinstance(names, list):
                raise ValueError(f'{what} file {value} must hold a JSON list of names')
            return [str(n) for n in names]
        return [ln.strip() for ln in f if ln.strip()]
