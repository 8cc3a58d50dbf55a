from .a3d_recognizer3d import A3DRecognizer3D

__all__ = ['A3DRecognizer3D']
