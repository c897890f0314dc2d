"""The feature policy a person writes once in the config, checked on every data file's contract.

Forbidden columns (a leak of the label, data the model must not use) never become features;
required columns must be there as features. A contract that breaks the policy is rejected like
any other invalid data: the file is quarantined with a report naming the columns.
"""

from __future__ import annotations

from mlops_template.training.config import FeaturePolicy
from mlops_template.training.schema import DatasetSchema


def feature_policy_problems(schema: DatasetSchema, policy: FeaturePolicy) -> str | None:
    """One line naming every breach of the policy, or None."""
    features = set(schema.feature_names)
    problems = []
    forbidden = [c for c in policy.forbidden if c in features]
    if forbidden:
        problems.append(
            f"forbidden column(s) used as features: {', '.join(forbidden)} "
            "(config features.forbidden): drop them from the data or the schema"
        )
    missing = [c for c in policy.required if c not in features]
    if missing:
        problems.append(
            f"required feature column(s) missing: {', '.join(missing)} (config features.required)"
        )
    return "; ".join(problems) or None
