"""sksparse_nn: scikit-learn estimators that train genuinely sparse neural networks."""

from ._classes import SparseMLPClassifier, SparseMLPRegressor
from ._cv import SparseMLPClassifierCV, SparseMLPRegressorCV
from .inference import CompactMLP
from .schedules import Dynamic, Gradual, Iterative, OneShot, PruneSchedule

__version__ = "0.1.0"

__all__ = [
    "SparseMLPClassifier",
    "SparseMLPRegressor",
    "SparseMLPClassifierCV",
    "SparseMLPRegressorCV",
    "CompactMLP",
    "PruneSchedule",
    "OneShot",
    "Gradual",
    "Iterative",
    "Dynamic",
]

from .feature_selection import InputL1Path, input_l1_path, select_path_step  # noqa: E402

__all__ += ["InputL1Path", "input_l1_path", "select_path_step"]
