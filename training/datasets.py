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


DEMAND_TARGET = "demand"


def daily_demand_frame(days: int = 730, seed: int = 0, start: str = "2022-01-01") -> pd.DataFrame:
    """Generated daily sales with a known calendar signal: a `date` column (ISO 8601), a
    `price`, and `demand` = 100 + 30 sin(2 pi day_of_year / 365.25) (the season) + 12 on
    weekends - 4 x price + noise (sd 3). A model sees the season only through the date's
    calendar features."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    price = rng.uniform(1, 5, days).round(2)
    season = 30 * np.sin(2 * np.pi * dates.day_of_year.to_numpy() / 365.25)
    weekend = 12 * (dates.day_of_week.to_numpy() >= 5)
    demand = 100 + season + weekend - 4 * price + rng.normal(0, 3, days)
    return pd.DataFrame(
        {"date": dates.strftime("%Y-%m-%d"), "price": price, DEMAND_TARGET: demand.round(2)}
    )
