"""`mlops`: the one entry point for people (train, serve, demo, pipeline, registry, promote...)."""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import tempfile
import time
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from mlops_template.core.artifacts import arrival_key
from mlops_template.core.backend import Backend
from mlops_template.core.records import RUN_STATUSES, version_label
from mlops_template.core.settings import Settings
from mlops_template.core.smoke import DEFAULT_WAIT_SECONDS
from mlops_template.infra import build_backend
from mlops_template.tooling.console import cell, markup
from mlops_template.tooling.options import ModelOption

if TYPE_CHECKING:
    from mlops_template.core.pipeline import PipelineResult, PipelineSteps
    from mlops_template.core.promotion import ReleaseResult
    from mlops_template.training.config import ModelConfig, TrainingConfig


class ExitCode(IntEnum):
    """What a script can tell from `mlops`'s exit status (2 is a usage error, from Click)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    DATA_REJECTED = 3
    GATE_FAILED = 4


EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 error; 2 usage error (a bad option or argument); "
    "3 data rejected (the file breaks the schema, quarantined by train); "
    "4 the gate refused the model (nothing registered)."
)
SETTINGS_HELP = (
    "Each setting comes from its option, else its MLOPS_* environment variable, else the "
    "--config file, else its default."
)


class _Commands(TyperGroup):
    """A registry that cannot be used (damaged, read-only, out of step with the artifacts) or a
    run tracker that is configured but not installed is one line on stderr and exit 1 from
    every command, not a traceback."""

    def invoke(self, ctx: Any) -> Any:
        from mlops_template.core.ports import TrackerUnavailable
        from mlops_template.core.registry import RegistryError

        try:
            return super().invoke(ctx)
        except (RegistryError, TrackerUnavailable) as exc:
            raise _fail(str(exc)) from None


app = typer.Typer(
    cls=_Commands,
    help="Serverless MLOps template: validate, train, register, promote, serve and monitor "
    f"models.\n\n{SETTINGS_HELP}\n\n{EXIT_CODES_HELP}",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    # Docstrings are wrapped at 100 columns in the source: markdown mode reflows paragraphs
    # to the terminal instead of keeping each source line break.
    rich_markup_mode="markdown",
)
registry_app = typer.Typer(help="Inspect the model registry.", no_args_is_help=True)
schema_app = typer.Typer(help="The data contract (schema) of a data set.", no_args_is_help=True)
pipeline_app = typer.Typer(help="Run the training pipeline.", no_args_is_help=True)
runs_app = typer.Typer(
    help="Training runs: every run, registered or not, with its reason.", no_args_is_help=True
)
config_app = typer.Typer(
    help="A model's stored training config (what train and retrains use).", no_args_is_help=True
)
app.add_typer(registry_app, name="registry")
app.add_typer(schema_app, name="schema")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(config_app, name="config")
app.add_typer(runs_app, name="runs")
batch_app = typer.Typer(
    help="Batch scoring on AWS: the batch state machine over a file in the data bucket.",
    no_args_is_help=True,
)
app.add_typer(batch_app, name="batch")

console = Console()
err = Console(stderr=True)

# The API re-reads its stage every MLOPS_MODEL_REFRESH_SECONDS: a smoke test after a promotion
# polls until the new version is served.
WaitOption = Annotated[
    float,
    typer.Option(
        min=0,
        help="How long to wait for the API to serve the expected version (it re-reads its "
        "stage every MLOPS_MODEL_REFRESH_SECONDS, 30 s by default).",
    ),
]


def actor() -> str:
    return os.environ.get("GITHUB_ACTOR") or getpass.getuser()


def _settings(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    from mlops_template.training.config import one_line

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise _fail(one_line(exc, env_prefix="MLOPS_")) from None


def _backend(settings: Settings | None = None) -> Backend:
    return build_backend(settings or _settings())


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(markup("[red]error:[/] {}", message), soft_wrap=True)
    return typer.Exit(code)


def _model(model: str | None, config: TrainingConfig | None = None) -> str:
    """--model, else MLOPS_MODEL_NAME, else the config file's model_name, else the default."""
    if model:
        return model
    settings = _settings()
    if config is None or "model_name" in settings.model_fields_set:
        return settings.model_name
    return config.model_name  # the file's, or the same default as the settings'


def _pipeline_exit(result: PipelineResult) -> None:
    if result.status == "rejected":
        raise typer.Exit(ExitCode.GATE_FAILED)
    if result.status == "failed":
        from mlops_template.core.pipeline import DataValidationError

        rejected = result.error_type == DataValidationError.__name__
        raise typer.Exit(ExitCode.DATA_REJECTED if rejected else ExitCode.ERROR)


@app.command()
def demo(
    report: Annotated[Path | None, typer.Option(help="Also write the report as JSON here.")] = None,
    home: Annotated[
        Path | None, typer.Option(help="State directory (default: a fresh temporary one).")
    ] = None,
    aws_emulated: Annotated[
        bool,
        typer.Option(
            "--aws-emulated",
            help="Run on the AWS adapters and Lambda handlers against moto, in this process.",
        ),
    ] = False,
    features: Annotated[
        bool,
        typer.Option(
            "--features",
            help="Run the feature store's story instead (docs/feature-store.md): entity data "
            "ingested, a point-in-time training set, a model trained from it, /predict by id.",
        ),
    ] = False,
    azure_emulated: Annotated[
        bool,
        typer.Option(
            "--azure-emulated",
            help="Run on the Azure adapters and the function app against Azurite (started here; "
            "needs Node.js), the functions called in this process.",
        ),
    ] = False,
    task: Annotated[
        str,
        typer.Option(
            help="classification (breast-cancer table) or regression (diabetes table); both "
            "ship with scikit-learn."
        ),
    ] = "classification",
) -> None:
    """Run the whole lifecycle: train, serve, drift, retrain, quarantine, rollback."""
    from mlops_template.tooling.console import render_demo

    if features:
        from mlops_template.tooling.feature_demo import run_feature_demo

        workdir = home or Path(tempfile.mkdtemp(prefix="mlops-features-demo-"))
        for line in run_feature_demo(_backend(_settings(home=workdir, backend="local"))):
            console.print(markup("[green]passed[/] {}", line))
        return

    if task not in ("classification", "regression"):
        raise _fail(f"--task must be classification or regression, not {task!r}")
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        spinner = progress.add_task("starting", total=None)

        def on_step(name: str) -> None:
            progress.update(spinner, description=name)

        if aws_emulated:
            result = _emulated_demo(on_step, task)
            inspect = None
        elif azure_emulated:
            result = _azure_emulated_demo(on_step, task)
            inspect = None
        else:
            workdir = home or Path(tempfile.mkdtemp(prefix="mlops-demo-"))
            if home is not None and home.exists():
                shutil.rmtree(home)
            from mlops_template.tooling.demo import Demo

            backend = _backend(_settings(home=workdir, backend="local"))
            result = Demo(
                backend,
                on_step=on_step,
                task=task,  # type: ignore[arg-type]
                report_dir=workdir,
            ).run()
            inspect = (
                f"MLOPS_HOME={shlex.quote(str(workdir))} mlops registry list "
                f"--model {shlex.quote(result.model)}"
            )
    render_demo(console, result)
    if inspect is None:
        where = "Azurite (stopped)" if azure_emulated else "moto (in-process AWS)"
        console.print(markup("[dim]state was kept in {}: gone with this process[/]", where))
    else:
        console.print(markup("[dim]state kept; inspect it with:[/] {}", inspect), soft_wrap=True)
    if result.html_report is not None:
        console.print(markup("HTML report of the model: {}", result.html_report), soft_wrap=True)
    if report is not None:
        report.write_text(result.model_dump_json(indent=2))
        console.print(markup("[dim]report written to {}[/]", report))
    if not result.passed:
        raise typer.Exit(1)


