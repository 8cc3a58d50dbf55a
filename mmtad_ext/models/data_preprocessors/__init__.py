from .tad_data_preprocessor import TADDataPreprocessor

__all__ = ['TADDataPreprocessor']
