"""`mlops features ...`: the feature store's definitions, ingest, materialization, training
sets and the Feast export (docs/feature-store.md)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from mlops_template.core.backend import Backend
    from mlops_template.core.features.definitions import FeatureRepo

features_app = typer.Typer(
    help="The feature store: definitions, ingest, online materialization, point-in-time "
    "training sets (docs/feature-store.md).",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)
LINEAGE_PREFIX = "features/lineage"

RepoOption = Annotated[
    Path,
    typer.Option(
        "--repo",
        envvar="MLOPS_FEATURE_REPO",
        help="The Python file declaring the entities and feature views (default: features.py, "
        "or MLOPS_FEATURE_REPO).",
    ),
]


def _repo(path: Path) -> FeatureRepo:
    from mlops_template.core.features.definitions import DefinitionError, load_repo

    try:
        return load_repo(path)
    except DefinitionError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None


def _backend() -> Backend:
    from mlops_template.core.settings import get_settings
    from mlops_template.infra import build_backend

    return build_backend(get_settings())


def lineage(backend: Backend, view: str, version: str) -> list[dict[str, Any]]:
    keys = sorted(backend.data.keys(f"{LINEAGE_PREFIX}/{view}/{version}/"))
    return [json.loads(backend.data.get(k)) for k in keys]


@features_app.command("list")
def list_views(repo: RepoOption = Path("features.py")) -> None:
    """Every feature view: its version (content hash), entity, features, TTL and transform."""
    definitions = _repo(repo)
    table = Table("view", "entity (join key)", "features", "ttl", "transform")
    table.add_column("version", no_wrap=True, min_width=16)
    for view in sorted(definitions.views.values(), key=lambda v: v.name):
        spec = view.definition()
        table.add_row(
            view.name,
            f"{view.entity.name} ({view.entity.join_key})",
            ", ".join(f"{f.name}:{f.dtype}" for f in view.features),
            str(view.ttl),
            (spec["transform"] or {}).get("name", "-"),
            view.version,
        )
    console.print(table)


@features_app.command("show")
def show(
    view: Annotated[str, typer.Argument(help="A feature view's name.")],
    repo: RepoOption = Path("features.py"),
) -> None:
    """A view's definition, version and lineage (each ingest: source file, its SHA-256, rows,
    code version)."""
    from mlops_template.core.features.definitions import DefinitionError

    definitions = _repo(repo)
    try:
        found = definitions.view(view)
    except DefinitionError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    out = {
        "version": found.version,
        "definition": found.definition(),
        "lineage": lineage(_backend(), found.name, found.version),
    }
    console.print_json(json.dumps(out))


@features_app.command("ingest")
def ingest_file(
    view: Annotated[str, typer.Argument(help="The feature view the file's rows are for.")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or Parquet.")],
    repo: RepoOption = Path("features.py"),
    online: Annotated[bool, typer.Option(help="Also update the online store.")] = True,
) -> None:
    """Validate a source file against the view, append it to the offline history and update
    the online store. A file with a bad row is refused whole (exit 3), nothing written."""
    from mlops_template.core.features.ingest import IngestError, ingest, read_source_file
    from mlops_template.core.features.offline import OfflineStore

    definitions = _repo(repo)
    found = definitions.view(view)
    data = file.read_bytes()
    backend = _backend()
    try:
        result = ingest(
            found,
            read_source_file(data, file.name, text_columns=[found.entity.join_key]),
            OfflineStore(backend.data),
            backend.online_features if online else None,
        )
    except IngestError as exc:
        err.print(f"[red]refused:[/] {exc}")
        raise typer.Exit(3) from None
    record_lineage(backend, found.name, found.version, file.name, data, result.rows)
    console.print(
        f"{found.name} {found.version}: {result.rows} rows appended in "
        f"{len(result.offline_keys)} file(s); {result.online_written} online record(s) updated"
    )


def record_lineage(
    backend: Backend, view: str, version: str, source: str, data: bytes, rows: int
) -> None:
    from mlops_template.core.features.offline import now_ms
    from mlops_template.core.records import utc_now
    from mlops_template.training.provenance import code_version

    at = now_ms()
    entry = {
        "at": utc_now(),
        "source": source,
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "rows": rows,
        "code_version": code_version(),
    }
    backend.data.put(
        f"{LINEAGE_PREFIX}/{view}/{version}/{at:013d}.json",
        json.dumps(entry).encode(),
        content_type="application/json",
    )


@features_app.command("materialize")
def materialize_views(
    views: Annotated[list[str] | None, typer.Argument(help="Views (default: all).")] = None,
    repo: RepoOption = Path("features.py"),
) -> None:
    """Each entity's latest value from the offline history into the online store (an older
    record never replaces a newer one)."""
    from mlops_template.core.features.ingest import materialize
    from mlops_template.core.features.offline import OfflineStore

    definitions = _repo(repo)
    backend = _backend()
    if backend.online_features is None:
        err.print("[red]error:[/] no online store configured (MLOPS_FEATURE_TABLE)")
        raise typer.Exit(1)
    offline = OfflineStore(backend.data)
    for name in views or sorted(definitions.views):
        view = definitions.view(name)
        written = materialize(view, offline, backend.online_features)
        console.print(f"{view.name} {view.version}: {written} online record(s) updated")


@features_app.command("training-set")
def training_set(
    entities: Annotated[
        Path,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="CSV or Parquet: the join key, event_timestamp, and any other columns (the "
            "label, request-time features).",
        ),
    ],
    view: Annotated[list[str], typer.Option("--view", help="A feature view (repeatable).")],
    output: Annotated[Path, typer.Option(help="The training set (CSV).")],
    repo: RepoOption = Path("features.py"),
    keep_keys: Annotated[
        bool, typer.Option(help="Keep the join key and event_timestamp columns.")
    ] = False,
) -> None:
    """A point-in-time correct training set: every entity row, with each view's features as
    known at its timestamp (nulls where none was yet). Its manifest (views, versions, the
    entity table's hash) is stored under the output's SHA-256, the data hash of the model
    version trained from it, so serving knows which features to look up."""
    import pyarrow.csv as pacsv

    from mlops_template.core.features.offline import (
        OfflineStore,
        TrainingSetError,
        build_training_set,
        entity_table_from_bytes,
        manifest_json,
    )
    from mlops_template.core.features.serving import manifest_key

    definitions = _repo(repo)
    views = [definitions.view(v) for v in view]
    data = entities.read_bytes()
    backend = _backend()
    try:
        built = build_training_set(
            OfflineStore(backend.data),
            entity_table_from_bytes(
                data, entities.name, join_keys=[v.entity.join_key for v in views]
            ),
            views,
            entity_sha256=hashlib.sha256(data).hexdigest(),
            keep_keys=keep_keys,
        )
    except TrainingSetError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    sink = io.BytesIO()
    pacsv.write_csv(built.table, sink)
    csv = sink.getvalue()
    output.write_bytes(csv)
    digest = hashlib.sha256(csv).hexdigest()
    manifest = {**built.manifest, "output": output.name, "sha256": digest}
    backend.artifacts.put(
        manifest_key(digest), manifest_json(manifest), content_type="application/json"
    )
    nulls = {c: built.table.column(c).null_count for c in built.table.column_names}
    console.print(
        f"{built.table.num_rows} rows (every entity row) -> {output} (sha256 {digest[:12]}); "
        + ", ".join(f"{v['name']} {v['version']}" for v in built.manifest["views"])
    )
    missing = {c: n for c, n in nulls.items() if n}
    if missing:
        console.print(f"nulls (no value known yet, deleted or older than the TTL): {missing}")


@features_app.command("export-feast")
def export_feast(
    directory: Annotated[
        Path, typer.Argument(file_okay=False, help="Where to write the Feast repository.")
    ],
    repo: RepoOption = Path("features.py"),
    project: Annotated[str, typer.Option(help="Feast project name.")] = "mlops",
) -> None:
    """A Feast repository (feature_store.yaml + definitions) over the same offline Parquet."""
    from mlops_template.core.features.feast_export import feast_files

    backend = _backend()
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in feast_files(
        _repo(repo), backend.data.uri("features/offline"), project
    ).items():
        (directory / name).write_text(text)
        console.print(f"wrote {directory / name}")


@features_app.command("manifest")
def manifest(
    version: Annotated[int, typer.Argument(help="A registered model version.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model name.")] = None,
) -> None:
    """The training set a model version was trained from: its views, their versions, the
    entity table's SHA-256 and the history's write time (found by the version's data_sha256)."""
    from mlops_template.core.features.serving import manifest_key
    from mlops_template.core.ports import BlobNotFound
    from mlops_template.core.settings import get_settings

    backend = _backend()
    name = model or get_settings().model_name
    record = backend.registry.get(name, version)
    try:
        found = backend.artifacts.get(manifest_key(record.data_sha256))
    except BlobNotFound:
        err.print(f"{name} v{version} was not trained from a feature-store training set")
        raise typer.Exit(1) from None
    console.print_json(found.decode())