def _emulated_demo(on_step: Any, task: str = "classification") -> Any:
    from mlops_template.functions.inference.handler import handler as inference_handler
    from mlops_template.tooling.demo import STORIES, Demo
    from mlops_template.tooling.emulation import (
        AslPipeline,
        EmulatorUnavailable,
        LambdaApiClient,
        emulated_aws,
    )

    try:
        with emulated_aws(model_name=STORIES[task].model) as settings:  # type: ignore[index]
            backend = build_backend(settings)
            pipeline = AslPipeline(settings, backend)
            return Demo(
                backend,
                on_step=on_step,
                pipeline=pipeline.run,
                api=lambda: LambdaApiClient(inference_handler),
                label="aws-emulated",
                task=task,  # type: ignore[arg-type]
                report_dir=Path(tempfile.mkdtemp(prefix="mlops-demo-report-")),
            ).run()
    except EmulatorUnavailable as exc:
        raise _fail(str(exc)) from exc


def _azure_emulated_demo(on_step: Any, task: str = "classification") -> Any:
    from mlops_template.tooling.azure_emulation import (
        EmulatorUnavailable,
        FunctionHost,
        FunctionsApiClient,
        QueueChainPipeline,
        emulated_azure,
    )
    from mlops_template.tooling.demo import STORIES, Demo

    try:
        with emulated_azure(model=STORIES[task].model) as settings:  # type: ignore[index]
            host = FunctionHost(settings)
            from mlops_template.azure_functions.runtime import backend

            return Demo(
                backend(),
                on_step=on_step,
                pipeline=QueueChainPipeline(host).run,
                api=lambda: FunctionsApiClient(host),
                label="azure-emulated",
                task=task,  # type: ignore[arg-type]
                report_dir=Path(tempfile.mkdtemp(prefix="mlops-demo-report-")),
            ).run()
    except EmulatorUnavailable as exc:
        raise _fail(str(exc)) from exc


@app.command()
def train(
    data: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="Training data: CSV or Parquet.")
    ],
    target: Annotated[
        str | None,
        typer.Option(help="Target column (needed for a new model; default: the config's target)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="TOML or JSON training config; --model, --target and MLOPS_MODEL_NAME take "
            "precedence over its values. It replaces the model's stored config (each change is "
            "printed and kept in `mlops config history`); without it the stored one applies.",
        ),
    ] = None,
    model: ModelOption = None,
    promote: Annotated[
        str | None, typer.Option(help="Promote to this stage when registered.")
    ] = None,
    on: Annotated[
        str, typer.Option(help="Where training runs: local (this process) or sagemaker.")
    ] = "local",
    run_id: Annotated[
        str | None, typer.Option(help="Run id (with --sweep: the sweep id; default: time-based).")
    ] = None,
    poll_seconds: Annotated[float, typer.Option(help="SageMaker status polling interval.")] = 30,
    sweep: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="TOML sweep file: train one run per trial (grid or seeded random search over "
            "algorithms and hyperparameters), scored on the same held-out rows; the best goes "
            "through the gate. Local training only.",
        ),
    ] = None,
    max_trials: Annotated[
        int, typer.Option(min=1, help="With --sweep: run at most this many trials.")
    ] = 20,
) -> None:
    """Validate, train, evaluate and (if the gate passes) register a model version.

    With --sweep FILE: one recorded run per trial, the others end not_selected, at most one
    version is registered (and its config becomes the model's stored config).

    Exit codes: 0 registered; 1 error; 2 usage error (e.g. a target other than the stored
    schema's, a bad sweep file); 3 data rejected (the file is quarantined); 4 the gate refused
    the model (nothing registered)."""
    from mlops_template.core.pipeline import (
        LocalPipeline,
        PipelineSteps,
        remote_training_task,
        step_tasks,
    )
    from mlops_template.training.config import ConfigError, TrainingConfig, load_config

    if on not in ("local", "sagemaker"):
        raise _fail(f"--on must be local or sagemaker, not {on!r}")
    trials = _sweep_trials(sweep, max_trials, on) if sweep else None

    try:
        file_config = load_config(config) if config else None
        name = _model(model, file_config)
        backend = _backend()
        steps = PipelineSteps(backend)
        # Without --config the stored config applies (the one alarm-driven retrains use too).
        stored = steps.stored_config(name)
        cfg = (file_config or stored or TrainingConfig()).with_overrides(
            model_name=name, target=target
        )
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    schema = steps.load_schema(name)
    if schema is not None and cfg.target not in (None, schema.target.name):
        # The contract names the target; a config that names another would be recorded while
        # the model kept learning the contract's.
        raise _fail(
            f"the target of {name} is {schema.target.name!r} (its stored schema), not "
            f"{cfg.target!r}: a new target is a new model (--model)",
            ExitCode.USAGE,
        )
    if schema is None and cfg.target is None:
        # Nothing says which column to learn: refused before anything is uploaded or recorded.
        raise _fail(
            f"{name} is a new model: say which column to predict with --target "
            "(or `target` in its --config)",
            ExitCode.USAGE,
        )
    if trials is not None:
        _train_sweep(steps, cfg, data, trials, promote=promote, sweep_id=run_id)
        return
    changes = steps.save_config(cfg, actor=actor())
    for change in changes if stored else []:
        console.print(markup("config changed: {}", change), soft_wrap=True)
    key = arrival_key(data.name)
    backend.data.put(key, data.read_bytes())
    tasks = step_tasks(steps, actor=actor())
    if on == "sagemaker":
        tasks["train"] = remote_training_task(
            steps, _sagemaker_launcher(), poll_seconds=poll_seconds
        )
    with console.status(markup("training {} on {} ({})", name, data.name, on)):
        result = LocalPipeline(backend, actor=actor(), tasks=tasks).run(
            name, key, run_id=run_id, auto_promote=promote
        )
    _print_pipeline(result, uploaded=backend.data.uri(key), data=data)
    if stored is not None and changes and result.status != "registered":
        # The stored config is the one retrains use: it stays one that produced a version.
        steps.save_config(stored, actor=actor())
        console.print("config changed back: this run registered no version", soft_wrap=True)
    _pipeline_exit(result)


def _sweep_trials(path: Path, max_trials: int, on: str) -> list[ModelConfig]:
    """The sweep file's trials, at most `max_trials`; a bad file is a usage error."""
    from mlops_template.training.config import ConfigError
    from mlops_template.training.sweep import load_sweep

    if on != "local":
        raise _fail("--sweep trains in this process: it cannot run --on sagemaker", ExitCode.USAGE)
    try:
        every = load_sweep(path).configs()
    except ConfigError as exc:
        raise _fail(str(exc), ExitCode.USAGE) from exc
    if len(every) > max_trials:
        console.print(
            markup("running the first {} of {} trials (--max-trials)", max_trials, len(every))
        )
    return every[:max_trials]


def _train_sweep(
    steps: PipelineSteps,
    cfg: TrainingConfig,
    data: Path,
    trials: list[ModelConfig],
    *,
    promote: str | None,
    sweep_id: str | None,
) -> None:
    """`train --sweep`: the trials with a progress bar, their table, the best's outcome."""
    from rich.progress import BarColumn, MofNCompleteColumn

    from mlops_template.core.pipeline import DataValidationError
    from mlops_template.core.sweep import run_sweep, sweep_id_for
    from mlops_template.tooling.console import sweep_table

    name = cfg.model_name
    key = arrival_key(data.name)
    steps.backend.data.put(key, data.read_bytes())
    sweep_id = sweep_id or sweep_id_for(name)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(markup("sweep {}", sweep_id), total=len(trials))
        result = run_sweep(
            steps,
            name,
            key,
            trials,
            config=cfg,
            sweep_id=sweep_id,
            actor=actor(),
            promote_to=promote,
            on_step=lambda step: progress.update(task, description=cell(step)),
            on_trial=lambda _: progress.advance(task),
        )
    if result.trials:
        console.print(sweep_table(result))
    best = result.best_trial()
    if result.status == "registered" and best is not None:
        promoted = markup(", promoted to {}", result.promoted_to) if result.promoted_to else ""
        console.print(
            markup(
                "[green]registered v{}[/] from trial t{} ({})",
                result.version,
                best.trial,
                best.run_id,
            )
            + promoted
        )
        # Retrains use the stored config: it becomes the one that produced this version.
        winner = cfg.with_overrides(model=best.model.model_dump())
        had_config = steps.stored_config(name) is not None
        changes = steps.save_config(winner, actor=actor())
        for change in changes if had_config else []:
            console.print(markup("config changed: {}", change), soft_wrap=True)
    elif result.status == "rejected" and result.gate is not None:
        console.print(
            markup("[yellow]gate failed, nothing registered:[/] {}", "; ".join(result.gate.reasons))
        )
    else:
        console.print(markup("[red]{}:[/] {}", result.error_type, result.error))
    for warning in result.validation_warnings:
        console.print(markup("  [yellow]warning:[/] {}", warning))
    if result.status == "rejected":
        raise typer.Exit(ExitCode.GATE_FAILED)
    if result.status == "failed":
        rejected = result.error_type == DataValidationError.__name__
        raise typer.Exit(ExitCode.DATA_REJECTED if rejected else ExitCode.ERROR)


