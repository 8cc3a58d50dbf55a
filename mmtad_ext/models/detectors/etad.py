"""ETAD: efficient temporal action detector with detector proposal sampling.

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134); the
inference follows the public code (``sming256/ETAD``, ``lib/core/inferer.py`` and
``lib/dataset/anet_1_3/post_det.py``) unless ``test_cfg`` asks for the paper's text form.
"""
from typing import Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from mmtad_ext.registry import MODELS, TASK_UTILS

from .egs_train_step import EGSTrainStepMixin


@MODELS.register_module()
class ETAD(EGSTrainStepMixin, BaseModel):
    """ETAD detector: [backbone] -> LSTM neck -> boundary head + DPS + cascade proposal head.

    Inputs are snippet features (B, C, T) or, with a ``backbone`` (e.g. ``EGSBackboneWrapper``),
    raw snippets that the backbone turns into (B, C, T) features. Training samples a subset of
    the proposal map with ``proposal_sampler`` (DPS); testing evaluates every valid proposal.

    Inference (``test_cfg``), by default as the public code: every valid proposal goes through
    the cascade; the refined segments and the IoU probabilities of the stages are averaged
    (``stage_fusion='mean'``), the score is ``iou_cls * iou_reg`` (``score='iou'``), and a
    proposal is kept when its refined start (end) snippet passes BMN's boundary selection (a
    local peak of the startness/endness or above ``boundary_threshold`` x its maximum; the first
    start and last end snippets are always on, ``force_edges=True``). The paper's text form is
    ``stage_fusion='last'`` (last stage only) and ``score='boundary_iou'``
    (``p_s * p_e * iou_cls * iou_reg``).

    Predictions are class-agnostic segments in seconds with scores; with a ``cls_head`` the
    sample also carries ``pred_class_scores`` (video-level sigmoid scores). Soft-NMS, merging of
    sliding windows and class fusion happen in ``TADMetric``.

    The loss is eq. (1): snippet startness/endness (``boundary_head``) plus, per cascade stage,
    proposal boundary classification, IoU classification/regression and offset smooth-L1 (see
    ``ETADCascadeHead.loss``), plus the optional video-level classification loss.

    Args:
        neck (dict): Feature enhancement module (``LSTMTemporalAggregation``).
        boundary_head (dict): Boundary evaluation module (``ETADBoundaryHead``).
        proposal_head (dict): Cascade proposal evaluation (``ETADCascadeHead``).
        proposal_sampler (dict): ``ProposalSampler`` (TASK_UTILS); its ``temporal_dim`` must equal
            the number of snippets of the inputs.
        cls_head (dict, optional): Video-level classification head. Defaults to None.
        cls_head_input (str): What the video-level head reads: ``'snippet'`` (default), the
            snippet features (the inputs, or the backbone's output), so its ``in_channels`` is
            the feature width; or ``'neck'``, the enhanced features shared with the boundary
            and proposal heads. The paper takes the classes from a separately trained video
            classifier; on the synthetic benchmark a head on the neck's class-agnostic
            features stays near chance for most classes (video-level AP 0.25-0.6 after 16
            epochs, against 0.9-0.98 on the snippet features; BENCHMARKS.md section 1).
        backbone (dict, optional): Snippet encoder for raw-video input. Defaults to None.
        data_preprocessor (dict, optional): Defaults to ``TADDataPreprocessor``.
        test_cfg (dict, optional): ``max_proposals`` kept per sample before NMS (default 1000),
            ``boundary_threshold`` of the boundary selection relative to the maximum (0.5),
            ``force_edges`` (True), ``stage_fusion`` (``'mean'`` or ``'last'``) and ``score``
            (``'iou'`` or ``'boundary_iou'``); see above.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 neck: dict,
                 boundary_head: dict,
                 proposal_head: dict,
                 proposal_sampler: dict,
                 cls_head: Optional[dict] = None,
                 cls_head_input: str = 'snippet',
                 backbone: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='TADDataPreprocessor')
        if isinstance(data_preprocessor, dict):  # resolve in our scope, not mmengine's root
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone) if backbone is not None else None
        self.neck = MODELS.build(neck)
        self.boundary_head = MODELS.build(boundary_head)
        self.proposal_head = MODELS.build(proposal_head)
        self.cls_head = MODELS.build(cls_head) if cls_head is not None else None
        if cls_head_input not in ('snippet', 'neck'):
            raise ValueError("ETAD cls_head_input must be 'snippet' or 'neck', got "
                             f'{cls_head_input!r}')
        self.cls_head_input = cls_head_input
        self.proposal_sampler = TASK_UTILS.build(proposal_sampler)
        self.temporal_dim = self.proposal_sampler.temporal_dim
        self.test_cfg = self._check_test_cfg(test_cfg or {})

    TEST_CFG = dict(max_proposals=1000, boundary_threshold=0.5, force_edges=True,
                    stage_fusion='mean', score='iou')

    @classmethod
    def _check_test_cfg(cls, test_cfg: dict) -> dict:
        """``TEST_CFG`` updated with ``test_cfg``; unknown keys or values raise."""
        unknown = set(test_cfg) - set(cls.TEST_CFG)
        if unknown:
            raise ValueError(f'ETAD test_cfg: unknown keys {sorted(unknown)}; valid keys are '
                             f'{sorted(cls.TEST_CFG)}')
        cfg = dict(cls.TEST_CFG, **test_cfg)
        if cfg['stage_fusion'] not in ('mean', 'last'):
            raise ValueError("ETAD test_cfg.stage_fusion must be 'mean' (public code) or 'last' "
                             f"(paper text), got {cfg['stage_fusion']!r}")
        if cfg['score'] not in ('iou', 'boundary_iou'):
            raise ValueError("ETAD test_cfg.score must be 'iou' (public code) or 'boundary_iou' "
                             f"(paper text), got {cfg['score']!r}")
        return cfg

    # -- features ---------------------------------------------------------------------------
    def extract_snippet_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Snippet features (B, C, T): the backbone's output, or the inputs themselves."""
        feats = self.backbone(inputs) if self.backbone is not None else inputs
        self.check_snippet_features(feats)
        return feats

    def check_snippet_features(self, feats: torch.Tensor) -> None:
        """Raise unless ``feats`` is (B, C, temporal_dim)."""
        if feats.dim() != 3 or feats.shape[-1] != self.temporal_dim:
            raise ValueError(
                f'ETAD expects snippet features of shape (B, C, {self.temporal_dim}) '
                f'(proposal_sampler.temporal_dim), got {tuple(feats.shape)}; set the dataset\'s '
                'temporal_dim / window_size to the sampler\'s temporal_dim')

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor') -> Union[dict, list, tuple]:
        """mmengine's entry: ``mode`` is ``'loss'``, ``'predict'`` or ``'tensor'``."""
        if mode == 'loss':
            return self.loss_from_features(self.extract_snippet_features(inputs), data_samples)
        if mode == 'predict':
            return self.predict_from_features(self.extract_snippet_features(inputs),
                                              data_samples)
        if mode == 'tensor':
            feats = self.neck(self.extract_snippet_features(inputs))
            return self.boundary_head(feats), feats  # (B, 2, T) boundary logits, (B, C, T)
        raise ValueError(f'Invalid mode {mode!r}: use "loss", "predict" or "tensor"')

    # -- training ---------------------------------------------------------------------------
    def loss_from_features(self, snippet_feats: torch.Tensor, data_samples: list) -> dict:
        """Loss of eq. (1) from snippet features (B, C, T).

        This is the detector half of the interface used by encoder gradient sampling: the
        two-phase EGS step calls it with detached features that require grad.
        """
        gt_segments = [ds.gt_instances.segments for ds in data_samples]
        feats = self.neck(snippet_feats)  # (B, C, T)
        targets = self.boundary_head.targets(gt_segments, feats.shape[-1]).to(feats)  # (B, 2, T)
        losses = self.boundary_head.loss(self.boundary_head(feats), gt_segments, targets)
        proposals = torch.stack([
            self._normalise(self.proposal_sampler.sample(training=True))
            for _ in range(feats.shape[0])
        ]).to(feats)  # (B, P, 2)
        losses.update(self.proposal_head.loss(self.proposal_head(feats, proposals), gt_segments,
                                              targets))
        if self.cls_head is not None:
            losses.update(self.cls_head.loss(self._video_logits(snippet_feats, feats),
                                             [ds.gt_instances.labels for ds in data_samples]))
        return losses

    def _video_logits(self, snippet_feats: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Video-level class logits from the input chosen by ``cls_head_input``."""
        return self.cls_head(snippet_feats if self.cls_head_input == 'snippet' else feats)

    def _normalise(self, pairs: torch.Tensor) -> torch.Tensor:
        """Inclusive snippet index pairs (N, 2) -> normalised segments [s/T, (e+1)/T]."""
        return torch.stack([pairs[:, 0], pairs[:, 1] + 1], dim=1).float() / self.temporal_dim

    # -- inference --------------------------------------------------------------------------
    def _select_boundaries(self, probs: torch.Tensor, first: bool, last: bool) -> torch.Tensor:
        """BMN's boundary selection of (T,) probabilities -> (T,) bool.

        A snippet is on when it is above ``boundary_threshold * max`` or a local peak (the
        sequence is padded with zeros, so the ends can be peaks); with ``force_edges`` the
        first (``first=True``) or last (``last=True``) snippet is always on.
        """
        padded = F.pad(probs, (1, 1))  # (T + 2,)
        peak = (probs > padded[:-2]) & (probs > padded[2:])
        keep = peak | (probs > self.test_cfg['boundary_threshold'] * probs.max())
        if self.test_cfg['force_edges'] and first:
            keep[0] = True
        if self.test_cfg['force_edges'] and last:
            keep[-1] = True
        return keep

    @torch.no_grad()
    def predict_from_features(self, snippet_feats: torch.Tensor, data_samples: list) -> list:
        """Class-agnostic detections for every sample, in seconds (see class docstring)."""
        feats = self.neck(snippet_feats)
        probs = self.boundary_head(feats).sigmoid()  # (B, 2, T) startness / endness
        cls_scores = (self._video_logits(snippet_feats, feats).sigmoid()
                      if self.cls_head is not None else None)
        t = feats.shape[-1]
        pairs = self.proposal_sampler.sample(training=False).to(feats.device)  # (N, 2)
        props = self._normalise(pairs).to(feats)[None]  # (1, N, 2)
        for i, ds in enumerate(data_samples):  # one sample at a time bounds the RoI memory
            outs = self.proposal_head(feats[i:i + 1], props, with_boundary=False)
            if self.test_cfg['stage_fusion'] == 'mean':
                segs = torch.stack([o['refined'][0] for o in outs]).mean(0)  # (N, 2)
                ious = torch.stack([o['iou_logits'][0].sigmoid() for o in outs]).mean(0)
            else:
                segs, ious = outs[-1]['refined'][0], outs[-1]['iou_logits'][0].sigmoid()
            idx = (segs * t).floor().long().clamp(0, t - 1)  # (N, 2) start/end snippets
            keep = (self._select_boundaries(probs[i, 0], first=True, last=False)[idx[:, 0]] &
                    self._select_boundaries(probs[i, 1], first=False, last=True)[idx[:, 1]])
            if not bool(keep.any()):  # degenerate boundary maps: keep every proposal
                keep = torch.ones_like(keep)
            score = ious[:, 0] * ious[:, 1]  # (N,)
            if self.test_cfg['score'] == 'boundary_iou':
                score = score * probs[i, 0, idx[:, 0]] * probs[i, 1, idx[:, 1]]
            seg, score = segs[keep], score[keep]
            order = score.argsort(descending=True)[:self.test_cfg['max_proposals']]
            meta = ds.metainfo
            offset = float(meta.get('window_start', 0.0))
            span = float(meta['window_duration'])
            pred = InstanceData()
            pred.segments = (seg[order] * span + offset).cpu()
            pred.scores = score[order].cpu()
            ds.pred_instances = pred
            if cls_scores is not None:
                ds.pred_class_scores = cls_scores[i].cpu()
        return data_samples

    # -- sampler state (resume draws the same proposals) ------------------------------------
    # The generator state is a uint8 tensor, so it travels in the state_dict (and survives
    # mmengine's broadcast of the state_dict in distributed runs).
    def get_extra_state(self) -> torch.Tensor:
        return self.proposal_sampler.generator.get_state()

    def set_extra_state(self, state: torch.Tensor) -> None:
        self.proposal_sampler.generator.set_state(state.cpu())
