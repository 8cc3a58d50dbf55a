"""Temporal action detection metric: window merging, NMS, class fusion, ActivityNet mAP, and
the ActivityNet proposal metric AR@AN."""
import os.path as osp
from collections import OrderedDict, defaultdict
from typing import Any, List, Optional, Sequence, Union

import mmengine
import numpy as np
import torch
from mmaction.evaluation.functional import average_recall_at_avg_proposals
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from mmtad_ext.registry import METRICS
from ..functional import eval_detection, merge_video_detections
from ..functional.detection_inputs import parse_ground_truth

_THRESHOLDS = dict(activitynet=np.linspace(0.5, 0.95, 10), thumos=[0.3, 0.4, 0.5, 0.6, 0.7])
_METRIC_TYPES = ('mAP', 'AR@AN')
_AR_AT = (1, 5, 10, 100)  # AR@AN points reported, as mmaction2's ANetMetric


def _numpy(x) -> Optional[np.ndarray]:
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


@METRICS.register_module()
class TADMetric(BaseMetric):
    """ActivityNet-style detection mAP (or proposal AR@AN) for temporal action detection.

    ``process`` stores, per data sample, the metainfo ``video_name``, ``duration`` (and
    ``window_start`` if present) and ``pred_instances.segments`` (N, 2) in **seconds**,
    ``pred_instances.scores`` (N,), optionally ``pred_instances.labels`` (N,) (class-aware
    detectors) and ``pred_class_scores`` (K,) as CPU numpy (picklable for distributed
    collection). ``compute_metrics`` merges the windows of every video
    (:func:`merge_video_detections`), builds the ActivityNet submission and evaluates it
    (:func:`eval_detection`) against ``dataset_meta['ground_truth']`` (``{vid: {subset,
    duration, annotations}}``, ignore labels included) with ``dataset_meta['classes']``. GT
    videos without any prediction count (their GT are misses). mAP values are in percent.

    With ``metric_type='AR@AN'`` the metric is the ActivityNet proposal metric instead, computed
    by mmaction2's :func:`average_recall_at_avg_proposals` exactly as its
    ``ANetMetric(metric_type='AR@AN')`` does (100 average proposals per video, recall averaged
    over ``tiou_thresholds``): the class-agnostic proposals of every video (windows merged,
    ``nms_cfg``, ``max_per_video`` kept; ``labels`` and class scores are not used) against the
    GT segments whose label is not in ``ignore_labels``. GT videos without such segments are
    left out; predictions of videos outside the GT do not count. The keys and units are
    mmaction2's: ``auc`` (percent) and ``AR@1``, ``AR@5``, ``AR@10``, ``AR@100`` (fractions).

    Args:
        metric_type (str): ``'mAP'`` (detection mAP) or ``'AR@AN'`` (proposal average recall).
            Defaults to ``'mAP'``.
        tiou_thresholds (str | Sequence[float]): ``'activitynet'`` (0.50:0.05:0.95),
            ``'thumos'`` (0.3:0.1:0.7) or a list; for both metric types. Defaults to
            ``'activitynet'``.
        nms_cfg (dict, optional): See :func:`apply_nms_cfg`. Defaults to Soft-NMS
            ``dict(type='soft', sigma=0.5, iou_threshold=0.0, min_score=1e-3)``.
        max_per_video (int): Proposals kept per video after NMS. Defaults to 100.
        topk_classes (int): Video-level classes fused with each proposal. Defaults to 2.
        class_score_file (str, optional): JSON ``{video_id: [K floats]}`` of an external video
            classifier, in the dataset's class order; overrides ``pred_class_scores``.
            Defaults to None.
        dump (str, optional): Path of the ActivityNet submission JSON to write (with
            ``'AR@AN'``: the proposals, ``{vid: [{score, segment}]}``). Defaults to None.
        format_only (bool): Only write ``dump`` (required), evaluate nothing and return no
            metric, as mmdet's ``CocoMetric(format_only=True)``: for test servers and
            unlabelled videos. A ground truth without any annotation of a class (an unlabelled
            subset) is handled the same way when ``dump`` is set. Defaults to False.
        ignore_labels (Sequence[str]): GT labels that are not classes.
            Defaults to ``('Ambiguous',)``.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str): Metric name prefix. Defaults to ``'tad'``.
    """
    default_prefix = 'tad'

    def __init__(self,
                 metric_type: str = 'mAP',
                 tiou_thresholds: Union[str, Sequence[float]] = 'activitynet',
                 nms_cfg: Optional[dict] = dict(
                     type='soft', sigma=0.5, iou_threshold=0.0, min_score=1e-3),
                 max_per_video: int = 100,
                 topk_classes: int = 2,
                 class_score_file: Optional[str] = None,
                 dump: Optional[str] = None,
                 format_only: bool = False,
                 ignore_labels: Sequence[str] = ('Ambiguous', ),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = 'tad') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if metric_type not in _METRIC_TYPES:
            raise ValueError(f'metric_type must be one of {_METRIC_TYPES}, got {metric_type!r}')
        self.metric_type = metric_type
        if isinstance(tiou_thresholds, str):
            if tiou_thresholds not in _THRESHOLDS:
                raise ValueError(f'tiou_thresholds must be one of {list(_THRESHOLDS)} or a list '
                                 f'of floats, got {tiou_thresholds!r}')
            tiou_thresholds = _THRESHOLDS[tiou_thresholds]
        self.tiou_thresholds = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
        if self.tiou_thresholds.size == 0 or not (
                (self.tiou_thresholds > 0) & (self.tiou_thresholds <= 1)).all():
            raise ValueError(f'tiou_thresholds must be in (0, 1], got {tiou_thresholds!r}')
        if max_per_video <= 0 or topk_classes <= 0:
            raise ValueError(f'max_per_video ({max_per_video}) and topk_classes '
                             f'({topk_classes}) must be positive')
        if class_score_file is not None and not osp.isfile(class_score_file):
            raise FileNotFoundError(f'class_score_file not found: {class_score_file}')
        self.nms_cfg = None if nms_cfg is None else dict(nms_cfg)
        self.max_per_video = max_per_video
        self.topk_classes = topk_classes
        self.class_score_file = class_score_file
        if format_only and not dump:
            raise ValueError('TADMetric: format_only=True writes the submission only, so it '
                             'needs dump=<path.json>')
        self.dump = dump
        self.format_only = format_only
        self.ignore_labels = tuple(ignore_labels)

    def process(self, data_batch: Any, data_samples: Sequence[Union[dict,
                                                                     BaseDataElement]]) -> None:
        """Store the predictions of a batch as CPU numpy arrays.

        Args:
            data_batch (Any): Unused.
            data_samples (Sequence[dict | BaseDataElement]): Model outputs (see class doc).
        """
        for ds in data_samples:
            if isinstance(ds, BaseDataElement):
                ds = ds.to_dict()
            pred = ds.get('pred_instances')
            if pred is None or 'video_name' not in ds or 'duration' not in ds:
                raise ValueError('TADMetric needs data samples with metainfo "video_name", '
                                 f'"duration" and "pred_instances"; got keys {sorted(ds)}')
            if isinstance(pred, BaseDataElement):
                pred = pred.to_dict()
            self.results.append(dict(
                video_name=ds['video_name'], duration=float(ds['duration']),
                window_start=float(ds.get('window_start', 0.0)),
                segments=_numpy(pred['segments']).astype(np.float64).reshape(-1, 2),
                scores=_numpy(pred['scores']).astype(np.float64).reshape(-1),
                labels=_numpy(pred.get('labels')),
                class_scores=_numpy(ds.get('pred_class_scores'))))

    def _external_scores(self, num_classes: int) -> Optional[dict]:
        if self.class_score_file is None:
            return None
        scores = mmengine.load(self.class_score_file)
        bad = [v for v, s in scores.items() if len(s) != num_classes]
        if bad:
            raise ValueError(f'{self.class_score_file}: video {bad[0]!r} has '
                             f'{len(scores[bad[0]])} class scores, expected {num_classes}')
        return scores

    @staticmethod
    def _by_video(results: List[dict]) -> List[tuple]:
        """``[(video_name, windows sorted by start)]`` sorted by name (same order whatever the
        number of ranks)."""
        by_video = defaultdict(list)
        for r in results:
            by_video[r['video_name']].append(r)
        return [(vid, sorted(by_video[vid], key=lambda r: r['window_start']))
                for vid in sorted(by_video)]

    def build_proposals(self, results: List[dict]) -> dict:
        """Class-agnostic proposals of every video: windows merged, NMS, ``max_per_video``.

        Args:
            results (list[dict]): Stored results of :meth:`process`.

        Returns:
            dict: ``{vid: (P, 3) array [start, end, score]}`` (seconds), by descending score.
        """
        proposals = {}
        for vid, samples in self._by_video(results):
            agnostic = [dict(s, labels=None, class_scores=None) for s in samples]
            det = merge_video_detections(agnostic, 1, self.nms_cfg, self.max_per_video,
                                         topk_classes=1, class_scores=[1.0],
                                         duration=samples[0]['duration'])
            proposals[vid] = np.concatenate([det['segments'], det['scores'][:, None]], axis=1)
        return proposals

    def build_submission(self, results: List[dict]) -> dict:
        """Merge the stored windows of every video into an ActivityNet submission dict.

        Args:
            results (list[dict]): Stored results of :meth:`process`.

        Returns:
            dict: ``{"version", "results": {vid: [{label, score, segment}]}, "external_data"}``.
        """
        classes = list(self.dataset_meta['classes'])
        external = self._external_scores(len(classes))
        submission, empty = {}, 0
        for vid, samples in self._by_video(results):
            ext = None
            if external is not None:
                if vid not in external:
                    raise ValueError(f'{self.class_score_file}: no class scores for video '
                                     f'{vid!r}')
                ext = external[vid]
            det = merge_video_detections(samples, len(classes), self.nms_cfg,
                                         self.max_per_video, self.topk_classes, ext,
                                         duration=samples[0]['duration'])
            empty += det['num_empty']
            submission[vid] = [
                dict(label=classes[lab], score=float(s), segment=[float(a), float(b)])
                for (a, b), s, lab in zip(det['segments'], det['scores'], det['labels'])]
        if empty:
            print_log(f'TADMetric: dropped {empty} empty segment(s) after clipping to the video',
                      logger='current')
        return dict(version='VERSION 1.3', results=submission, external_data={})

    def compute_metrics(self, results: List[dict]) -> dict:
        """Evaluate the collected results.

        Args:
            results (list[dict]): Stored results of all ranks.

        Returns:
            dict: ``mAP@<t>`` for every threshold and ``average_mAP``, in percent; with
            ``metric_type='AR@AN'``, ``auc`` and ``AR@1/5/10/100`` (see the class doc).
        """
        meta = self.dataset_meta or {}
        if 'ground_truth' not in meta or 'classes' not in meta:
            raise ValueError('TADMetric needs dataset_meta with "classes" and "ground_truth" '
                             '({vid: {subset, duration, annotations}}), as TADDataset provides')
        labelled = any(a['label'] not in self.ignore_labels
                       for v in meta['ground_truth'].values() for a in v.get('annotations', []))
        skip = self.format_only or (not labelled and self.dump)
        if self.metric_type == 'AR@AN' and not skip:
            return self._average_recall(results, meta['ground_truth'])
        submission = self.build_submission(results) if self.metric_type == 'mAP' else None
        if self.dump:
            mmengine.mkdir_or_exist(osp.dirname(osp.abspath(self.dump)))
            mmengine.dump(submission or self._proposal_submission(results), self.dump)
            print_log(f'TADMetric: submission written to {self.dump}', logger='current')
        if skip:
            print_log('TADMetric: evaluation skipped (' + (
                'format_only' if self.format_only else 'the ground truth has no annotation of '
                'any class: an unlabelled subset') + '); only the submission was written',
                logger='current')
            return OrderedDict()
        ev = eval_detection(meta['ground_truth'], submission, self.tiou_thresholds,
                            ignore_labels=self.ignore_labels, classes=meta['classes'])
        self._log_table(ev)
        out = OrderedDict((f'mAP@{t:g}', float(m) * 100)
                          for t, m in zip(self.tiou_thresholds, ev['mAP']))
        out['average_mAP'] = ev['average_mAP'] * 100
        return out

    def _average_recall(self, results: List[dict], ground_truth: dict) -> dict:
        """AR@AN and AUC of the class-agnostic proposals (mmaction2's functional)."""
        proposals = self.build_proposals(results)
        if self.dump:
            mmengine.mkdir_or_exist(osp.dirname(osp.abspath(self.dump)))
            mmengine.dump(self._proposal_submission(results, proposals), self.dump)
            print_log(f'TADMetric: proposals written to {self.dump}', logger='current')
        gt = parse_ground_truth(ground_truth, self.ignore_labels, classes=None)
        names = list(gt['videos'])
        gt_by_video = {}
        for v in np.unique(gt['vid']):  # (G, 3) [start, end, class] per video, as mmaction2
            mask = gt['vid'] == v
            gt_by_video[names[v]] = np.concatenate([gt['seg'][mask], gt['cls'][mask, None]], 1)
        if len(gt_by_video) < len(names):
            print_log(f'TADMetric AR@AN: {len(names) - len(gt_by_video)} GT video(s) without '
                      f'segments (labels other than {list(self.ignore_labels)}) left out',
                      logger='current')
        if not gt_by_video:
            raise ValueError('TADMetric AR@AN: the ground truth has no segment to recall')
        # every GT video needs an entry; videos without predictions have no proposal
        video_props = {v: proposals.get(v, np.zeros((0, 3))) for v in gt_by_video}
        total = sum(len(p) for p in video_props.values())
        out = OrderedDict(auc=0.0, **{f'AR@{k}': 0.0 for k in _AR_AT})
        if total == 0:
            print_log('TADMetric AR@AN: no proposal for any GT video', logger='current')
            return out
        recall, _, _, auc = average_recall_at_avg_proposals(
            gt_by_video, video_props, total, max_avg_proposals=100,
            temporal_iou_thresholds=self.tiou_thresholds)  # recall: (thresholds, 100)
        out['auc'] = float(auc)
        for k in _AR_AT:
            out[f'AR@{k}'] = float(np.mean(recall[:, k - 1]))
        print_log('TADMetric AR@AN: ' + ', '.join(f'{k} {v:.4f}' for k, v in out.items()),
                  logger='current')
        return out

    def _proposal_submission(self, results: List[dict], proposals: dict = None) -> dict:
        """The class-agnostic proposals as a submission: ``{vid: [{score, segment}]}``."""
        proposals = self.build_proposals(results) if proposals is None else proposals
        return dict(version='VERSION 1.3', external_data={}, results={
            vid: [dict(score=float(s), segment=[float(a), float(b)]) for a, b, s in p]
            for vid, p in proposals.items()})

    def _log_table(self, ev: dict) -> None:
        header = ['class'] + [f'AP@{t:g}' for t in ev['tiou_thresholds']] + ['avg']
        rows = [[name] + [f'{v * 100:.2f}' for v in ap] + [f'{ap.mean() * 100:.2f}']
                for name, ap in ev['per_class'].items()]
        rows.append(['mAP'] + [f'{v * 100:.2f}' for v in ev['mAP']] +
                    [f'{ev["average_mAP"] * 100:.2f}'])
        try:
            from terminaltables import AsciiTable
            table = AsciiTable([header] + rows).table
        except ImportError:
            table = '\n'.join(' | '.join(r) for r in [header] + rows)
        print_log('\n' + table, logger='current')
