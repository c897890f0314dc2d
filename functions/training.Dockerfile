# The pipeline and reaction functions (validate, train, collect, evaluate, register, ingest,
# monitor, retrain, rollback) and the SageMaker training entry point, in one image.
# Each Lambda function sets its handler as the image command (terraform/modules/functions);
# SageMaker jobs override the entry point with `python -m mlops_template.training.sagemaker_entry`.
FROM public.ecr.aws/lambda/python:3.12

COPY pyproject.toml README.md /build/
COPY training /build/training
COPY core /build/core
COPY infra /build/infra
COPY functions /build/functions
COPY azure_functions /build/azure_functions
COPY tooling /build/tooling
# boto3 comes with the runtime; the rest is pinned in pyproject.toml. The tooling (CLI, emulator,
# packaging) is part of the distribution but never of a function: removed once installed.
RUN pip install --no-cache-dir /build --target "${LAMBDA_TASK_ROOT}" \
    && rm -rf /build "${LAMBDA_TASK_ROOT}/mlops_template/tooling" "${LAMBDA_TASK_ROOT}/bin"

CMD ["mlops_template.functions.validate.handler"]
