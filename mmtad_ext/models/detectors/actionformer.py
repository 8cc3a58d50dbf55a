"""ActionFormer: one-stage anchor-free temporal action detector.

*ActionFormer: Localizing Moments of Actions with Transformers* (arXiv 2202.07925). The model
follows OpenTAD's ``ActionFormer`` (``detectors/actionformer.py`` with ``Conv1DTransformerProj``,
``FPNIdentity`` and ``ActionFormerHead``); inference follows the original
``inference_single_video`` (per-level score threshold and top-k) and hands class-aware
candidates to ``TADMetric`` (window merging, per-class Soft-NMS, optional voting).
"""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import Tensor

from mmtad_ext.registry import MODELS

from .egs_train_step import EGSTrainStepMixin


@MODELS.register_module()
class ActionFormer(EGSTrainStepMixin, BaseModel):
    """[backbone] -> projection (feature pyramid) -> neck -> anchor-free head.

    Inputs are snippet features (B, C, T) or, with a ``backbone`` (e.g. an
    ``EGSBackboneWrapper`` around a ``VideoMAEEncoder``), raw snippets it turns into (B, C, T).

    Padding: the features are zero-padded to a multiple of the largest stride and masked; a
    sample's valid length is its metainfo ``valid_length`` (sliding windows past the end of a
    video) or T. (OpenTAD pads to ``max_seq_len``; padded positions are masked everywhere, so
    the outputs on valid positions do not depend on the amount of padding.)

    Units: point ``t`` is the centre of input snippet ``t``; a ground-truth segment normalised to
    the sample's span, ``g``, is ``g * T - 0.5`` on that grid, and a prediction ``p`` is
    ``window_start + (p + 0.5) * window_duration / T`` seconds.

    Args:
        projection (dict): ``ActionFormerProjection``.
        neck (dict): ``FPNIdentity``.
        head (dict): ``ActionFormerHead``.
        backbone (dict, optional): Snippet encoder for raw video. Defaults to None.
        data_preprocessor (dict, optional): Defaults to ``TADDataPreprocessor``.
        test_cfg (dict, optional): ``score_thr`` (1e-3), ``pre_nms_topk`` per level (2000),
            ``min_duration`` in snippets (0.05), ``class_agnostic`` (False: every candidate
            carries its class; True, with ``head.num_classes=1``: proposals without labels,
            which ``TADMetric`` fuses with video-level class scores such as ActivityNet's
            external classifier).
        init_cfg (dict, optional): Defaults to None.
    """

    TEST_CFG = dict(score_thr=1e-3, pre_nms_topk=2000, min_duration=0.05, class_agnostic=False)

    def __init__(self,
                 projection: dict,
                 neck: dict,
                 head: dict,
                 backbone: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='TADDataPreprocessor')
        if isinstance(data_preprocessor, dict):  # resolve in our scope, not mmengine's root
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone) if backbone is not None else None
        self.projection = MODELS.build(projection)
        self.neck = MODELS.build(neck)
        self.head = MODELS.build(head)
        if self.projection.num_levels != len(self.head.strides):
            raise ValueError(f'ActionFormer: the projection makes {self.projection.num_levels} '
                             f'levels but head.strides has {len(self.head.strides)}')
        self.pad_divisor = max(self.head.strides)
        unknown = set(test_cfg or {}) - set(self.TEST_CFG)
        if unknown:
            raise ValueError(f'ActionFormer test_cfg: unknown keys {sorted(unknown)}; valid keys '
                             f'are {sorted(self.TEST_CFG)}')
        self.test_cfg = dict(self.TEST_CFG, **(test_cfg or {}))
        if self.test_cfg['class_agnostic'] and self.head.num_classes != 1:
            raise ValueError('ActionFormer test_cfg.class_agnostic=True needs head.num_classes=1 '
                             f'(got {self.head.num_classes})')

    # -- features -----------------------------------------------------------------------------
    def extract_snippet_features(self, inputs: Tensor) -> Tensor:
        """Snippet features (B, C, T): the backbone's output, or the inputs themselves."""
        feats = self.backbone(inputs) if self.backbone is not None else inputs
        self.check_snippet_features(feats)
        return feats

    @staticmethod
    def check_snippet_features(feats: Tensor) -> None:
        if feats.dim() != 3:
            raise ValueError(f'ActionFormer expects snippet features (B, C, T), got '
                             f'{tuple(feats.shape)}')

    def _masks(self, feats: Tensor, data_samples: Optional[list]) -> Tensor:
        """(B, T) valid positions from each sample's ``valid_length`` (default T).

        ``valid_length`` counts positions of the dataset's grid (``temporal_dim``); features of
        another length (an encoder's tokens per snippet) scale it: ``ceil(valid_length * T /
        temporal_dim)``."""
        b, _, t = feats.shape
        lengths = torch.full((b, 1), t, dtype=torch.long)
        for i, ds in enumerate(data_samples or []):
            valid = int(ds.metainfo.get('valid_length', t))
            grid = int(ds.metainfo.get('temporal_dim') or t)
            if grid != t:
                valid = -(-valid * t // grid)
            lengths[i] = min(valid, t)
        return torch.arange(t)[None] < lengths  # (B, T)

    def pyramid(self, feats: Tensor,
                data_samples: Optional[list]) -> Tuple[List[Tensor], List[Tensor]]:
        """Padded, masked features -> per level features (B, C, T_l) and masks (B, T_l)."""
        mask = self._masks(feats, data_samples).to(feats.device)
        pad = -feats.shape[-1] % self.pad_divisor
        if pad:
            feats = F.pad(feats, (0, pad))
            mask = F.pad(mask, (0, pad))
        levels, masks = self.projection(feats, mask)
        return self.neck(levels, masks)

    # -- training -----------------------------------------------------------------------------
    @staticmethod
    def _grid_targets(data_samples: list, length: int) -> Tuple[List[Tensor], List[Tensor]]:
        """Normalised ground truth -> segments on the snippet grid (point t = snippet t)."""
        segs = [ds.gt_instances.segments.float() * length - 0.5 for ds in data_samples]
        labels = [ds.gt_instances.labels for ds in data_samples]
        return segs, labels

    def head_outputs(self, snippet_feats: Tensor, data_samples: list) -> dict:
        """Everything the loss and distillation need from snippet features (B, C, T).

        Returns:
            dict: ``cls_out`` / ``reg_out`` (per level), ``masks`` (per level), ``length`` T.
        """
        feats, masks = self.pyramid(snippet_feats, data_samples)
        cls_out, reg_out = self.head(feats, masks)
        return dict(cls_out=cls_out, reg_out=reg_out, masks=masks,
                    length=snippet_feats.shape[-1])

    def loss_from_features(self, snippet_feats: Tensor, data_samples: list) -> Dict[str, Tensor]:
        """Focal + DIoU losses from snippet features (the two-phase EGS entry)."""
        out = self.head_outputs(snippet_feats, data_samples)
        segs, labels = self._grid_targets(data_samples, out['length'])
        return self.head.loss(out['cls_out'], out['reg_out'], out['masks'],
                              [s.to(snippet_feats.device) for s in segs],
                              [lab.to(snippet_feats.device) for lab in labels])

    def distill_forward(self, inputs: Tensor, data_samples: list) -> dict:
        """One forward for teacher-student training (Progressive Block Drop, arXiv 2503.16916).

        Returns:
            dict: ``losses`` (the detector's own loss dict), ``cls_logits`` (B, P, K) over all
            pyramid points, ``segments`` (B, P, 2) decoded on the snippet grid, ``valid``
            (B, P) bool and ``positive`` (B, P) bool (points with a ground-truth target).
        """
        snippet_feats = self.extract_snippet_features(inputs)
        out = self.head_outputs(snippet_feats, data_samples)
        segs, labels = self._grid_targets(data_samples, out['length'])
        segs = [s.to(snippet_feats.device) for s in segs]
        labels = [lab.to(snippet_feats.device) for lab in labels]
        losses = self.head.loss(out['cls_out'], out['reg_out'], out['masks'], segs, labels)
        points = self.head.points([c.shape[-1] for c in out['cls_out']], snippet_feats.device)
        with torch.no_grad():
            cls_t = torch.stack([self.head.get_targets(points, s, lab)[0]
                                 for s, lab in zip(segs, labels)])  # (B, P, K)
        valid = torch.cat(out['masks'], dim=1)
        dist = torch.cat(out['reg_out'], dim=-1).transpose(1, 2)  # (B, P, 2)
        return dict(losses=losses,
                    cls_logits=torch.cat(out['cls_out'], dim=-1).transpose(1, 2),
                    segments=self.head.decode(points, dist), valid=valid,
                    positive=(cls_t.sum(-1) > 0) & valid)

    # -- mmengine entry -----------------------------------------------------------------------
    def forward(self, inputs: Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor') -> Union[dict, list, tuple]:
        """mmengine's entry: ``mode`` is ``'loss'``, ``'predict'`` or ``'tensor'``."""
        if mode == 'loss':
            return self.loss_from_features(self.extract_snippet_features(inputs), data_samples)
        if mode == 'predict':
            return self.predict_from_features(self.extract_snippet_features(inputs),
                                              data_samples)
        if mode == 'tensor':
            out = self.head_outputs(self.extract_snippet_features(inputs), data_samples)
            return tuple(out['cls_out']), tuple(out['reg_out'])
        raise ValueError(f'Invalid mode {mode!r}: use "loss", "predict" or "tensor"')

    @torch.no_grad()
    def predict_from_features(self, snippet_feats: Tensor, data_samples: list) -> list:
        """Candidate detections of every sample in seconds (``pred_instances``)."""
        out = self.head_outputs(snippet_feats, data_samples)
        t = out['length']
        cfg = self.test_cfg
        for i, ds in enumerate(data_samples):
            seg, score, label = self.head.predict_single(
                out['cls_out'], out['reg_out'], out['masks'], i, score_thr=cfg['score_thr'],
                pre_nms_topk=cfg['pre_nms_topk'], min_duration=cfg['min_duration'])
            meta = ds.metainfo
            offset = float(meta.get('window_start', 0.0))
            span = float(meta['window_duration'])
            pred = InstanceData()
            pred.segments = ((seg + 0.5) * (span / t) + offset).cpu()
            pred.scores = score.cpu()
            if not cfg['class_agnostic']:
                pred.labels = label.cpu()
            ds.pred_instances = pred
        return data_samples
