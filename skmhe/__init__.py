"""skmhe: scikit-learn compatible Multi-Head Encoding for extreme label classification."""

from ._classifier import MHEClassifier
from .codec import LabelCodec

__version__ = "0.1.0"

__all__ = ["LabelCodec", "MHEClassifier", "__version__"]
