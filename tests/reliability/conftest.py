import pytest


@pytest.fixture
def records(typed_frame, schema):
    return typed_frame[schema.feature_names].head(10).to_dict(orient="records")


from tests.contract.conftest import registry  # noqa: E402,F401 - the adapters, parametrised
