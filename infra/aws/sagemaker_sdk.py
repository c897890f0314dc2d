"""The TrainingLauncher port through the SageMaker Python SDK (`pip install '.[sagemaker]'`):
how `mlops train --on sagemaker` starts the same script-mode training from a laptop or CI."""

from __future__ import annotations

import os

from mlops_template.core.records import TrainingJob
from mlops_template.infra.aws.sagemaker import ENTRY_POINT, TrainingJobSpec, describe_job, job_name


class SdkTrainingLauncher:
    def __init__(self, spec: TrainingJobSpec) -> None:
        os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
        try:
            import boto3
            from sagemaker.session import Session
        except ImportError as exc:
            raise RuntimeError(
                "the SageMaker SDK is not installed: pip install '.[sagemaker]'"
            ) from exc
        self.spec = spec
        self.session = Session(boto_session=boto3.Session())

    def start(
        self, *, model: str, run_id: str, dataset_uri: str, schema_uri: str, config_json: str
    ) -> TrainingJob:
        from sagemaker.estimator import Estimator
        from sagemaker.inputs import TrainingInput

        spec = self.spec
        estimator = Estimator(
            image_uri=spec.image_uri,
            role=spec.role_arn,
            instance_count=1,
            instance_type=spec.instance_type,
            output_path=spec.output_path(model),
            hyperparameters={"config": config_json},
            container_entry_point=ENTRY_POINT,
            enable_network_isolation=True,
            encrypt_inter_container_traffic=True,
            max_run=spec.max_runtime_seconds,
            output_kms_key=spec.kms_key_id or None,
            tags=[{"Key": k, "Value": v} for k, v in sorted({**spec.tags, "model": model}.items())],
            sagemaker_session=self.session,
        )
        name = job_name(model, run_id)
        estimator.fit(
            {
                "train": TrainingInput(dataset_uri, content_type="text/csv"),
                "schema": TrainingInput(schema_uri, content_type="application/json"),
            },
            wait=False,
            logs=False,
            job_name=name,
        )
        return TrainingJob(name=name, status="InProgress")

    def status(self, name: str) -> TrainingJob:
        return describe_job(self.session.sagemaker_client, name)
