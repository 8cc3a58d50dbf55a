"""Detect actions in one video (or one feature file) with a trained TAD model.

Modelled on mmaction2's ``init_recognizer`` / ``inference_recognizer``
(``mmaction/apis/inference.py``). The windows of the video and their metainfo come from the
config's test dataset (:meth:`TADDataset.video_samples`), the windows run one batch at a time
through the config's test pipeline and the model, and the detections are merged exactly as
``TADMetric`` merges them at test time (the metric built from the config's ``test_evaluator``:
window merging, NMS, class fusion).
"""
import copy
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from mmengine.runner.checkpoint import _load_checkpoint_to_model

from mmtad_ext.engine.block_drop.checkpoint import student_config
from mmtad_ext.registry import DATASETS, METRICS, MODELS
from mmtad_ext.utils import check_checkpoint_matches, read_checkpoint


def _test_dataset_cfg(cfg: Config) -> dict:
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if not loader or 'dataset' not in loader:
        raise ValueError('the config has no test_dataloader.dataset: inference takes the '
                         'windowing and pipeline of the test dataset')
    return copy.deepcopy(loader['dataset'])


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
    from mmtad_ext.datasets.tad_dataset import load_annotation_json
    return list(dataset._classes(load_annotation_json(dataset.ann_file)))


def init_detector(config: Union[str, Path, Config],
                  checkpoint: Optional[str] = None,
                  device: Union[str, torch.device] = 'cpu',
                  cfg_options: Optional[dict] = None,
                  classes: Optional[Sequence[str]] = None) -> nn.Module:
    """Build a TAD model from a config and load its checkpoint (strictly).

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
        RuntimeError: The checkpoint cannot be read or does not match the model (the message
            names the file and the missing/unexpected keys).
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
                       prefetch: bool = True) -> dict:
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

    Returns:
        dict: ``video_name``, ``duration`` (s), ``num_windows`` and ``detections``: a list of
        ``{'label': str, 'score': float, 'segment': [start_s, end_s]}`` by descending score,
        exactly the entries ``TADMetric`` writes to its submission for this video.
    """
    cfg = model.cfg
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
    samples = dataset.video_samples(video, duration=duration)
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
                num_windows=len(samples), detections=submission['results'].get(vid, []))
