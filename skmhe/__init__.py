"""skmhe: scikit-learn compatible Multi-Head Encoding for extreme label classification."""

from .codec import LabelCodec

__version__ = "0.1.0"

__all__ = ["LabelCodec", "__version__"]
