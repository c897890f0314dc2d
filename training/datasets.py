"""Sample data: tables that ship with scikit-learn (breast cancer, diabetes), as a user's CSV
would look."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

TARGET = "diagnosis"


def breast_cancer_frame() -> pd.DataFrame:
    """569 rows, 30 numeric features, and a `diagnosis` column of 'malignant' or 'benign'."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.copy()
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame[TARGET] = bunch.target.map(dict(enumerate(bunch.target_names)))
    return frame


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


REGRESSION_TARGET = "progression"


def diabetes_frame() -> pd.DataFrame:
    """442 rows, 10 numeric features in their own units (age, sex, bmi, blood pressure, six
    blood serum measurements) and `progression`, a measure of the disease a year later."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    return frame.rename(columns={"target": REGRESSION_TARGET})
