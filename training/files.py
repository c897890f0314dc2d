"""The files a training run produces: the same names wherever training ran."""

MODEL_FILE = "model.onnx"
SCHEMA_FILE = "schema.json"
PROFILE_FILE = "profile.json"
HOLDOUT_FILE = "holdout.csv"
MANIFEST_FILE = "manifest.json"
ARTIFACT_FILES = (MODEL_FILE, SCHEMA_FILE, PROFILE_FILE, HOLDOUT_FILE)
VALIDATION_REPORT_FILE = "report.json"  # what a validation (Processing) job writes
