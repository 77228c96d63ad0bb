"""skmhe: scikit-learn compatible Multi-Head Encoding for extreme label classification."""

from ._classifier import MHEClassifier
from ._multilabel import MHEMultiLabelClassifier
from .codec import LabelCodec
from .plotting import plot_learning_curve

__version__ = "0.1.0"

__all__ = [
    "LabelCodec",
    "MHEClassifier",
    "MHEMultiLabelClassifier",
    "__version__",
    "plot_learning_curve",
]
