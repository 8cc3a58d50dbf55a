from .egs_backbone_wrapper import EGSBackboneWrapper  # noqa: F401
