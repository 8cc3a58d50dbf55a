"""Detect actions in one video (or one feature file) with a trained TAD model.

Modelled on mmaction2's ``init_recognizer`` / ``inference_recognizer``
(``mmaction/apis/inference.py``). The windows of the video and their metainfo come from the
config's test dataset (:meth:`TADDataset.video_samples`), the windows run one batch at a time
through the config's test pipeline and the model, and the detections are merged exactly as
``TADMetric`` merges them at test time (the metric built from the config's ``test_evaluator``:
window merging, NMS, class fusion).
"""
import copy
import math
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from mmengine.runner.checkpoint import _load_checkpoint_to_model

from mmtad_ext.datasets.annotation import (annotation_labels, check_positive_seconds,
                                           load_annotations)
from mmtad_ext.engine.block_drop.checkpoint import student_config
from mmtad_ext.registry import DATASETS, METRICS, MODELS
from mmtad_ext.utils import ConfigError, check_checkpoint_matches, read_checkpoint

# a resize-regime input whose snippets are longer than this many seconds gets a notice: the
# whole video becomes temporal_dim snippets, too coarse for short actions
LONG_SNIPPET_S = 5.0
SLIDING_EXAMPLE = 'configs/_base_/datasets/thumos14/video.py'


def _config_name(cfg: Config) -> str:
    return cfg.filename or 'the config'



def _test_dataset_cfg(cfg: Config) -> dict:
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if not loader or 'dataset' not in loader:
        raise ConfigError(f'{_config_name(cfg)} has no test_dataloader.dataset: inference takes '
                          'the windowing and pipeline of the test dataset')
    return copy.deepcopy(loader['dataset'])


def check_detection_config(cfg: Config) -> None:
    """Raise a :class:`ConfigError` unless the test dataset is a ``TADDataset`` (a temporal
    action detection config)."""
    from mmtad_ext.datasets import TADDataset
    ds_type = _test_dataset_cfg(cfg).get('type')
    cls = ds_type if isinstance(ds_type, type) else DATASETS.get(ds_type)
    if cls is None or not issubclass(cls, TADDataset):
        raise ConfigError(
            f'{_config_name(cfg)} is not a temporal action detection config: its test dataset '
            f'is {getattr(ds_type, "__name__", ds_type)!r}, not a TADDataset (a recognition '
            'config?). Detection needs a TAD config, e.g. configs/etad/ or configs/actionformer/; '
            "for clip classification use mmaction2's mmaction.apis.init_recognizer / "
            'inference_recognizer (demo/demo.py) with this config')


def _tad_metric_cfg(cfg: Config) -> dict:
    """The ``TADMetric`` entry of ``test_evaluator`` (its post-processing settings)."""
    evaluators = cfg.get('test_evaluator') or cfg.get('val_evaluator')
    for ev in evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]:
        if isinstance(ev, dict) and ev.get('type', '').split('.')[-1] == 'TADMetric':
            return dict(copy.deepcopy(ev), dump=None)
    raise ValueError('the config has no TADMetric in test_evaluator: inference applies its '
                     'post-processing (nms_cfg, max_per_video, topk_classes)')


def _class_names(cfg: Config, checkpoint_meta: Optional[dict]) -> List[str]:
    """Class names: the checkpoint's ``dataset_meta`` if saved, else the config's dataset."""
    meta = (checkpoint_meta or {}).get('dataset_meta') or {}
    if meta.get('classes'):
        return list(meta['classes'])
    ds_cfg = _test_dataset_cfg(cfg)
    dataset = DATASETS.build(dict(ds_cfg, lazy_init=True, pipeline=[]))
    if ds_cfg.get('class_map') is not None:
        return list(dataset._classes({}))
    # the labels of the whole file, each video checked as the dataset checks it
    database = load_annotations(dataset.ann_file, ignore_labels=dataset.ignore_labels,
                                tolerance=dataset.annotation_tolerance)
    return annotation_labels(database, dataset.ann_file, dataset.ignore_labels)


