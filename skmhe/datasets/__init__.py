"""Data sets for extreme label classification.

- :func:`make_extreme_classification`: synthetic many-class data with planted structure
  (dense Gaussian prototypes, or sparse TF-IDF-like bags of class keywords).
- :func:`make_xmc_multilabel`: synthetic extreme multi-label data with real XMC statistics
  (power-law labels, ~5 labels and ~100 TF-IDF entries a row, labels tied to words by topics).
- :func:`load_digit_pairs`: a real 100-class task from scikit-learn's bundled digits.
- :func:`load_ptb`: Penn Treebank next-word prediction (10,000 classes) from the data home.
- :func:`load_mulan`: Mulan multi-label ARFF data sets (bibtex, delicious, corel5k) or a folder.
- :func:`load_xc_repo`: a file in the Extreme Classification Repository text format.
- :func:`fetch_xc`: a known data set (Mulan's bibtex, delicious, corel5k; PTB; the XC
  repository's archives) downloaded once into the data home, sha256-verified, then loaded.
- :func:`get_data_home`: where the loaders read data sets (``data_home=``, else ``$SKMHE_DATA``,
  else ``~/skmhe_data``); :func:`find_shared_data`: a data set's folder there.

Only NumPy, SciPy and scikit-learn are used here.
"""

from ._digits import load_digit_pairs
from ._fetch import XC_DATASETS, fetch_xc
from ._ptb import load_ptb
from ._data_home import find_shared_data, get_data_home
from ._synthetic import make_extreme_classification
from ._xmc import load_mulan, load_xc_repo
from ._xmc_synthetic import make_xmc_multilabel

__all__ = [
    "XC_DATASETS",
    "fetch_xc",
    "find_shared_data",
    "get_data_home",
    "load_digit_pairs",
    "load_mulan",
    "load_ptb",
    "load_xc_repo",
    "make_extreme_classification",
    "make_xmc_multilabel",
]