def _sagemaker_launcher() -> Any:
    settings = _settings()
    if settings.backend != "aws":
        raise _fail("--on sagemaker needs the AWS backend: set MLOPS_BACKEND=aws and the buckets")
    from mlops_template.infra import build_training_launcher

    try:
        return build_training_launcher(settings, sdk=True)
    except (ValueError, RuntimeError) as exc:
        raise _fail(str(exc)) from exc


STEP_LINES = {
    status: f"  [{colour}]{{:>9}}[/] {{:<9}} {{:6.2f}}s {{}}"
    for status, colour in (("succeeded", "green"), ("failed", "red"), ("skipped", "yellow"))
}


def _print_pipeline(result: Any, *, uploaded: str | None = None, data: Path | None = None) -> None:
    """The steps, then one verdict: a failure once, on stderr, naming the user's file (not the
    upload's key) when the CLI uploaded it."""
    for s in result.steps:
        template = STEP_LINES[s.status]
        # A failed or skipped step's detail is the verdict below: said once.
        detail = "" if s.status != "succeeded" else s.detail
        console.print(markup(template, s.status, s.name, s.seconds, detail))
    if result.status == "registered":
        promoted = markup(", promoted to {}", result.promoted_to) if result.promoted_to else ""
        console.print(
            markup("[green]registered v{}[/] (run {})", result.version, result.run_id) + promoted
        )
    elif result.status == "rejected":
        err.print(
            markup("[yellow]gate failed, nothing registered:[/] {}", "; ".join(result.gate.reasons))
        )
    else:
        from mlops_template.core.pipeline import DataValidationError

        message = result.error or ""
        if uploaded and data is not None:
            message = message.replace(uploaded, str(data))
        label = "data rejected" if result.error_type == DataValidationError.__name__ else "error"
        err.print(markup("[red]{}:[/] {}", label, message), soft_wrap=True)
    for warning in result.validation_warnings:
        console.print(markup("  [yellow]warning:[/] {}", warning))


@app.command()
def validate(
    data: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV or Parquet file to check.")
    ],
    schema: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="Schema JSON (default: the model's contract)."
        ),
    ] = None,
    model: ModelOption = None,
    config: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="TOML or JSON training config: its [validation] thresholds, and its model_name "
            "when neither --model nor MLOPS_MODEL_NAME is set.",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check a CSV or Parquet file against the schema, in memory that does not grow with the
    file; exit 3 when it would be rejected, 1 on an error."""
    from mlops_template.core.pipeline import PipelineSteps, schema_hint
    from mlops_template.tooling.console import validation_table
    from mlops_template.training.config import ConfigError, load_config
    from mlops_template.training.schema import DatasetSchema
    from mlops_template.training.validation import validate_data

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    if schema is not None:
        contract = DatasetSchema.from_json(schema.read_text())
    else:
        name = _model(model, cfg)
        found = PipelineSteps(_backend()).load_schema(name)
        if found is None:
            hint = schema_hint(name, str(data), cfg.target)
            raise _fail(f"no schema for model {name!r}: pass --schema or run `{hint}`")
        contract = found
    report = validate_data(
        data, contract, cfg.validation, source=str(data), time_rules=cfg.time_split
    )
    if json_out:
        console.print_json(report.model_dump_json())
    else:
        console.print(validation_table(report))
    if not report.passed:
        raise typer.Exit(ExitCode.DATA_REJECTED)


@app.command()
def backtest(
    data: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="Training data: CSV or Parquet.")
    ],
    config: Annotated[
        Path,
        typer.Option(
            exists=True, dir_okay=False, help="TOML or JSON training config naming time.column."
        ),
    ],
    target: Annotated[
        str | None, typer.Option(help="Target column (default: the config's target).")
    ] = None,
    schema: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="Schema JSON (default: inferred from the data)."
        ),
    ] = None,
    folds: Annotated[
        int | None,
        typer.Option(min=2, max=50, help="Folds (default: time_split.backtest_folds)."),
    ] = None,
) -> None:
    """Rolling-origin evaluation: train on the past, score the next period, k times moving
    forward; prints the gate's metric per fold with its mean and spread. Nothing is registered.

    Exit codes: 0 done; 1 error; 3 the data breaks the schema."""
    from mlops_template.tooling.console import backtest_table, validation_table
    from mlops_template.training.config import ConfigError, load_config
    from mlops_template.training.contract import first_contract
    from mlops_template.training.schema import DatasetSchema, SchemaError
    from mlops_template.training.timesplit import backtest as run_backtest
    from mlops_template.training.validation import validate_csv

    try:
        cfg = load_config(config).with_overrides(target=target)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc
    if cfg.time.column is None:
        raise _fail("a backtest needs a time column: set time.column in the config", 2)
    try:
        contract = (
            DatasetSchema.from_json(schema.read_text())
            if schema is not None
            else first_contract(data, cfg, name=data.name)
        )
    except (SchemaError, ValueError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot infer a schema from {data}: {exc}") from exc
    report, frame = validate_csv(
        data, contract, cfg.validation, source=str(data), time_rules=cfg.time_split
    )
    if frame is None:
        console.print(validation_table(report))
        raise typer.Exit(ExitCode.DATA_REJECTED)
    try:
        with console.status(markup("backtesting on {}", data.name)):
            result = run_backtest(frame, contract, cfg, folds)
    except (SchemaError, ConfigError) as exc:
        raise _fail(str(exc)) from exc
    console.print(backtest_table(result))


@schema_app.command("infer")
def schema_infer(
    data: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="CSV or Parquet file to infer the schema from."
        ),
    ],
    target: Annotated[str, typer.Option(help="Target column.")],
    out: Annotated[Path | None, typer.Option(help="Write the schema JSON here.")] = None,
    save: Annotated[bool, typer.Option(help="Store it as the model's data contract.")] = False,
    model: ModelOption = None,
    keep: Annotated[
        list[str] | None,
        typer.Option(help="Keep this column as a feature even if it looks like an id or constant."),
    ] = None,
    positive_class: Annotated[
        str | None,
        typer.Option(
            help="The class precision, recall and ROC AUC refer to (binary; default: 1 or True "
            "for 0/1 and boolean labels, else the minority class)."
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            help="classification or regression (default: inferred; a numeric target with "
            "more than 20 distinct values is regression)."
        ),
    ] = None,
    sample_rows: Annotated[
        int,
        typer.Option(
            min=1,
            help="Infer from a uniform random sample of this many rows (every row of a smaller "
            "file): memory depends on the sample, not the file.",
        ),
    ] = 100_000,
    allow_personal: Annotated[
        list[str] | None,
        typer.Option(help="Keep this column as a feature even if it looks like personal data."),
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option(help="The time column (must hold dates; default: the stored config's)."),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(help="The zone of naive timestamps (default: the stored config's, or UTC)."),
    ] = None,
) -> None:
    """Infer column types, ranges, categories and nullability from a CSV or Parquet file.

    Columns of dates or timestamps (ISO 8601 and common formats) become date columns, whose
    calendar features the model reads (docs/time.md); naive times are in --timezone.

    Identifier-like columns (a different text value, or consecutive integers, in every row) and
    constant columns are left out of the features; `--keep NAME` keeps one. Columns that look
    like personal data (emails, phones, card numbers, IP addresses, SSNs) are left out unless
    `--allow-personal NAME` or the stored config's `privacy.allow` names them.

    With `--save` the schema becomes the model's next schema version (adding a feature is this
    one command); the next run trains on it.
    """

    from mlops_template.core.pipeline import PipelineSteps
    from mlops_template.training.config import ValidationThresholds
    from mlops_template.training.schema import SchemaError, infer_schema_from
    from mlops_template.training.validation import header_too_wide

    too_wide = header_too_wide(data, ValidationThresholds().max_columns)
    if too_wide:
        raise _fail(f"cannot infer a schema from {data}: {too_wide}")
    if task not in (None, "classification", "regression"):
        raise _fail(f"--task must be classification or regression, not {task!r}")
    name = _model(model)
    allowed = list(allow_personal or ())
    stored = PipelineSteps(_backend()).stored_config(name) if save else None
    if stored is not None:
        allowed += stored.privacy.allow
        time_column = time_column or stored.time.column
        timezone = timezone or stored.time.timezone
    try:
        inferred = infer_schema_from(
            data,
            target,
            sample_rows=sample_rows,
            keep=keep or (),
            positive_class=positive_class,
            allow_personal=allowed,
            task=task,
            time_column=time_column,
            timezone=timezone or "UTC",
        )
    except (SchemaError, ValueError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot infer a schema from {data}: {exc}") from exc
    text = inferred.to_json()
    if out:
        out.write_text(text)
    if save:
        from mlops_template.core.schema_versions import save_schema_version

        change = save_schema_version(_backend(), name, inferred)
        console.print(markup("{}", change.summary()))
    if not out and not save:
        console.print_json(text)
    elif inferred.target.task == "regression":
        console.print(
            markup(
                "{} features, target {!r} (regression, {} to {})",
                len(inferred.columns),
                target,
                inferred.target.min,
                inferred.target.max,
            )
        )
    else:
        console.print(
            markup(
                "{} features, target {!r} classes {}",
                len(inferred.columns),
                target,
                inferred.target.classes,
            )
        )
    # On stderr when stdout is the JSON, so that it can still be redirected to a file.
    notes = console if out or save else err
    how = "given" if task else "inferred; override with --task"
    notes.print(markup("  task: {} ({})", inferred.target.task, how))
    for column in inferred.excluded_columns:
        hint = (
            "--allow-personal, or privacy.allow in the config"
            if column.reason == "personal_data"
            else "--keep"
        )
        notes.print(
            markup("  [yellow]excluded[/] {}: {} (keep it: {})", column.name, column.detail, hint)
        )


@config_app.command("show")
def config_show(model: ModelOption = None) -> None:
    """The stored config as JSON (what `train` without --config and retrains use)."""
    from mlops_template.core.pipeline import PipelineSteps

    name = _model(model)
    stored = PipelineSteps(_backend()).stored_config(name)
    if stored is None:
        raise _fail(f"no config stored for {name!r} yet: `mlops train` stores one")
    console.print_json(stored.model_dump_json())


@config_app.command("history")
def config_history(model: ModelOption = None) -> None:
    """Every change of the stored config, oldest first: when, who, what."""
    from mlops_template.core.pipeline import PipelineSteps

    name = _model(model)
    for change in PipelineSteps(_backend()).config_history(name):
        console.print(
            markup("{} {}: {}", change.at, change.by, "; ".join(change.changes)), soft_wrap=True
        )


@runs_app.command("list")
def runs_list(
    model: ModelOption = None,
    status: Annotated[
        str | None, typer.Option(help="Only runs that ended so: " + ", ".join(RUN_STATUSES))
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only runs started at or after this ISO date or time.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """A model's training runs, newest first: status, start, the gate's metric, the version it
    became, and the reason it ended so."""
    from datetime import datetime

    from mlops_template.tooling.console import runs_listing

    if status is not None and status not in RUN_STATUSES:
        raise _fail(f"--status must be one of {', '.join(RUN_STATUSES)}", ExitCode.USAGE)
    if since is not None:
        try:
            since = datetime.fromisoformat(since).isoformat()
        except ValueError:
            raise _fail(f"--since {since!r} is not an ISO date or time", ExitCode.USAGE) from None
    name = _model(model)
    runs = _backend().registry.runs(name, status=status, since=since)[:limit]
    if as_json:  # JSON lines: one run's record a line
        for run in runs:
            typer.echo(run.model_dump_json())
        return
    if not runs:
        console.print(
            markup("no runs of {!r}{}", name, " matching the filters" if status or since else "")
        )
        return
    console.print(markup("[bold]Training runs of {}[/] (newest first)", name))
    for line in runs_listing(runs):
        console.print(line)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id (see `mlops runs list`).")],
    model: ModelOption = None,
) -> None:
    """One run's whole record as JSON: config, data hash and rows, code version, metrics."""
    console.print_json(_run(model, run_id).model_dump_json())


