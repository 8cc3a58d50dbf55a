"""Teacher-student wrapper for block drop: a trainable student, a frozen teacher, one KD loss.

*Temporal Action Detection Model Compression by Progressive Block Drop* (arXiv 2503.16916),
sec. 3.3: the student (the model with blocks dropped, LoRA in its encoder) learns from the
ground truth and from the uncompressed teacher (same batch, eval mode, no gradient) through
:class:`~mmtad_ext.models.losses.CrossDepthDistillLoss`.
"""
import contextlib
import copy
from typing import Dict, Iterator, List, Optional, Union

import torch
from mmaction.models.recognizers import BaseRecognizer
from mmengine.model import BaseModel
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
from torch import Tensor, nn

from mmtad_ext.registry import MODELS

from ..backbones.videomae_encoder import VideoMAEEncoder
from .block_drop_checkpoint import restore_structure


@contextlib.contextmanager
def _record_inputs(encoder: nn.Module) -> Iterator[List[Tensor]]:
    """Within the context, collect the (detached) clip batch of every encoder call."""
    calls: List[Tensor] = []
    handle = encoder.register_forward_pre_hook(lambda m, args: calls.append(args[0].detach()))
    try:
        yield calls
    finally:
        handle.remove()


def _teacher_order(student_calls: List[Tensor],
                   teacher_calls: List[Tensor]) -> Optional[Tensor]:
    """Row order that puts the teacher's encoder outputs in the student's clip order.

    An ``EGSBackboneWrapper`` in training encodes the unsampled snippets first and the sampled
    ones after (in eval mode: in order), so the student's and the teacher's encoder calls see the
    same clips in different orders. Rows are matched by a random projection of each clip
    (identical clips give identical keys, and then identical teacher outputs). Returns None when
    the orders already agree.
    """
    s, t = torch.cat(student_calls), torch.cat(teacher_calls)
    if s.shape != t.shape:
        raise RuntimeError(f'BlockDropDistiller: the student encoded {tuple(s.shape)} clips but '
                           f'the teacher {tuple(t.shape)}')
    if torch.equal(s, t):
        return None
    g = torch.Generator().manual_seed(0)
    proj = torch.randn(s[0].numel(), generator=g, dtype=torch.float64).to(s.device)
    s_key = s.flatten(1).double() @ proj  # (M, )
    t_key = t.flatten(1).double() @ proj
    s_sort, t_sort = torch.argsort(s_key), torch.argsort(t_key)
    if not torch.equal(s_key[s_sort], t_key[t_sort]):
        raise RuntimeError('BlockDropDistiller: the teacher\'s encoder did not see the '
                           'student\'s clips; cannot align block outputs')
    order = torch.empty_like(s_sort)
    order[s_sort] = t_sort  # student row r <- teacher row order[r]
    return order


