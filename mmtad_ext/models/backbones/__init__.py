from .a3d_slowfast import A3DSlowFast  # noqa: F401
from .egs_backbone_wrapper import EGSBackboneWrapper  # noqa: F401
from .slimmable_resnet3d import SlimmableResNet3D  # noqa: F401
from .videomae_encoder import VideoMAEEncoder  # noqa: F401