@runs_app.command("compare")
def runs_compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Runs side by side: data, hyperparameters and metrics, the differences highlighted."""
    import json

    from mlops_template.tooling.console import comparison_table, differing, run_comparison

    if len(run_ids) < 2:
        raise _fail("compare needs two or more run ids", ExitCode.USAGE)
    runs = [_run(model, run_id) for run_id in run_ids]
    if as_json:
        comparison = run_comparison(runs)
        document = {"runs": run_ids, **comparison, "differ": differing(comparison)}
        typer.echo(json.dumps(document, indent=2, default=str))
        return
    console.print(comparison_table(runs))


def _run(model: str | None, run_id: str) -> Any:
    from mlops_template.core.registry import RegistryError

    name = _model(model)
    try:
        return _backend().registry.get_run(name, run_id)
    except RegistryError as exc:
        raise _fail(f"{exc} (a run of another model: --model NAME)") from exc


@batch_app.command("start")
def batch_start(
    data: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="CSV to upload under batch-input/."),
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="Or: a CSV already in the data bucket, under batch-input/.")
    ] = None,
    model: ModelOption = None,
    stage: Annotated[str | None, typer.Option(help="Score with this stage's version.")] = None,
    version: Annotated[int | None, typer.Option(help="Or with this version.")] = None,
    keys: Annotated[
        str | None, typer.Option(help="Input columns to carry into the output (comma-separated).")
    ] = None,
    rows_per_chunk: Annotated[int, typer.Option(min=1, help="Rows a scoring function gets.")] = (
        10_000
    ),
    wait: Annotated[bool, typer.Option(help="Wait for the run and print its summary.")] = False,
) -> None:
    """Score a file with the batch state machine (split, one function per chunk, summary);
    everything lands under batch/<model>/<run id>/ in the data bucket."""
    import json
    import time
    import uuid

    from mlops_template.core.batch_job import BatchJob
    from mlops_template.infra.aws.clients import client

    settings = _settings()
    if settings.backend != "aws" or not settings.batch_state_machine_arn:
        raise _fail(
            "batch start runs on AWS (MLOPS_BACKEND=aws, MLOPS_BATCH_STATE_MACHINE_ARN: "
            "`mlops env`); on this machine, `mlops predict` scores a file",
            ExitCode.USAGE,
        )
    if (data is None) == (key is None):
        raise _fail("give one of --data FILE or --key KEY", ExitCode.USAGE)
    if stage is not None and version is not None:
        raise _fail("give --stage or --version, not both", ExitCode.USAGE)
    run_id = f"batch-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    if data is not None:
        key = f"batch-input/{run_id}/{data.name}"
        _backend(settings).data.put(key, data.read_bytes(), content_type="text/csv")
    assert key is not None
    if not key.startswith("batch-input/"):
        raise _fail("--key must be under batch-input/ (what the batch functions may read)")
    job = BatchJob(
        model=_model(model),
        input_key=key,
        run_id=run_id,
        stage=stage,
        version=version,
        keys=[k.strip() for k in keys.split(",") if k.strip()] if keys else [],
        rows_per_chunk=rows_per_chunk,
    )
    sfn = client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=settings.batch_state_machine_arn,
        name=run_id,
        input=json.dumps({"job": job.model_dump(mode="json")}),
    )["executionArn"]
    console.print(
        markup("batch run {} started: s3://{}/{}", run_id, settings.data_bucket, job.prefix)
    )
    if not wait:
        return
    with console.status(markup("scoring {}", key)):
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            time.sleep(2)
    if described["status"] != "SUCCEEDED":
        raise _fail(f"batch run {run_id} {described['status']}: {described.get('cause', '')}")
    summary = json.loads(described["output"])["summary"]
    console.print(
        markup(
            "{} rows: {} scored, {} rejected (v{}); predictions under {}",
            summary["rows"],
            summary["scored"],
            summary["rejected"],
            summary["version"],
            summary["predictions_prefix"],
        )
    )


@registry_app.command("list")
def registry_list(model: ModelOption = None) -> None:
    """Versions of a model with their stages, gate and metrics."""
    from mlops_template.tooling.console import versions_table

    registry = _backend().registry
    name = _model(model)
    versions = registry.versions(name)
    if not versions:
        models = ", ".join(registry.models()) or "none"
        console.print(markup("no versions of {!r} (models: {})", name, models))
        return
    console.print(versions_table(versions, registry.aliases(name)))


@registry_app.command("show")
def registry_show(
    version: Annotated[int, typer.Argument(help="Version number.")],
    model: ModelOption = None,
) -> None:
    """One version's full record (metrics, data hash, code version, artifacts and hashes)."""
    from mlops_template.core.registry import RegistryError

    try:
        record = _backend().registry.get(_model(model), version)
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    console.print_json(record.model_dump_json())