def init_detector(config: Union[str, Path, Config],
                  checkpoint: Optional[str] = None,
                  device: Union[str, torch.device] = 'cpu',
                  cfg_options: Optional[dict] = None,
                  classes: Optional[Sequence[str]] = None) -> nn.Module:
    """Build the model of a config and load its checkpoint (strictly).

    A TAD config gives a detector for :func:`inference_detector`; a recognition config (e.g. an
    A3D or a block-drop classifier run) gives its recognizer with the checkpoint's structure
    restored (inference on it is mmaction2's ``inference_recognizer``).

    Args:
        config (str | Path | Config): Config file or object.
        checkpoint (str, optional): Checkpoint file; None keeps the random initialisation.
            A training run's own checkpoints load with the structure the run saved (a
            block-drop run's epoch checkpoints with their dropped blocks and LoRA, its
            ``block_drop_stage{t}.pth`` as the student alone, an A3D run's BN bank).
            Defaults to None.
        device (str | torch.device): Defaults to ``'cpu'``.
        cfg_options (dict, optional): Overrides merged into the config. Defaults to None.
        classes (Sequence[str], optional): Class names in label order. Defaults to None: the
            checkpoint's ``dataset_meta`` (saved by training), else the config's test dataset
            (``class_map``, else the labels of its annotation file).

    Returns:
        nn.Module: The model in eval mode, with ``model.cfg`` (the config) and
        ``model.dataset_meta`` (``classes``).

    Raises:
        CheckpointError: The checkpoint cannot be read or does not match the model (the message
            names the file and the missing/unexpected keys).
        AnnotationError: The class names come from the test dataset's annotation file and a
            video in it is malformed (NaN / Inf, reversed segment...).
    """
    import mmtad_ext  # noqa: F401  (registers modules; mmtad_ext:: configs)
    if isinstance(config, (str, Path)):
        config = Config.fromfile(str(config))
    elif not isinstance(config, Config):
        raise TypeError(f'config must be a file name or a Config, got {type(config)}')
    if cfg_options:
        config.merge_from_dict(cfg_options)
    init_default_scope(config.get('default_scope', 'mmtad_ext'))
    ckpt = None
    if checkpoint is not None:
        ckpt = read_checkpoint(checkpoint)
        # a block-drop stage file holds the student alone: build (and run) the student
        config = student_config(config, ckpt)
    model = MODELS.build(config.model)
    meta = None
    if ckpt is not None:  # the structure the run saved (dropped blocks, BN bank), then strict
        check_checkpoint_matches(model, ckpt, checkpoint)
        _load_checkpoint_to_model(model, ckpt, strict=True)
        meta = ckpt.get('meta')
    model.cfg = config
    if classes is None:
        try:
            classes = _class_names(config, meta)
        except (OSError, ValueError) as e:
            raise type(e)(f'{e}; the class names come from the checkpoint (saved by training) '
                          'or the config\'s test dataset: pass classes=[...]') from e
    model.dataset_meta = dict(classes=tuple(classes))
    model.to(device)
    model.eval()
    return model