@MODELS.register_module()
class BlockDropDistiller(BaseModel):
    """A student model distilled from a frozen teacher of the same architecture.

    Training loss = the student's own losses + ``distill_loss`` between the student's and the
    teacher's block outputs (by original index), class logits and (detectors) segments.
    ``predict`` and ``tensor`` modes run the student only. The teacher never trains: its
    parameters do not require grad, it stays in eval mode, and :class:`BlockDropHook` builds
    the optimizer from the student's trainable parameters only. It is part of the state dict
    (a resumed run needs it; ``tools/export_block_drop.py`` strips it).

    Models supported (their outputs for the loss):

    - any model with ``distill_forward(inputs, data_samples) -> dict(losses, cls_logits, ...)``
      (ActionFormer: also ``segments``, ``valid``, ``positive``, see
      :class:`CrossDepthDistillLoss`);
    - an mmaction2 recognizer (``Recognizer3D``): ``cls_head(extract_feat(...))`` logits and
      ``cls_head.loss_by_feat`` losses.

    Args:
        student (dict): Config of the model to compress.
        teacher (dict, optional): Config of the teacher. Defaults to None: ``student``'s.
        distill_loss (dict): Config of the KD loss. Defaults to
            ``dict(type='CrossDepthDistillLoss')``.
        encoder_path (str): Dotted attribute path from the model to its
            :class:`VideoMAEEncoder` (``'backbone'`` for a recognizer, ``'backbone.backbone'``
            for ActionFormer's ``EGSBackboneWrapper``). Defaults to ``'backbone'``.
        student_ckpt (str, optional): Checkpoint of the plain (trained, uncompressed) model
            loaded strictly into the student by ``init_weights`` instead of the student's own
            initialisation. Defaults to None.
        teacher_ckpt (str, optional): Checkpoint of the plain model loaded (strictly) into the
            teacher by ``init_weights``. Defaults to None: the teacher copies the student's
            weights after they are initialised (the uncompressed model). ``load_from`` or
            ``--resume`` with a distiller checkpoint then overwrite both.
        data_preprocessor (dict, optional): Defaults to None: the student's.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 student: dict,
                 teacher: Optional[dict] = None,
                 distill_loss: dict = dict(type='CrossDepthDistillLoss'),
                 encoder_path: str = 'backbone',
                 student_ckpt: Optional[str] = None,
                 teacher_ckpt: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self._student_cfg = copy.deepcopy(student)
        self._own_preprocessor = data_preprocessor is not None
        self.student = MODELS.build(student)
        self.teacher = MODELS.build(copy.deepcopy(student) if teacher is None else teacher)
        self.distill_loss = MODELS.build(distill_loss)
        self.encoder_path = encoder_path
        self.student_ckpt = student_ckpt
        self.teacher_ckpt = teacher_ckpt
        if data_preprocessor is not None:
            self.data_preprocessor = MODELS.build(data_preprocessor)
        else:
            self.data_preprocessor = self.student.data_preprocessor
        for model, name in ((self.student, 'student'), (self.teacher, 'teacher')):
            enc = self._locate(model)
            if not isinstance(enc, VideoMAEEncoder):
                raise TypeError(f'BlockDropDistiller: {name}.{encoder_path} must be a '
                                f'VideoMAEEncoder, got {type(enc).__name__}; set encoder_path')
        self.teacher.requires_grad_(False)
        self.teacher.eval()

    # -- structure ------------------------------------------------------------------------------
    def _locate(self, model: nn.Module) -> nn.Module:
        try:
            return model.get_submodule(self.encoder_path)
        except AttributeError as exc:
            raise AttributeError(f'BlockDropDistiller: encoder_path {self.encoder_path!r} does '
                                 f'not name a submodule of {type(model).__name__}') from exc

    @property
    def student_encoder(self) -> VideoMAEEncoder:
        """The student's VideoMAE encoder (blocks are dropped and LoRA injected here)."""
        return self._locate(self.student)

    @property
    def teacher_encoder(self) -> VideoMAEEncoder:
        return self._locate(self.teacher)

    def train(self, mode: bool = True) -> 'BlockDropDistiller':
        super().train(mode)
        self.teacher.eval()  # dropout and stochastic depth off, always
        return self

    def init_weights(self) -> None:
        """Initialise (or load) the student, then the teacher (checkpoint or student copy)."""
        if self.student_ckpt is None:
            self.student.init_weights()
        else:  # every weight comes from the checkpoint (its init_cfg, e.g. pretrained, is moot)
            _load_checkpoint_to_model(self.student, _load_checkpoint(self.student_ckpt, 'cpu'),
                                      strict=True)
        if self.teacher_ckpt is not None:
            _load_checkpoint_to_model(self.teacher, _load_checkpoint(self.teacher_ckpt, 'cpu'),
                                      strict=True)
        else:
            self.sync_teacher()

    def sync_teacher(self, source: Optional[nn.Module] = None) -> None:
        """Copy the student's weights (and dropped blocks) into the teacher.

        The initial uncompressed model, or ``dynamic_teacher`` (the previous stage's model).
        Call it when the student holds no LoRA adapters (merged).

        Args:
            source (nn.Module, optional): A model of the student's structure to copy instead
                (the averaged student of an EMA run). Defaults to None: the student.
        """
        # a full-depth teacher removes the student's dropped blocks (``kept_blocks``)
        source = self.student if source is None else source
        self.teacher.load_state_dict(source.state_dict(), strict=True)
        self.teacher.requires_grad_(False)

    def restore_checkpoint_structure(self, checkpoint: dict) -> None:
        """Remove the blocks a block-drop checkpoint's student (and teacher) dropped and inject
        the LoRA adapters of an unfinished stage, so that its keys match strictly (see
        :func:`mmtad_ext.utils.check_checkpoint_matches`)."""
        restore_structure(self, checkpoint, check=False)

    def load_student(self, state_dict: Dict[str, Tensor]) -> None:
        """Replace the student by a fresh build loaded (strictly) with ``state_dict``.

        Gives back blocks a student has dropped since: a state dict with ``kept_blocks``
        shortens the fresh full-depth encoder to exactly its blocks (block drop's "keep the last
        good stage").
        """
        device = next(self.student.parameters()).device
        student = MODELS.build(copy.deepcopy(self._student_cfg))
        student.load_state_dict(state_dict, strict=True)
        self.student = student.to(device).train(self.training)
        if not self._own_preprocessor:
            self.data_preprocessor = self.student.data_preprocessor

    # -- forward --------------------------------------------------------------------------------
    @staticmethod
    def distill_outputs(model: nn.Module, inputs: Tensor, data_samples) -> Dict:
        """``dict(losses, cls_logits, [segments, valid, positive])`` of one model."""
        if callable(getattr(model, 'distill_forward', None)):
            return model.distill_forward(inputs, data_samples)
        if isinstance(model, BaseRecognizer):
            feats, kwargs = model.extract_feat(inputs, data_samples=data_samples)
            logits = model.cls_head(feats, **kwargs)  # (B * num_clips, K) or (B, K)
            return dict(losses=model.cls_head.loss_by_feat(logits, data_samples),
                        cls_logits=logits)
        raise TypeError(f'BlockDropDistiller: {type(model).__name__} has no '
                        'distill_forward(inputs, data_samples) and is not an mmaction2 '
                        'recognizer')

    def student_losses(self, inputs: Tensor, data_samples) -> Dict[str, Tensor]:
        """The student's own (ground-truth) losses; the ``loss`` criterion of block selection."""
        return self.distill_outputs(self.student, inputs, data_samples)['losses']

    def loss(self, inputs: Tensor, data_samples) -> Dict[str, Tensor]:
        """Student losses + ``loss_feat_kd`` / ``loss_cls_kd`` / ``loss_reg_kd``."""
        s_enc, t_enc = self.student_encoder, self.teacher_encoder
        # exit the capture before backward (activation checkpointing would append again)
        with s_enc.capture_block_outputs() as s_cap, _record_inputs(s_enc) as s_in:
            s_out = self.distill_outputs(self.student, inputs, data_samples)
        with torch.no_grad(), t_enc.capture_block_outputs() as t_cap, \
                _record_inputs(t_enc) as t_in:
            t_out = self.distill_outputs(self.teacher, inputs, data_samples)
        s_feats = {i: s_cap.cat(i) for i in s_cap}
        order = _teacher_order(s_in, t_in)
        t_feats = {i: t_cap.cat(i) if order is None else t_cap.cat(i)[order] for i in t_cap}
        kd = self.distill_loss(
            s_feats, t_feats, s_out.get('cls_logits'), t_out.get('cls_logits'),
            valid=s_out.get('valid'), student_segments=s_out.get('segments'),
            teacher_segments=t_out.get('segments'), positive=s_out.get('positive'))
        losses = dict(s_out['losses'])
        losses.update(kd)
        return losses

    def predict(self, inputs: Tensor, data_samples) -> List:
        return self.student(inputs, data_samples, mode='predict')

    def _forward(self, inputs: Tensor, data_samples=None, **kwargs):
        return self.student(inputs, data_samples, mode='tensor', **kwargs)

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List] = None,
                mode: str = 'tensor',
                **kwargs) -> Union[Dict[str, Tensor], List, Tensor]:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples, **kwargs)
        raise RuntimeError(f'BlockDropDistiller: invalid mode {mode!r}; use loss, predict or '
                           'tensor')