@registry_app.command("check")
def registry_check(
    version: Annotated[int, typer.Argument(help="Version number.")],
    model: ModelOption = None,
) -> None:
    """Fail unless the version exists, passed its gate and its artifacts match their hashes."""
    from mlops_template.core.artifacts import ArtifactIntegrityError
    from mlops_template.core.promotion import check_version
    from mlops_template.core.registry import RegistryError

    try:
        record = check_version(_backend(), _model(model), version)
    except (RegistryError, ArtifactIntegrityError) as exc:
        raise _fail(str(exc)) from exc
    console.print(
        markup(
            "{} v{}: gate passed, {} artifacts match their SHA-256",
            record.model,
            record.version,
            len(record.artifacts),
        )
    )


@registry_app.command("export")
def registry_export(
    version: Annotated[int, typer.Argument(help="Version number.")],
    out: Annotated[Path, typer.Option(help="Directory for the version record and artifacts.")],
    model: ModelOption = None,
) -> None:
    """Write a version, its verified artifacts and this environment's signature over them to a
    directory (to import elsewhere)."""
    from mlops_template.core.artifacts import ArtifactIntegrityError
    from mlops_template.core.ports import SigningUnavailable
    from mlops_template.core.promotion import export_version
    from mlops_template.core.registry import RegistryError

    try:
        record = export_version(_backend(), _model(model), version, out)
    except (RegistryError, ArtifactIntegrityError, SigningUnavailable) as exc:
        raise _fail(str(exc)) from exc
    console.print(markup("exported {} v{} to {} (signed)", record.model, record.version, out))


@app.command("export")
def export(
    version: Annotated[int, typer.Option(help="The version to package.")],
    out: Annotated[Path, typer.Option(help="Folder for the bundle (new or empty).")],
    edge: Annotated[
        bool,
        typer.Option(
            "--edge",
            help="The edge bundle: ONNX model, record JSON Schema, model card, checksums, a "
            "Python scorer (onnxruntime + numpy) and an offline browser page.",
        ),
    ] = False,
    web: Annotated[
        bool, typer.Option(help="Include the browser page (fetches onnxruntime-web with npm once).")
    ] = True,
    model: ModelOption = None,
) -> None:
    """Package a registered version for a device (`--edge`); see docs/models.md."""
    from mlops_template.core.artifacts import ArtifactIntegrityError
    from mlops_template.core.registry import RegistryError
    from mlops_template.tooling.edge import ONNXRUNTIME_WEB, EdgeExportError, export_edge

    if not edge:
        raise _fail(
            "say which package: --edge (`mlops registry export` moves a version to another "
            "environment)"
        )
    cache = None
    if web:
        cache = _tool_cache(f"onnxruntime-web-{ONNXRUNTIME_WEB}")
    try:
        written = export_edge(_backend(), _model(model), version, out, web_cache=cache)
    except (RegistryError, ArtifactIntegrityError, EdgeExportError, KeyError) as exc:
        raise _fail(str(exc)) from exc
    console.print(markup("edge bundle of v{} in {}: {}", version, out, ", ".join(written)))