def inference_detector(model: nn.Module,
                       video: str,
                       duration: Optional[float] = None,
                       batch_size: Optional[int] = None,
                       progress: bool = False,
                       class_scores: Optional[Sequence[float]] = None,
                       prefetch: bool = True,
                       fps: Optional[float] = None) -> dict:
    """Detect the actions of one video (raw video or snippet-feature file).

    The input type follows the config's test dataset (``modality='video'``: a video file
    decoded by the test pipeline, window by window; ``'feature'``: a ``.npy``/``.pt``/``.csv``
    feature file). Only ``batch_size`` windows are in memory at a time.

    Args:
        model (nn.Module): From :func:`init_detector`.
        video (str): Video or feature file; its name without extension is the video id.
        duration (float, optional): Seconds; defaults to the file's (see
            :meth:`TADDataset.video_samples`; needed for features in the resize regime).
        batch_size (int, optional): Windows per forward pass. Defaults to the config's
            ``test_dataloader.batch_size``.
        progress (bool): Show a progress bar over the windows. Defaults to False.
        class_scores (Sequence[float], optional): External video-level class scores (K,) for
            class-agnostic detectors, like ``TADMetric``'s ``class_score_file``. Defaults to
            None (the model's ``pred_class_scores``, or the config's ``class_score_file``).
        prefetch (bool): Prepare the next batch of windows in a second thread while the model
            runs. Defaults to True.
        fps (float, optional): The video's frame rate, for feature files of a config that
            places snippets by frame (``snippet_stride`` / ``offset_frames``, e.g. THUMOS14
            I3D). Defaults to None.

    Returns:
        dict: ``video_name``, ``duration`` (s), ``num_windows``, ``detections``: a list of
        ``{'label': str, 'score': float, 'segment': [start_s, end_s]}`` by descending score,
        exactly the entries ``TADMetric`` writes to its submission for this video, and
        ``warnings`` (also logged at WARNING level): a video shorter than one snippet, or,
        in the resize regime, a video whose snippets are longer than ``LONG_SNIPPET_S``
        (5 s) with the sliding-window settings to use instead.
    """
    cfg = model.cfg
    check_detection_config(cfg)
    init_default_scope(cfg.get('default_scope', 'mmtad_ext'))
    ds_cfg = _test_dataset_cfg(cfg)
    # lazy: no annotation file is read; only the windowing settings and the pipeline are used
    dataset = DATASETS.build(dict(ds_cfg, lazy_init=True, test_mode=True))
    modality = getattr(dataset, 'modality', 'feature')
    ext = osp.splitext(video)[1].lower()
    from mmtad_ext.datasets.feature_io import FEATURE_EXTS
    if (modality == 'video') == (ext in FEATURE_EXTS):
        want = 'a video file' if modality == 'video' else f'a feature file ({FEATURE_EXTS})'
        raise ValueError(f'{video}: the config {osp.basename(cfg.filename or "")!r} reads '
                         f'{modality}s, give it {want}')
    if duration is not None:
        duration = check_positive_seconds(duration, f'{video}: duration')
    samples = dataset.video_samples(video, duration=duration, fps=fps)
    notes = _input_notes(dataset, samples, cfg)
    for note in notes:
        print_log(note, logger='current', level=30)
    batch_size = int(batch_size or (cfg.get('test_dataloader') or {}).get('batch_size', 1))

    metric_cfg = _tad_metric_cfg(cfg)
    if class_scores is not None:
        metric_cfg['class_score_file'] = None
    metric = METRICS.build(metric_cfg)
    metric.dataset_meta = dict(model.dataset_meta)

    # one decord reader for all the windows of the video (no re-open, no seek back to a
    # keyframe per window); ``load`` runs in one thread at a time (the prefetch thread, or
    # this one without prefetch), so the reader is never used by two threads at once
    from mmtad_ext.datasets.transforms import DecodeTADSnippets
    decoders = [t for t in getattr(dataset.pipeline, 'transforms', [])
                if isinstance(t, DecodeTADSnippets)]
    shared = dict(video_reader=decoders[0].open_reader(samples[0])) if decoders else {}

    def load(i: int) -> list:  # decode / load and transform the windows of one batch
        return [dataset.pipeline(dict(copy.deepcopy(s), **shared))
                for s in samples[i:i + batch_size]]

    bar = ProgressBar(len(samples)) if progress else None
    starts = list(range(0, len(samples), batch_size))
    # one thread prepares the next batch while the model runs (decord and torch release the
    # GIL): at most two batches of windows are in memory, whatever the video's length
    with ThreadPoolExecutor(max_workers=1) as pool, torch.no_grad():
        pending = pool.submit(load, 0) if prefetch else None
        for k, i in enumerate(starts):
            data = pending.result() if prefetch else load(i)
            if prefetch and k + 1 < len(starts):
                pending = pool.submit(load, starts[k + 1])
            outputs = model.test_step(pseudo_collate(data))
            metric.process(None, outputs)
            del data, outputs
            if bar is not None:
                for _ in range(min(batch_size, len(samples) - i)):
                    bar.update()
    shared.clear()  # close the reader
    if class_scores is not None:
        for r in metric.results:
            r['class_scores'] = torch.as_tensor(class_scores).double().numpy()
    vid = samples[0]['video_name']
    submission = metric.build_submission(metric.results)
    return dict(video_name=vid, duration=float(samples[0]['duration']),
                num_windows=len(samples), detections=submission['results'].get(vid, []),
                warnings=notes)


def _input_notes(dataset, samples: List[dict], cfg: Config) -> List[str]:
    """Warnings about an input the model sees badly: a video shorter than one snippet (its
    snippets repeat frames), a feature file of one snippet, a long video squeezed into
    ``temporal_dim`` snippets by the resize regime."""
    first, notes = samples[0], []
    vid, path = first['video_name'], first['feature_path']
    snippet_frames = dataset._snippet_frames()
    if 'total_frames' in first and first['total_frames'] < snippet_frames:
        notes.append(
            f'{vid}: {path} has {first["total_frames"]} frame(s), fewer than one snippet '
            f'({snippet_frames} frames): every snippet repeats the same frames, so the '
            'detections say little about the video')
    elif 'total_frames' not in first and first.get('num_snippets', 2) < 2:
        notes.append(f'{vid}: {path} holds a single snippet: the detections say little about '
                     'the video')
    if dataset.regime == 'resize':
        per_snippet = first['duration'] / dataset.temporal_dim
        if math.isfinite(per_snippet) and per_snippet > LONG_SNIPPET_S:
            stride = snippet_frames if 'total_frames' in first else None
            keys = ('test_dataloader.dataset.regime=sliding '
                    + (f'test_dataloader.dataset.snippet_stride={stride} ' if stride else
                       'test_dataloader.dataset.snippet_duration=<seconds per feature> ')
                    + f'test_dataloader.dataset.window_stride={max(dataset.temporal_dim // 2, 1)}')
            notes.append(
                f'{vid}: {first["duration"]:.1f} s resized to {dataset.temporal_dim} snippets of '
                f'{per_snippet:.1f} s each (resize regime of {osp.basename(_config_name(cfg))}): '
                'actions shorter than a few snippets cannot be found. For long videos use the '
                f'sliding-window regime: a model trained with regime=\'sliding\' (as in '
                f'{SLIDING_EXAMPLE}), or try --cfg-options {keys}')
    return notes
