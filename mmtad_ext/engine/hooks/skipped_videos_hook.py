"""List the videos a training run skipped because they cannot be read (``skip_invalid=True``)."""
import json
import os.path as osp
from typing import Dict, Optional, Sequence

from mmengine.dist import all_gather_object, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmtad_ext.registry import HOOKS

WARNING = 30
SHOWN = 20  # videos named in a log line (all of them go to the JSON file)


@HOOKS.register_module()
class SkippedVideosHook(Hook):
    """Collect the videos skipped by ``TADDataset(skip_invalid=True)`` and list them at WARNING
    level at the end of every epoch that found new ones and at the end of the run.

    A video can be skipped at indexing (its file is missing or its header unreadable: the
    dataset's ``skipped_videos`` after it is built) or at read time, in a DataLoader worker (a
    header that reads, frames that do not decode: the sample is replaced and its
    ``unreadable_videos`` metainfo names the video). Worker processes share no state with the
    runner, so the hook reads the names from the batches; under distributed training the ranks'
    lists are gathered. ``skipped`` holds ``{video: where}`` (``'indexing'`` or
    ``'epoch N'``, the first epoch it failed in); it is saved in checkpoints, so a resumed run
    still lists what was skipped before, and written to ``<work_dir>/skipped_videos.json``
    when not empty. Nothing is logged when nothing was skipped. The default runtime
    (``configs/_base_/default_runtime.py``) registers it in ``default_hooks``.
    """

    priority = 'LOW'

    def __init__(self, filename: Optional[str] = 'skipped_videos.json'):
        self.filename = filename
        self.skipped: Dict[str, str] = {}
        self._epoch_new = []

    def before_train(self, runner) -> None:
        dataset = getattr(runner.train_dataloader, 'dataset', None)
        for vid in getattr(dataset, 'skipped_videos', {}) or {}:
            self.skipped.setdefault(vid, 'indexing')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        samples = data_batch.get('data_samples') if isinstance(data_batch, dict) else None
        for sample in samples or []:
            for vid in getattr(sample, 'metainfo', {}).get('unreadable_videos', ()):
                if vid not in self.skipped and vid not in self._epoch_new:
                    self._epoch_new.append(vid)

    def after_train_epoch(self, runner) -> None:
        new = self._gather(self._epoch_new)
        self._epoch_new = []
        new = [v for v in new if v not in self.skipped]
        epoch = runner.epoch + 1  # counted from 1, as the log does (incremented after this)
        for vid in new:
            self.skipped[vid] = f'epoch {epoch}'
        if new:
            print_log(f'SkippedVideosHook: {len(new)} video(s) could not be decoded in epoch '
                      f'{epoch} and were replaced by other samples (skip_invalid=True): '
                      f'{_names(new)}', logger='current', level=WARNING)

    def after_train(self, runner) -> None:
        if not self.skipped:
            return
        where = ''
        if self.filename and is_main_process():
            path = osp.join(runner.work_dir, self.filename)
            with open(path, 'w') as f:
                json.dump(dict(skipped_videos=self.skipped), f, indent=1)
            where = f'; the list is in {path}'
        print_log(f'SkippedVideosHook: this run skipped {len(self.skipped)} video(s) that cannot '
                  f'be read (skip_invalid=True): {_names(sorted(self.skipped))}{where}',
                  logger='current', level=WARNING)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.skipped:
            checkpoint.setdefault('meta', {})['skipped_videos'] = dict(self.skipped)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        for vid, where in (checkpoint.get('meta') or {}).get('skipped_videos', {}).items():
            self.skipped.setdefault(vid, where)

    @staticmethod
    def _gather(names: Sequence[str]) -> list:
        """The union of ``names`` over the ranks, in rank order."""
        if get_world_size() == 1:
            return list(names)
        out = []
        for part in all_gather_object(list(names)):
            out.extend(v for v in part if v not in out)
        return out


def _names(vids: Sequence[str]) -> str:
    shown = ', '.join(repr(v) for v in vids[:SHOWN])
    return shown + (f' and {len(vids) - SHOWN} more' if len(vids) > SHOWN else '')
