"""The ``mlflow-retrain`` command line: parse options, call the pipeline, map errors to exits.

Exit codes: 0 done (also "no drift"), 1 failure or an open circuit breaker, 2 usage error
(bad options or an invalid ``retrain.yaml``). Errors print one line on stderr.

Each command parses its options, calls one function, writes ``--json-out`` and prints the
result's ``format_*`` text, which lives beside the function that produced the result.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mlflow_retrain import _errors as errors
from mlflow_retrain._version import __version__
from mlflow_retrain.config import RetrainConfig, load_config
from mlflow_retrain.redaction import redact_text
from mlflow_retrain.tracking_check import TrackingServerUnreachable, check_tracking_server

if TYPE_CHECKING:
    from mlflow.exceptions import MlflowException

__all__ = ["main"]

EXIT_FAILURE = 1
EXIT_USAGE = 2
#: Commands that need no tracking server unless their data lives in one.
_OFFLINE_COMMANDS = frozenset({"profile"})

F = TypeVar("F", bound=Callable[..., Any])


def _blank_to_none(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """MLproject entry points pass unset optional parameters as empty strings."""
    return None if value == "" else value


class _OptionalInt(click.ParamType):
    """A whole number at or above ``minimum``, or an empty string meaning "not set"."""

    name = "integer"

    def __init__(self, minimum: int) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or value == "" or isinstance(value, int):
            return value or None
        try:
            number = int(value)
        except ValueError:
            self.fail(f"{value!r} is not a whole number.", param, ctx)
        if number < self.minimum:
            self.fail(f"{number} is smaller than the minimum {self.minimum}.", param, ctx)
        return number


class _OptionalFloat(click.ParamType):
    """A number above ``minimum``, or an empty string meaning "not set"."""

    name = "number"

    def __init__(self, minimum: float) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or value == "":
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number.", param, ctx)
        if number <= self.minimum:
            self.fail(f"{number:g} must be greater than {self.minimum:g}.", param, ctx)
        return number


class _OptionalBool(click.ParamType):
    """``true``/``false`` (and click's other spellings), or an empty string meaning "not set"."""

    name = "boolean"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or value == "" or isinstance(value, bool):
            return value if isinstance(value, bool) else None
        return click.BOOL.convert(value, param, ctx)


_create_option = click.option(
    "--create",
    type=_OptionalBool(),
    is_flag=False,
    flag_value=True,
    default=None,
    help="Create the registered model if it does not exist (model.create); without it a "
    "name that does not exist fails.",
)
_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    callback=_blank_to_none,
    help="retrain.yaml with settings (default: $MLFLOW_RETRAIN_CONFIG, else built-in defaults).",
)
_experiment_option = click.option(
    "--experiment-name",
    default=None,
    callback=_blank_to_none,
    help="MLflow experiment to log to (default: $MLFLOW_EXPERIMENT_NAME or the default one).",
)
_json_out_option = click.option(
    "--json-out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    callback=_blank_to_none,
    help="Write the result as JSON to this file.",
)


def _model_option(*, required: bool = True) -> Callable[[F], F]:
    """``--model``: required, or defaulting to ``model_name`` in ``retrain.yaml``."""
    if required:
        return click.option("--model", "model_name", required=True, help="Registered model name.")
    return click.option(
        "--model",
        "model_name",
        default=None,
        callback=_blank_to_none,
        help="Registered model (default: model_name in retrain.yaml).",
    )


def _target_option(help: str) -> Callable[[F], F]:
    """``--target``, the label column; unset (``None``) unless given."""
    return click.option("--target", default=None, callback=_blank_to_none, help=help)


def _challenger_option(help: str) -> Callable[[F], F]:
    """``--challenger``, a version number or alias (default: the alias ``challenger``)."""
    return click.option(
        "--challenger",
        default="challenger",
        show_default=True,
        callback=_blank_to_none,
        help=help,
    )