def _tool_cache(name: str) -> Path:
    """Kept across runs, outside the repository: XDG_CACHE_HOME (else ~/.cache)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "serverless-mlops-template" / name


@registry_app.command("import")
def registry_import(
    directory: Annotated[
        Path,
        typer.Argument(
            exists=True, file_okay=False, help="What `mlops registry export --out` wrote."
        ),
    ],
    source_env: Annotated[str, typer.Option(help="Environment the version comes from.")],
    output_file: Annotated[
        Path | None, typer.Option(help="Append version=<N> here (e.g. $GITHUB_OUTPUT).")
    ] = None,
) -> None:
    """Register an exported version in this environment: its signature must be from a key this
    environment trusts (its own, MLOPS_TRUSTED_EXPORT_KEYS), and every artifact match its hash."""
    from mlops_template.core.artifacts import ArtifactIntegrityError
    from mlops_template.core.promotion import import_version

    try:
        record = import_version(_backend(), directory, source_environment=source_env, actor=actor())
    except ArtifactIntegrityError as exc:
        raise _fail(str(exc)) from exc
    console.print(
        markup(
            "imported as {} v{} (from {} v{}, signed by {})",
            record.model,
            record.version,
            source_env,
            record.lineage["imported_from"]["version"],
            record.lineage.get("export_signed_by", "an earlier import"),
        )
    )
    if output_file is not None:
        with output_file.open("a") as handle:
            handle.write(f"version={record.version}\n")


@registry_app.command("history")
def registry_history(
    model: ModelOption = None,
    stage: Annotated[
        str | None, typer.Option(help="Only this stage's moves (default: every stage).")
    ] = None,
) -> None:
    """Every stage move, oldest first."""
    from mlops_template.tooling.console import history_table

    console.print(history_table(_backend().registry.history(_model(model), stage)))


def _known_stage(stage: str) -> str:
    """A stage name is an argument: a wrong one is a usage error (exit 2), like a bad option."""
    from mlops_template.core.registry import UnknownStageError, check_stage

    try:
        return check_stage(stage)
    except UnknownStageError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def promote(
    version: Annotated[int, typer.Argument(help="Version to promote.")],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="Target stage: staging, production, canary, shadow.",
            callback=_known_stage,
        ),
    ],
    model: ModelOption = None,
    expect_version: Annotated[
        int | None, typer.Option(help="Fail unless the stage still serves this version.")
    ] = None,
    weight: Annotated[float | None, typer.Option(help="Traffic share for a canary.")] = None,
    reason: Annotated[str, typer.Option(help="Why, recorded in the stage history.")] = "",
    direct: Annotated[
        bool,
        typer.Option(
            "--direct", help="--to production: skip the canary release (not recommended)."
        ),
    ] = False,
    window: Annotated[
        int, typer.Option(min=0, help="--to production: the canary's window in seconds.")
    ] = 3600,
) -> None:
    """Point a stage at a version (a conditional write: a stale view fails).

    `--to production` releases through a canary by default: the version serves --weight (10%)
    of production's traffic, and the scheduled monitor promotes it or rolls it back once the
    window has passed (core/canary.py). The first production version is promoted directly.
    """
    from mlops_template.core.registry import RegistryError

    name = _model(model)
    if to == "production" and not direct and expect_version is None:
        from mlops_template.core.canary import DEFAULT_WEIGHT, start_canary, window_ends

        backend = _backend()
        if backend.registry.current(name, "production") is not None:
            try:
                plan = start_canary(
                    backend,
                    name,
                    version,
                    actor=actor(),
                    weight=weight or DEFAULT_WEIGHT,
                    window_seconds=window,
                    reason=reason,
                )
            except RegistryError as exc:
                raise _fail(str(exc)) from exc
            console.print(
                markup(
                    "canary of {}: v{} serves {:.0%} of production's traffic; the monitor "
                    "promotes or rolls it back after {} (--direct skips the canary)",
                    name,
                    version,
                    plan.weight,
                    window_ends(plan),
                )
            )
            return
    try:
        event = _backend().registry.promote(
            name,
            version,
            to,
            actor=actor(),
            reason=reason,
            expected_version=expect_version,
            weight=weight,
        )
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    if event is None:
        console.print(markup("{} of {} already serves v{}", to, name, version))
    else:
        console.print(
            markup(
                "{} of {}: {} -> v{}", to, name, version_label(event.from_version), event.to_version
            )
        )


@app.command()
def rollback(
    stage: Annotated[
        str, typer.Option(help="Stage to roll back.", callback=_known_stage)
    ] = "production",
    model: ModelOption = None,
    reason: Annotated[
        str, typer.Option(help="Why, recorded in the stage history.")
    ] = "manual rollback",
) -> None:
    """Point a stage back at the version it served before."""
    from mlops_template.core.registry import RegistryError

    name = _model(model)
    try:
        event = _backend().registry.rollback(name, stage, actor=actor(), reason=reason)
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    console.print(markup("{} of {}: v{} -> v{}", stage, name, event.from_version, event.to_version))


@app.command()
def monitor(
    model: ModelOption = None,
    stage: Annotated[str, typer.Option(help="Stage whose version is monitored.")] = "production",
    window_hours: Annotated[
        float | None,
        typer.Option(
            help="Hours of captures read, up to now (default: MLOPS_MONITOR_WINDOW_HOURS)."
        ),
    ] = None,
    drift_window_hours: Annotated[
        float | None,
        typer.Option(
            help="Drift per window of this many hours too, e.g. 168 for week by week "
            "(default: MLOPS_DRIFT_WINDOW_HOURS; 0: off)."
        ),
    ] = None,
) -> None:
    """Compare live inputs with the training profile; publish drift, accuracy and freshness."""
    from datetime import timedelta

    from mlops_template.core.monitoring import run_monitor
    from mlops_template.core.registry import RegistryError
    from mlops_template.tooling.console import drift_table, drift_windows_table, freshness_verdict

    configured = _settings()
    hours = window_hours if window_hours is not None else configured.monitor_window_hours
    per = drift_window_hours if drift_window_hours is not None else configured.drift_window_hours
    try:
        # Here the person's credentials may move stages: a canary verdict is applied at once.
        result = run_monitor(
            _backend(),
            _model(model),
            stage=stage,
            apply_canary=True,
            window=timedelta(hours=hours),
            drift_window=timedelta(hours=per) if per else None,
        )
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    console.print(drift_table(result.drift))
    if result.drift_windows:
        console.print(drift_windows_table(result.drift_windows))
    if result.freshness is not None:
        console.print(freshness_verdict(result.freshness))
    accuracy = f"{result.feedback_accuracy:.3f}" if result.feedback_accuracy is not None else "n/a"
    console.print(
        markup(
            "v{}: {} captured (every capture from {} to {}, {} objects), {} labelled, "
            "feedback accuracy {}",
            result.version,
            result.captured,
            result.window_start[:19],
            result.window_end[:19],
            result.objects,
            result.feedback_count,
            accuracy,
        )
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    model: ModelOption = None,
    stage: Annotated[
        str | None, typer.Option(help="Stage to serve (default: MLOPS_SERVING_STAGE).")
    ] = None,
    max_connections: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Connections served at once; a request beyond them is answered 503 "
            "(default: MLOPS_MAX_CONNECTIONS).",
        ),
    ] = None,
) -> None:
    """Serve the prediction API with uvicorn.

    The API has no authentication here: keep the default 127.0.0.1 unless every machine that
    can reach the address may predict and send feedback. Request headers and bodies must
    arrive within MLOPS_READ_TIMEOUT_SECONDS (default 10); idle connections close after 5 s.
    """
    import uvicorn

    from mlops_template.core.serving.app import app_from_settings
    from mlops_template.tooling.server import is_loopback, server_config

    settings = _settings()
    backend = _backend(settings)
    settings = settings.model_copy(
        update={"model_name": _model(model), "serving_stage": stage or settings.serving_stage}
    )
    api = app_from_settings(settings, backend)
    if not is_loopback(host):
        err.print(
            markup(
                "[yellow]warning:[/] the API has no authentication when served locally: anyone "
                "who can reach {}:{} can predict and send feedback.",
                host,
                port,
            ),
            soft_wrap=True,
        )
    config = server_config(
        api,
        host=host,
        port=port,
        read_timeout=settings.read_timeout_seconds,
        max_connections=max_connections or settings.max_connections,
    )
    uvicorn.Server(config).run()


@app.command()
def package(
    output: Annotated[Path, typer.Option(help="Directory for the packages.")] = Path("dist"),
    arch: Annotated[
        str | None, typer.Option(help="x86_64 or arm64 (default: this machine's).")
    ] = None,
    training_image: Annotated[
        bool, typer.Option(help="Also measure what the training image adds to its base.")
    ] = False,
    markdown: Annotated[
        Path | None, typer.Option(help="Append the table as Markdown (e.g. $GITHUB_STEP_SUMMARY).")
    ] = None,
    azure_functions: Annotated[
        bool,
        typer.Option(
            "--azure-functions",
            help="Build the Azure function app zip (Linux x86-64, Python 3.12) instead.",
        ),
    ] = False,
) -> None:
    """Build the inference Lambda zip for Python 3.12 and check it against its size budget."""
    from rich.table import Table

    from mlops_template.tooling.packaging import (
        MB,
        BudgetExceeded,
        build_inference,
        host_architecture,
        measure_training_image,
    )

    architecture = arch or host_architecture()
    if azure_functions:
        from mlops_template.tooling.packaging import build_azure_functions

        with console.status("building the Azure function package"):
            reports = [build_azure_functions(output)]
    else:
        with console.status(markup("building the inference package for {}", architecture)):
            reports = [build_inference(output, architecture)]
    if training_image and not azure_functions:
        reports.append(measure_training_image(output, architecture))
    table = Table(title="Lambda packages", title_justify="left")
    for col in ("package", "arch", "files", "unzipped MB", "zipped MB", "budget", "sha256"):
        table.add_column(col)
    for r in reports:
        budget = (
            markup("<= {:g} / {:g} MB", r.budget.unzipped_mb, r.budget.zipped_mb)
            if r.budget
            else "reported"
        )
        verdict = "" if r.within_budget else " [red]OVER[/]"
        table.add_row(
            cell(r.name),
            cell(r.architecture),
            cell(r.files),
            markup("{:.1f}", r.unzipped_bytes / MB),
            markup("{:.1f}", r.zipped_bytes / MB) if r.zipped_bytes else "-",
            budget + verdict,
            cell(r.sha256[:16] or "-"),
        )
    console.print(table)
    inference = reports[0]
    compiled = "" if inference.compiled_modules else ": no Python 3.12 of this architecture found"
    largest = ", ".join(f"{name} {size / MB:.1f} MB" for name, size in inference.largest)
    console.print(
        markup(
            "{} ({} cold-start modules byte-compiled{}); largest: {}",
            inference.path,
            inference.compiled_modules,
            compiled,
            largest,
        )
    )
    if markdown is not None:
        lines = [
            "| package | arch | files | unzipped MB | zipped MB | budget | sha256 |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in reports:
            budget = (
                (
                    f"<= {r.budget.unzipped_mb:g} / {r.budget.zipped_mb:g} MB"
                    + ("" if r.within_budget else " **OVER**")
                )
                if r.budget
                else "reported"
            )
            zipped = f"{r.zipped_bytes / MB:.1f}" if r.zipped_bytes else "-"
            lines.append(
                f"| {r.name} | {r.architecture} | {r.files} | "
                f"{r.unzipped_bytes / MB:.1f} | {zipped} | {budget} | `{r.sha256[:16]}` |"
            )
        with markdown.open("a") as handle:
            handle.write("### Lambda packages\n\n" + "\n".join(lines) + "\n")
    over = [r for r in reports if not r.within_budget]
    if over:
        raise _fail(str(BudgetExceeded(", ".join(f"{r.name} is over budget" for r in over))))


@app.command()
def bench(
    cold_runs: Annotated[int, typer.Option(help="Fresh processes per handler.")] = 7,
    warm_requests: Annotated[int, typer.Option(help="Timed 1-record requests.")] = 300,
    batch_rows: Annotated[int, typer.Option(help="Records in the batch request.")] = 10_000,
    package_sizes: Annotated[
        bool, typer.Option("--package/--no-package", help="Also build and size both packages.")
    ] = True,
    report: Annotated[Path | None, typer.Option(help="Also write the results as JSON.")] = None,
    data: Annotated[
        bool,
        typer.Option(
            "--data",
            help="Instead: the data plane's peak memory and time (validate, train-prepare, "
            "monitor) on the synthetic 30-column table, beside the figures before the batch "
            "reader.",
        ),
    ] = False,
    data_rows: Annotated[
        list[int] | None,
        typer.Option(help="With --data: table sizes in rows (default 100k, 1M and 3M)."),
    ] = None,
    data_case: Annotated[
        list[str] | None,
        typer.Option(help="With --data: only these cases (validate, train-prepare, monitor)."),
    ] = None,
) -> None:
    """Our inference handler against a naive FastAPI + scikit-learn + pandas one, side by side
    (with --data: the data plane's memory and time by file size)."""
    from rich.table import Table

    if data:
        _bench_data(tuple(data_rows) if data_rows else None, tuple(data_case or ()) or None)
        return
    from mlops_template.tooling.bench import BenchConfig, as_dict, run

    config = BenchConfig(
        cold_runs=cold_runs,
        warm_requests=warm_requests,
        batch_rows=batch_rows,
        package=package_sizes,
    )
    with console.status("benchmarking") as status:
        result = run(config, progress=lambda message: status.update(message))
    table = Table(title=markup("mlops bench ({})", result.machine), title_justify="left")
    for col in ("metric", "ours", "baseline", "ours / baseline", "target"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for row in result.rows():
        table.add_row(*map(cell, row))
    console.print(table)
    lookup = Table(
        title="/predict with the online feature lookup (ours, same run)", title_justify="left"
    )
    for col in ("metric", "plain record", "entity record (online store)", "entity / plain"):
        lookup.add_column(col, justify="right" if col != "metric" else "left")
    for lookup_row in result.feature_rows():
        lookup.add_row(*map(cell, lookup_row))
    console.print(lookup)
    console.print(
        markup(
            "[dim]{:.0f}s; baseline = FastAPI + Mangum + pandas + scikit-learn + joblib "
            "(tooling/bench_baseline.py)[/]",
            result.seconds,
        )
    )
    if report is not None:
        import json

        report.write_text(json.dumps(as_dict(result), indent=2))


def _bench_data(sizes: tuple[int, ...] | None, cases: tuple[str, ...] | None) -> None:
    from rich.table import Table

    from mlops_template.tooling import bench_data

    unknown = sorted(set(cases or ()) - set(bench_data.CASES))
    if unknown:
        raise _fail(f"no bench case {', '.join(unknown)}; the cases: {', '.join(bench_data.CASES)}")

    started = time.perf_counter()
    with console.status("benchmarking the data plane") as status:
        figures = bench_data.run(
            sizes or bench_data.DEFAULT_ROWS,
            cases,
            progress=lambda message: status.update(message),
        )
    table = Table(title="mlops bench --data", title_justify="left")
    for col in bench_data.HEADERS:
        table.add_column(col, justify="left" if col == "case" else "right")
    for row in bench_data.rows(figures):
        table.add_row(*map(cell, row))
    console.print(table)
    console.print(
        markup(
            "[dim]{:.0f}s; each case in a fresh process (peak RSS by os.wait4); before = issue "
            "10's figures (RSS) and main before the batch reader (seconds)[/]",
            time.perf_counter() - started,
        )
    )


@app.command()
def env(
    terraform_dir: Annotated[
        Path,
        typer.Option(
            exists=True,
            file_okay=False,
            help="terraform/environment, initialised with the environment's state "
            "(terraform init -reconfigure -backend-config=<env>.s3.tfbackend ...).",
        ),
    ],
) -> None:
    """Print the MLOPS_* settings of a deployed environment (from its Terraform outputs), one
    KEY=value per line: `mlops env --terraform-dir terraform/environment >> "$GITHUB_ENV"`, the
    outputs of whichever environment's state that root was last initialised with."""
    import json
    import subprocess

    from mlops_template.core.settings import env_from_terraform_outputs

    terraform = shutil.which("terraform")
    if terraform is None:
        raise _fail("terraform is not on PATH")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [terraform, f"-chdir={terraform_dir}", "output", "-json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise _fail(f"terraform output failed: {result.stderr.strip()}")
    try:
        values = env_from_terraform_outputs(json.loads(result.stdout))
    except KeyError as exc:
        raise _fail(str(exc)) from exc
    for key, value in values.items():
        typer.echo(f"{key}={value}")


@app.command()
def smoke(
    url: Annotated[str, typer.Option(help="Base URL of the deployed API.")],
    expect_version: Annotated[
        int | None,
        typer.Option(help="Fail unless the API serves this version within --wait-seconds."),
    ] = None,
    sigv4: Annotated[bool, typer.Option(help="Sign requests (APIs with IAM auth).")] = False,
    region: Annotated[str | None, typer.Option(help="Region for SigV4.")] = None,
    wait_seconds: WaitOption = DEFAULT_WAIT_SECONDS,
) -> None:
    """Smoke-test a deployed API: health, version, a prediction, a refused bad record."""
    from mlops_template.core.smoke import smoke_test_from_api
    from mlops_template.tooling.api_client import HttpApiClient

    if expect_version is not None:
        console.print(
            markup("waiting up to {:g}s for {} to serve v{}", wait_seconds, url, expect_version)
        )
    result = smoke_test_from_api(
        HttpApiClient(url, sigv4=sigv4, region=region),
        expect_version=expect_version,
        wait_seconds=wait_seconds,
    )
    for check in result.checks:
        mark = "[green]ok[/]" if check.passed else "[red]FAILED[/]"
        console.print(
            "  " + mark + markup(" {} {}", check.name, "" if check.passed else check.detail)
        )
    if not result.passed:
        raise _fail("smoke test " + result.summary())


@app.command()
def release(
    version: Annotated[
        int | None, typer.Argument(help="Version in the source environment.")
    ] = None,
    from_env_file: Annotated[
        Path | None, typer.Option(help="MLOPS_* settings of the source environment.")
    ] = None,
    to_env_file: Annotated[
        Path | None, typer.Option(help="MLOPS_* settings of the target environment.")
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Target environment's API, to smoke-test.")
    ] = None,
    sigv4: Annotated[bool, typer.Option(help="Sign smoke-test requests.")] = False,
    stage: Annotated[str, typer.Option(help="Stage the target API serves.")] = "production",
    model: ModelOption = None,
    wait_seconds: WaitOption = DEFAULT_WAIT_SECONDS,
    aws_emulated: Annotated[
        bool,
        typer.Option(
            "--aws-emulated", help="Play dev -> staging -> prod, and a failed release, on moto."
        ),
    ] = False,
) -> None:
    """Move a model version to another environment: export, import (hashes checked), promote,
    smoke-test once the API serves it, and roll back if the smoke test fails. The last line
    says what happened to the target stage."""
    if aws_emulated:
        _emulated_release()
        return
    if version is None or from_env_file is None or to_env_file is None or url is None:
        raise _fail("give VERSION, --from-env-file, --to-env-file and --url (or --aws-emulated)")
    from mlops_template.core.artifacts import ArtifactIntegrityError
    from mlops_template.core.ports import SigningUnavailable
    from mlops_template.core.promotion import release as run_release
    from mlops_template.core.registry import RegistryError
    from mlops_template.tooling.api_client import HttpApiClient

    source = build_backend(Settings(_env_file=from_env_file))  # type: ignore[call-arg]
    target_settings = Settings(_env_file=to_env_file)  # type: ignore[call-arg]
    target = build_backend(target_settings)
    console.print(
        markup(
            "{}: the smoke test waits up to {:g}s for {} to serve the new version",
            target_settings.environment,
            wait_seconds,
            url,
        )
    )
    try:
        with tempfile.TemporaryDirectory() as workdir:
            result = run_release(
                source,
                target,
                model or target_settings.model_name,
                version,
                stage,
                source_environment=from_env_file.stem,
                actor=actor(),
                workdir=Path(workdir),
                client=lambda: HttpApiClient(url, sigv4=sigv4),
                wait_seconds=wait_seconds,
            )
    except (RegistryError, ArtifactIntegrityError, SigningUnavailable) as exc:
        raise _fail(f"{exc}; {stage} left unchanged") from exc
    _print_release(result, target_settings.environment)
    if not result.succeeded:
        raise typer.Exit(ExitCode.ERROR)


def _print_release(result: ReleaseResult, to: str) -> None:
    verdict = "[green]released[/]" if result.succeeded else "[red]smoke test failed[/]"
    console.print(
        markup(
            "{}: v{} -> v{} in {}: ",
            to,
            result.source_version,
            result.target_version,
            result.stage,
        )
        + verdict
    )
    for check in result.smoke.checks if result.smoke else []:
        # Failures, and how long the API took to serve the version.
        if not check.passed or check.name == "serves the promoted version":
            template = "    {}: {}" if check.passed else "    [red]{}[/]: {}"
            console.print(markup(template, check.name, check.detail[:160]))
    console.print(markup("    {}", result.stage_outcome()))


def _emulated_release() -> None:
    from mlops_template.core.promotion import ReleaseResult
    from mlops_template.core.records import StageEvent
    from mlops_template.tooling.console import history_table
    from mlops_template.tooling.emulation import EmulatorUnavailable, emulated_release

    try:
        with tempfile.TemporaryDirectory() as workdir, console.status("releasing on moto"):
            outcome = emulated_release(workdir)
    except EmulatorUnavailable as exc:
        raise _fail(str(exc)) from exc
    for step in outcome["steps"]:
        _print_release(ReleaseResult.model_validate(step), step["to"])
    for env, events in outcome["history"].items():
        table = history_table(StageEvent.model_validate(e) for e in events)
        table.title = markup("{}: stage history", env)
        console.print(table)
    serving = ", ".join(
        f"{env} {version_label(version)}" for env, version in outcome["production"].items()
    )
    console.print(markup("production serves: {}", serving))


@pipeline_app.command("start")
def pipeline_start(
    data: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="CSV to ingest.")],
    model: ModelOption = None,
    promote_to: Annotated[
        str | None, typer.Option("--promote", help="Promote when registered.")
    ] = None,
) -> None:
    """Drop a file into incoming/ and run the pipeline on it (exit codes as for train)."""
    from mlops_template.core.pipeline import LocalPipeline

    name = _model(model)
    settings = _settings()
    backend = _backend(settings)
    key = arrival_key(data.name)
    content = data.read_bytes()
    backend.data.put(key, content)
    if settings.backend == "aws":
        import hashlib

        from mlops_template.infra import build_pipeline_starter

        token = hashlib.sha256(content).hexdigest()[:20]
        started = build_pipeline_starter(settings, backend).start(
            name, key, token=token, reason=f"mlops pipeline start by {actor()}"
        )
        verb = "started" if started.started else "already ran for this file:"
        console.print(markup("pipeline {} {}", verb, started.execution))
        return
    with console.status(markup("pipeline for {} on {}", name, key)):
        result = LocalPipeline(backend, actor=actor()).run(name, key, auto_promote=promote_to)
    _print_pipeline(result, uploaded=backend.data.uri(key), data=data)
    _pipeline_exit(result)


def _key_columns(value: str | None) -> list[str]:
    keys = [k.strip() for k in (value or "").split(",") if k.strip()]
    if len(set(keys)) != len(keys):
        raise typer.BadParameter("a key column is named twice")
    return keys


@app.command()
def predict(
    data: Annotated[
        Path,
        typer.Option(exists=True, dir_okay=False, help="CSV or Parquet file to score (any size)."),
    ],
    out: Annotated[Path, typer.Option(help="Predictions CSV to write.")],
    model: ModelOption = None,
    stage: Annotated[
        str | None,
        typer.Option(help="Score with the version this stage serves (default: production)."),
    ] = None,
    version: Annotated[
        int | None, typer.Option(min=1, help="Score with this version (instead of --stage).")
    ] = None,
    keys: Annotated[
        str | None,
        typer.Option(help="Input columns to copy into each prediction, comma-separated (ids)."),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Rows that fail validation, with line and reason (default: <out>.rejects.csv)."
        ),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option(min=1, help="Rows read, validated and scored at a time (memory).")
    ] = 10_000,
    strict_categories: Annotated[
        bool,
        typer.Option(
            help="Reject a row whose category the schema does not list (default: "
            "score it, as /predict does, and count it)."
        ),
    ] = False,
    input_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="csv or parquet (default: parquet for a .parquet file, else csv; "
            "Parquet needs the parquet extra).",
        ),
    ] = None,
) -> None:
    """Score a CSV or Parquet file with a registered version, in bounded memory (see
    docs/batch.md).

    Each row is validated like a /predict record; a row that fails goes to the rejects file with
    its line (CSV) or row (Parquet) number and why. Exit 3 when the file cannot be scored at all.
    """
    from rich.progress import BarColumn, DownloadColumn

    from mlops_template.core import batch_parquet
    from mlops_template.core.artifacts import ArtifactIntegrityError
    from mlops_template.core.batch import BatchInputError, resolve_model, score_file

    if stage is not None and version is not None:
        raise typer.BadParameter("give --stage or --version, not both")
    try:
        input_format = batch_parquet.input_format(data, input_format)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if input_format == batch_parquet.PARQUET:
        try:
            batch_parquet.require_pyarrow()
        except batch_parquet.ParquetUnavailable as exc:
            raise _fail(str(exc), ExitCode.USAGE) from None
    if stage is not None:
        stage = _known_stage(stage)
    key_list = _key_columns(keys)
    rejects_path = rejects or out.with_name(f"{out.stem}.rejects.csv")
    if len({data.resolve(), out.resolve(), rejects_path.resolve()}) < 3:
        raise typer.BadParameter("--data, --out and --rejects must be three different files")
    name = _model(model)
    backend = _backend()
    try:
        loaded = resolve_model(
            backend.registry, backend.artifacts, name, stage=stage, version=version
        )
    except ArtifactIntegrityError as exc:
        where = version_label(version) if version else (stage or "production")
        raise _fail(f"{name} {where}: {exc}") from None
    size = data.stat().st_size
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,  # a log or a pipe gets the summary alone
    ) as progress:
        task = progress.add_task(markup("scoring with {} v{}", name, loaded.version), total=size)

        def on_progress(rows: int, read: int) -> None:
            label = markup("scoring with {} v{}: {:,} rows", name, loaded.version, rows)
            progress.update(task, completed=read, description=label)

        try:
            summary = score_file(
                loaded,
                data,
                out,
                rejects_path,
                keys=key_list,
                chunk_rows=chunk_rows,
                strict_categories=strict_categories,
                on_progress=on_progress,
                input_format=input_format,
            )
        except BatchInputError as exc:
            raise _fail(str(exc), ExitCode.DATA_REJECTED) from None
    console.print(
        markup(
            "{} v{} ({}): {:,} rows, {:,} scored, {:,} rejected in {:.2f} s ({:,.0f} rows/s)",
            summary.model,
            summary.version,
            summary.stage,
            summary.rows,
            summary.scored,
            summary.rejected,
            summary.seconds,
            summary.rows_per_second,
        )
    )
    console.print(markup("predictions: {} (batch {})", out, summary.batch))
    if summary.rejected:
        console.print(markup("[yellow]rejects:[/] {}", rejects_path))
    for feature, count in sorted(summary.unknown_categories.items()):
        console.print(
            markup("[yellow]note:[/] {:,} rows scored with an unknown {}", count, feature)
        )


# A/B tests and the shadow report (tooling/abtest_cli.py; docs/abtest.md).
from mlops_template.tooling.abtest_cli import abtest_app, shadow_app  # noqa: E402

app.add_typer(abtest_app, name="abtest")
app.add_typer(shadow_app, name="shadow")

# Erasure, one record explained, the ML Test Score (tooling/ops_cli.py; docs/ml-test-score.md).
from mlops_template.tooling.ops_cli import (  # noqa: E402
    data_app,
    explain_command,
    readiness_command,
)

app.add_typer(data_app, name="data")
app.command("explain")(explain_command)
app.command("readiness")(readiness_command)

# The feature store (tooling/features_cli.py; docs/feature-store.md).
from mlops_template.tooling.features_cli import features_app  # noqa: E402

app.add_typer(features_app, name="features")

# A model's report as one HTML file (tooling/report_cli.py; docs/reports.md).
from mlops_template.tooling.report_cli import report_command  # noqa: E402

app.command("report")(report_command)
