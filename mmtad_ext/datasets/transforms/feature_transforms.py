"""Transforms of the snippet-feature TAD pipeline (registered in mmaction2's TRANSFORMS tree)."""
import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData

from mmaction.structures import ActionDataSample
from mmtad_ext.registry import TRANSFORMS

from ..feature_io import load_feature_file


@TRANSFORMS.register_module()
class LoadTADFeatures(BaseTransform):
    """Load ``results['feature_path']`` into ``results['feat']`` as a (C, T) float32 array.

    Args:
        in_channels (int, optional): Expected feature dimension C; a file with another C raises
            an error naming the video and file. Defaults to None (not checked).
    """

    def __init__(self, in_channels=None):
        self.in_channels = in_channels

    def transform(self, results: dict) -> dict:
        vid, path = results.get('video_name'), results['feature_path']
        try:
            feat = load_feature_file(path)  # (T, C)
        except (OSError, ValueError) as e:
            raise type(e)(f'video {vid!r}: {e}') from e
        if self.in_channels is not None and feat.shape[1] != self.in_channels:
            raise ValueError(f'video {vid!r}: feature file {path} has {feat.shape[1]} channels, '
                             f'the config expects in_channels={self.in_channels}')
        expected = results.get('num_snippets')
        if expected is not None and feat.shape[0] != expected:
            raise ValueError(f'video {vid!r}: feature file {path} has {feat.shape[0]} snippets '
                             f'but the dataset indexed {expected}; was the file changed?')
        results['feat'] = feat.T  # (C, T)
        return results


@TRANSFORMS.register_module()
class ResizeTADFeatures(BaseTransform):
    """Linearly interpolate (C, T) features to (C, temporal_dim) (ActivityNet regime).

    Args:
        temporal_dim (int): Output length. Defaults to 128.
    """

    def __init__(self, temporal_dim: int = 128):
        if temporal_dim < 1:
            raise ValueError(f'temporal_dim must be >= 1, got {temporal_dim}')
        self.temporal_dim = temporal_dim

    def transform(self, results: dict) -> dict:
        feat = torch.from_numpy(results['feat'])[None]  # (1, C, T)
        feat = F.interpolate(feat, size=self.temporal_dim, mode='linear', align_corners=False)
        results['feat'] = feat[0].numpy()
        return results


@TRANSFORMS.register_module()
class SlidingWindowTADFeatures(BaseTransform):
    """Crop the window ``[window_start_snippet, + window_size)``, zero-padding a short video.

    Snippets from the sample's ``valid_length`` on are zero as well (a window cut shorter than
    the rest of the video by ``RandomTruncTAD``, as OpenTAD's ``RandomTrunc`` pads).

    Args:
        window_size (int): Window length in snippets. Defaults to 128.
    """

    def __init__(self, window_size: int = 128):
        self.window_size = window_size

    def transform(self, results: dict) -> dict:
        feat = results['feat']
        start = int(results.get('window_start_snippet', 0))
        crop = feat[:, start:start + self.window_size]
        valid = results.get('valid_length')
        if valid is not None and valid < crop.shape[1]:
            crop = crop[:, :valid]
        if crop.shape[1] < self.window_size:
            crop = np.pad(crop, ((0, 0), (0, self.window_size - crop.shape[1])))
        results['feat'] = np.ascontiguousarray(crop)
        return results


@TRANSFORMS.register_module()
class PackTADInputs(BaseTransform):
    """Pack ``results`` into ``dict(inputs, data_samples)`` for TAD models.

    ``inputs`` is ``results[input_key]`` as a tensor; the ``ActionDataSample`` carries
    ``gt_instances`` (``segments`` normalised to the sample's span, ``labels``) and the meta keys.

    Args:
        input_key (str): ``'feat'`` (features) or ``'imgs'`` (raw snippets). Defaults to
            ``'feat'``.
        meta_keys (tuple[str]): Keys copied into the metainfo.
    """

    def __init__(self,
                 input_key: str = 'feat',
                 meta_keys=('video_name', 'duration', 'window_start', 'window_duration',
                            'temporal_dim', 'fps', 'valid_length')):
        self.input_key = input_key
        self.meta_keys = meta_keys

    def transform(self, results: dict) -> dict:
        if self.input_key not in results:
            raise KeyError(f'PackTADInputs: {self.input_key!r} not in results; the pipeline must '
                           'load it first')
        sample = ActionDataSample()
        gt = InstanceData()
        gt.segments = torch.as_tensor(results['gt_segments'], dtype=torch.float32).reshape(-1, 2)
        gt.labels = torch.as_tensor(results['gt_labels'], dtype=torch.long).reshape(-1)
        sample.gt_instances = gt
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=torch.as_tensor(np.ascontiguousarray(results[self.input_key])),
                    data_samples=sample)