def _version_option(*, required: bool, help: str) -> Callable[[F], F]:
    """``--version``, a version number or alias."""
    if required:
        return click.option("--version", required=True, help=help)
    return click.option("--version", default=None, callback=_blank_to_none, help=help)


def _reason_option(help: str) -> Callable[[F], F]:
    """``--reason``, the audited reason of a manual alias move."""
    return click.option("--reason", required=True, help=help)


def _handle_errors(func: F) -> F:
    """Turn domain errors into one line on stderr and the documented exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            if func.__name__ not in _OFFLINE_COMMANDS:
                check_tracking_server()
            return func(*args, **kwargs)
        except TrackingServerUnreachable as err:
            _fail(err.message, EXIT_FAILURE, record=False)
        except errors.InvalidConfigError as err:
            _fail(err.message, EXIT_USAGE)
        except Exception as err:
            # Named here, not at the top: importing mlflow costs a second that --help and a
            # usage error need not pay.
            from mlflow.exceptions import MlflowException

            if not isinstance(err, MlflowException):
                raise
            _fail(_explain(err), EXIT_FAILURE)

    return wrapper  # type: ignore[return-value]


_HTTP_STATUS = re.compile(r"endpoint (\S+) failed with error code (401|403)\b")


def _explain(err: MlflowException) -> str:
    """An MLflow error's message; a server's refusal of the user says what to do about it."""
    match = _HTTP_STATUS.search(err.message)
    if match is None:
        return err.message
    endpoint, status = match.groups()
    if status == "401":
        return (
            f"The tracking server wants a login (HTTP 401 on {endpoint}): set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD for your user."
        )
    resource, permission = _needed_permission(endpoint)
    return (
        f"The tracking server denied permission (HTTP 403 on {endpoint}): this user lacks "
        f"{permission} on the {resource}. Ask an admin to grant it (docs/team-server.md, "
        "'Permissions', has the exact call) or log in as a user who has it."
    )


def _needed_permission(endpoint: str) -> tuple[str, str]:
    """The resource a REST endpoint acts on, and the permission a write to it needs.

    MLflow's basic-auth app checks runs, logged models, traces and artifacts against their
    experiment, and model versions and aliases against their registered model.
    """
    if "/registered-models" in endpoint or "/model-versions" in endpoint:
        name = "registered model"
        if "/registered-models/alias" in endpoint:
            # The gate lets EDIT move the challenger; forcing champion is an override.
            return name, "EDIT (MANAGE for `mlflow-retrain override`)"
        return name, "EDIT"
    return "experiment", "EDIT"


def _fail(message: str, code: int, *, record: bool = True) -> None:
    first_line = redact_text(" ".join(message.split()))
    if record:
        from mlflow_retrain.pipeline.steps import record_project_run_failure

        record_project_run_failure(first_line)
    click.echo(f"mlflow-retrain: error: {first_line}", err=True)
    sys.exit(code)


def _load(config_path: str | None, overrides: Mapping[str, Any] | None = None) -> RetrainConfig:
    return load_config(config_path, overrides=overrides)


def _write_json(path: str | None, data: Mapping[str, Any]) -> None:
    if path is None:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _done(json_out: str | None, data: Mapping[str, Any], text: str) -> None:
    """Write the result to ``--json-out`` (if given) and print its text."""
    _write_json(json_out, data)
    click.echo(text)


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlflow-retrain")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Keep production models fresh without letting a bad model through."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # Our own progress lines (tuning trials, say) show by default; Optuna's per-trial INFO
    # lines would repeat them.
    logging.getLogger("mlflow_retrain.tuning").setLevel(min(level, logging.INFO))
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING if verbose < 2 else optuna.logging.DEBUG)


@main.command()
@click.option("--reference", required=True, help="Reference table (CSV/Parquet) or profile.")
@click.option("--current", required=True, help="The new batch (CSV/Parquet).")
@_target_option("Label column (tested for label shift; default: target in retrain.yaml).")
@click.option(
    "--ignore",
    multiple=True,
    help="Columns to leave out; comma-separated or repeated.",
)
@click.option(
    "--require-labels",
    type=click.BOOL,
    default=False,
    show_default=True,
    help="true: fail (circuit breaker) unless the batch has the target with 2+ classes.",
)
@_experiment_option
@_config_option
@_json_out_option
@_handle_errors
def drift(
    reference: str,
    current: str,
    target: str | None,
    ignore: tuple[str, ...],
    require_labels: bool,
    experiment_name: str | None,
    config_path: str | None,
    json_out: str | None,
) -> None:
    """Validate a batch and test it for data drift against a reference; log an MLflow run."""
    from mlflow_retrain.pipeline.drift import format_drift, run_drift

    report = run_drift(
        reference,
        current,
        config=_load(config_path),
        target=target,
        ignore=_split(ignore),
        require_labels=require_labels,
        experiment_name=experiment_name,
    )
    _done(json_out, report.to_dict(), format_drift(report))


@main.command()
@click.option("--data", required=True, help="Reference table (CSV/Parquet) to summarise.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Profile JSON.")
@_target_option("Label column; must be in the table (checked, then profiled like every column).")
@click.option(
    "--max-points",
    type=_OptionalInt(16),
    default=None,
    help="Sketch size per numeric column (profile.max_points, default 2048).",
)
@_config_option
@_json_out_option
@_handle_errors
def profile(
    data: str,
    out: str,
    target: str | None,
    max_points: int | None,
    config_path: str | None,
    json_out: str | None,
) -> None:
    """Summarise a reference table into a compact, mergeable profile."""
    from mlflow_retrain.pipeline.drift import format_profile, run_profile

    config = _load(config_path, {"profile.max_points": max_points})
    result = run_profile(data, out, config=config, target=target)
    _done(json_out, result.to_dict(), format_profile(result))


@main.command()
@click.option("--train", required=True, help="Training data (history plus new data).")
@_model_option()
@_target_option("Label column (default: config).")
@click.option(
    "--timestamp",
    default=None,
    callback=_blank_to_none,
    help="Time column: time-ordered validation and gate split (default: config).",
)
@click.option("--n-trials", type=_OptionalInt(1), default=None, help="Optuna trials in total.")
@click.option(
    "--timeout", type=_OptionalFloat(0.0), default=None, help="Stop starting trials after N s."
)
@click.option(
    "--storage",
    default=None,
    callback=_blank_to_none,
    help="Optuna storage URL (sqlite:///..., postgresql://...); default: in memory.",
)
@click.option(
    "--study-name", default=None, callback=_blank_to_none, help="Study name; reuse to resume."
)
@click.option(
    "--workers", type=_OptionalInt(1), default=None, help="Tuning processes sharing the study."
)
@click.option(
    "--trigger", default="manual", show_default=True, help="Why this retrain happens (a tag)."
)
@_experiment_option
@_config_option
@_json_out_option
@_handle_errors
def retrain(
    train: str,
    model_name: str,
    target: str | None,
    timestamp: str | None,
    n_trials: int | None,
    timeout: float | None,
    storage: str | None,
    study_name: str | None,
    workers: int | None,
    trigger: str,
    experiment_name: str | None,
    config_path: str | None,
    json_out: str | None,
) -> None:
    """Tune and train a new model with Optuna; register it with the alias `challenger`."""
    from mlflow_retrain.pipeline.retrain import format_retrain, run_retrain

    config = _load(
        config_path,
        {
            "target": target,
            "timestamp": timestamp,
            "tuning.n_trials": n_trials,
            "tuning.timeout": timeout,
            "tuning.storage": storage,
            "tuning.study_name": study_name,
            "tuning.workers": workers,
        },
    )
    result = run_retrain(
        train,
        model_name=model_name,
        config=config,
        experiment_name=experiment_name,
        trigger=trigger,
    )
    _done(json_out, result.to_dict(), format_retrain(result))


@main.command("tune-worker")
@click.option("--study-name", required=True, help="The study to join.")
@click.option(
    "--storage",
    default=None,
    callback=_blank_to_none,
    help="Optuna storage URL (default: $MLFLOW_RETRAIN_TUNING__STORAGE or tuning.storage).",
)
@click.option(
    "--n-trials", type=_OptionalInt(1), default=None, help="Stop at this many finished trials."
)
@_config_option
@_json_out_option
@_handle_errors
def tune_worker(
    study_name: str,
    storage: str | None,
    n_trials: int | None,
    config_path: str | None,
    json_out: str | None,
) -> None:
    """Join a running `retrain` study as one more tuning process (any machine)."""
    from mlflow_retrain.pipeline.retrain import format_tuning, run_tune_worker

    config = _load(config_path, {"tuning.storage": storage})
    if not config.tuning.storage:  # a missing option, though it may come from the environment
        raise errors.InvalidConfigError(
            "tune-worker needs the study's storage: pass --storage or set "
            "MLFLOW_RETRAIN_TUNING__STORAGE (an in-memory study cannot be shared)."
        )
    result = run_tune_worker(study_name, storage=config.tuning.storage, n_trials=n_trials)
    _done(json_out, result.to_dict(), format_tuning(result))


@main.command()
@_model_option()
@_challenger_option("Version number or alias of the challenger.")
@click.option(
    "--data",
    default=None,
    callback=_blank_to_none,
    help="Rows to compare on (default: the challenger's recorded gate split).",
)
@_target_option("Label column (default: the one the challenger was trained on).")
@_experiment_option
@_config_option
@_json_out_option
@_handle_errors
def compare(
    model_name: str,
    challenger: str | None,
    data: str | None,
    target: str | None,
    experiment_name: str | None,
    config_path: str | None,
    json_out: str | None,
) -> None:
    """Test the challenger against the champion; write the evidence on the version."""
    from mlflow_retrain.pipeline.compare import format_comparison, run_compare

    result = run_compare(
        model_name,
        challenger=challenger or "challenger",
        data=data,
        target=target,
        config=_load(config_path),
        experiment_name=experiment_name,
    )
    _done(json_out, result.to_dict(), format_comparison(result))


@main.command()
@_model_option()
@click.option("--batch", required=True, help="A labelled batch of live data (CSV/Parquet).")
@_challenger_option("Version number or alias of the version in shadow.")
@_target_option("Label column (default: the one the challenger was trained on).")
@_experiment_option
@_config_option
@_json_out_option
@_handle_errors
def shadow(
    model_name: str,
    batch: str,
    challenger: str | None,
    target: str | None,
    experiment_name: str | None,
    config_path: str | None,
    json_out: str | None,
) -> None:
    """Score a labelled batch with champion and challenger; promote, reject or wait."""
    from mlflow_retrain.pipeline.shadow import format_shadow, run_shadow

    result = run_shadow(
        model_name,
        batch=batch,
        challenger=challenger or "challenger",
        target=target,
        config=_load(config_path),
        experiment_name=experiment_name,
    )
    _done(json_out, result.to_dict(), format_shadow(result))


@main.command("run")
@click.option(
    "--batch",
    default=None,
    callback=_blank_to_none,
    help="The new batch (default: the newest in the configured history).",
)
@_model_option(required=False)
@_create_option
@_experiment_option
@_config_option
@_json_out_option
@_handle_errors
def run_command(
    batch: str | None,
    model_name: str | None,
    create: bool | None,
    experiment_name: str | None,
    config_path: str | None,
    json_out: str | None,
) -> None:
    """One cycle of the loop: check the batch, retrain, compare and promote when triggered."""
    from mlflow_retrain.pipeline.loop import format_cycle, run_cycle

    result = run_cycle(
        _load(config_path, {"model.create": create}),
        batch=batch,
        model_name=model_name,
        experiment_name=experiment_name,
    )
    _done(json_out, result.to_dict(), format_cycle(result))


@main.command()
@click.option(
    "--history",
    default=None,
    callback=_blank_to_none,
    help="Folder or s3:// prefix of the batches (default: history.source in retrain.yaml).",
)
@click.option(
    "--start",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="First batch to check (1-based); earlier batches are only history.",
)
@_model_option(required=False)
@_create_option
@_experiment_option
@_config_option
@_json_out_option
@_handle_errors
def replay(
    history: str | None,
    start: int,
    model_name: str | None,
    create: bool | None,
    experiment_name: str | None,
    config_path: str | None,
    json_out: str | None,
) -> None:
    """Feed every batch of the history through the loop, oldest first; print the timeline."""
    from mlflow_retrain.pipeline.timeline import format_replay, rows_to_dicts
    from mlflow_retrain.pipeline.timeline import replay as do_replay

    overrides: dict[str, Any] = {
        "history.source": history,
        "history.uris": [] if history else None,
        "model.create": create,
    }
    config = _load(config_path, overrides)
    rows = do_replay(config, model_name=model_name, experiment_name=experiment_name, start=start)
    _done(json_out, {"timeline": rows_to_dicts(rows)}, format_replay(rows))


@main.command()
@_model_option()
@_json_out_option
@_handle_errors
def resume(model_name: str, json_out: str | None) -> None:
    """Clear a halt set by the loop after repeated rejections (a person's decision)."""
    from mlflow_retrain.registry.halt import format_resume
    from mlflow_retrain.registry.halt import resume as do_resume

    result = do_resume(model_name)
    _done(json_out, result.to_dict(), format_resume(result))


@main.group()
def policy() -> None:
    """Show or set a registered model's promotion policy."""


@policy.command("show")
@_model_option()
@click.option(
    "--task",
    type=click.Choice(["classification", "regression"]),
    default="classification",
    show_default=True,
    help="Task for the default policy, when the model stores none.",
)
@_json_out_option
@_handle_errors
def policy_show(model_name: str, task: str, json_out: str | None) -> None:
    """Print the policy the gate applies to MODEL (stored, or the task default)."""
    from mlflow.tracking import MlflowClient

    from mlflow_retrain.registry.policies import format_policy, load_policy

    found = load_policy(MlflowClient(), model_name, task=task)
    _done(json_out, found.to_dict(), format_policy(found))


@policy.command("set")
@_model_option()
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Policy YAML (or JSON) file.",
)
@_json_out_option
@_handle_errors
def policy_set(model_name: str, path: str, json_out: str | None) -> None:
    """Validate a policy file and store it on MODEL (tag mlflow_retrain.policy)."""
    from mlflow_retrain.registry.lifecycle import set_policy
    from mlflow_retrain.registry.policies import format_stored_policy, policy_from_file

    found = policy_from_file(path)
    set_policy(model_name, found)
    _done(json_out, found.to_dict(), format_stored_policy(model_name, found))


@main.command()
@_model_option()
@_version_option(required=False, help="Version or alias to promote (default: the challenger).")
@_json_out_option
@_handle_errors
def promote(model_name: str, version: str | None, json_out: str | None) -> None:
    """Move `champion` to the challenger, if the promotion gate accepts its evidence."""
    from mlflow_retrain.registry.lifecycle import format_move
    from mlflow_retrain.registry.lifecycle import promote as do_promote

    move = do_promote(model_name, version=version)
    _done(json_out, move.to_dict(), format_move(move))


@main.command()
@_model_option()
@_reason_option("Why production goes back (audited).")
@_json_out_option
@_handle_errors
def rollback(model_name: str, reason: str, json_out: str | None) -> None:
    """Move `champion` back to `previous-champion`."""
    from mlflow_retrain.registry.lifecycle import format_move
    from mlflow_retrain.registry.lifecycle import rollback as do_rollback

    move = do_rollback(model_name, reason=reason)
    _done(json_out, move.to_dict(), format_move(move))


@main.command()
@_model_option()
@_version_option(required=True, help="Version to force to champion.")
@_reason_option("Why the evidence rules are bypassed (audited).")
@_json_out_option
@_handle_errors
def override(model_name: str, version: str, reason: str, json_out: str | None) -> None:
    """Force a version to `champion` without evidence; audited, reason required."""
    from mlflow_retrain.registry.lifecycle import format_move
    from mlflow_retrain.registry.lifecycle import override as do_override

    move = do_override(model_name, version=version, reason=reason)
    _done(json_out, move.to_dict(), format_move(move))


@main.command()
@_model_option()
@_version_option(required=True, help="The version to adopt (registered by anyone, any flavor).")
@click.option(
    "--reference",
    required=True,
    help="Labelled reference rows: its drift reference and gate split from now on.",
)
@_target_option("Label column (default: `target` in retrain.yaml).")
@click.option(
    "--reason",
    default=None,
    callback=_blank_to_none,
    help="Required when the model has a champion: the adoption is an audited override.",
)
@_experiment_option
@_config_option
@_json_out_option
@_handle_errors
def adopt(
    model_name: str,
    version: str,
    reference: str,
    target: str | None,
    reason: str | None,
    experiment_name: str | None,
    config_path: str | None,
    json_out: str | None,
) -> None:
    """Make a version someone else registered the champion: its reference profile, metrics
    and gate split, then the gate (first deployment, or an audited override)."""
    from mlflow_retrain.pipeline.adopt import format_adopt, run_adopt

    result = run_adopt(
        model_name,
        version,
        reference=reference,
        target=target,
        reason=reason,
        config=_load(config_path),
        experiment_name=experiment_name,
    )
    _done(json_out, result.to_dict(), format_adopt(result))


@main.command()
@_model_option()
@_json_out_option
@_handle_errors
def audit(model_name: str, json_out: str | None) -> None:
    """Print MODEL's audit trail, oldest first, and check each promotion's evidence signature.

    Exits 1 when the evidence of a promotion does not verify (forged, tampered, for another
    version, or signed with a key id this keyring lacks); --json-out is written either way.
    """
    from mlflow_retrain.registry.audit import format_audit, read_audit

    trail = read_audit(model_name)
    _done(json_out, trail.to_dict(), format_audit(trail))
    if trail.failure is not None:
        _fail(trail.failure, EXIT_FAILURE)


def _model_ref(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """``--model NAME@ALIAS`` or ``NAME/VERSION``, parsed; anything else is a usage error."""
    from mlflow_retrain.registry.audit import parse_model_ref

    try:
        return parse_model_ref(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err


@main.command()
@click.option(
    "--model",
    "ref",
    required=True,
    callback=_model_ref,
    help="The version to serve: NAME@ALIAS (e.g. fraud@champion) or NAME/VERSION.",
)
@_json_out_option
@_handle_errors
def verify(ref: Any, json_out: str | None) -> None:
    """Check that a version's artifacts match its signed evidence, before a deploy serves it.

    Needs the evidence key (MLFLOW_RETRAIN_EVIDENCE_KEY or _KEY_FILE); writes nothing to the
    registry. Exits 1 with one line naming what differs; --json-out is written either way.
    """
    from mlflow_retrain.registry.audit import format_verification, verify_version

    # A deploy job's log gets one line, not MLflow's download progress bar (unless asked for).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    result = verify_version(ref)
    _write_json(json_out, result.to_dict())
    if result.problem is not None:
        _fail(result.problem, EXIT_FAILURE)
    click.echo(format_verification(result))


if __name__ == "__main__":  # pragma: no cover
    main()
