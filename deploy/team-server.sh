#!/usr/bin/env bash
# Start a team MLflow tracking server with the mlflow-retrain promotion gate.
#
#   PostgreSQL for runs and the registry (the gate plugin enforces the champion rules for every
#   client and the UI), artifacts in S3, MLflow's basic-auth app for users and permissions.
#
#   Install: pip install ".[server]" (this package with mlflow[auth] and psycopg).
#
# Configure it with environment variables (never on the command line, where `ps` shows them):
#   MLFLOW_RETRAIN_DB_URI        postgresql://USER:PASSWORD@HOST:5432/DB   (required)
#   MLFLOW_RETRAIN_ARTIFACTS     s3://BUCKET/PREFIX                        (required)
#   MLFLOW_RETRAIN_ARTIFACT_MODE proxied (default: clients upload through the server, which
#                                alone holds S3 credentials) or direct (clients write to S3
#                                with their own credentials)
#   MLFLOW_RETRAIN_AUTH_DB_URI   database of users and permissions (default: the same database
#                                as the runs; give another to keep them apart)
#   MLFLOW_RETRAIN_AUTH          basic (default: MLflow's basic-auth app) or none (only behind
#                                a proxy that authenticates every request, e.g. oauth2-proxy)
#   MLFLOW_AUTH_ADMIN_PASSWORD   password of the first admin user "admin" (required with basic,
#                                >= 12 chars)
#   MLFLOW_FLASK_SERVER_SECRET_KEY  random secret for the UI's CSRF protection (required)
#   MLFLOW_RETRAIN_EVIDENCE_KEY_FILE  file of "<key id> <secret>" lines, mode 600 (the first
#                                signs, the others still verify: rotation), or
#   MLFLOW_RETRAIN_EVIDENCE_KEY  <key id>:<secret>  (one of the two is required: the gate
#                                promotes only on evidence signed with this key; give the same
#                                key to the pipeline, and to nobody else). Generate a secret:
#                                python -c "import secrets; print(secrets.token_hex(32))"
#   MLFLOW_RETRAIN_PIPELINE_USERS   the pipeline's accounts, comma-separated basic-auth users
#                                (e.g. pipeline,etl-bot): the only users besides admins whose
#                                evidence, reference and gate-data tags the gate's store
#                                accepts (docs/team-server.md, "The pipeline's accounts")
#   MLFLOW_RETRAIN_AUTH_CACHE_SECONDS   seconds a worker trusts a checked password (default 0:
#                                every request pays the password hash, ~0.14 s of CPU; 60 makes
#                                a cycle's few hundred requests cheap, but a changed password or
#                                a deleted user is honoured by other workers only after it)
#   MLFLOW_RETRAIN_HOST / _PORT / _WORKERS   default 0.0.0.0 / 5000 / 2
#                                (the server is ready once GET /health answers OK)
#   MLFLOW_S3_ENDPOINT_URL       for an S3-compatible store (MinIO, Ceph, ...); AWS_* as usual
#
# Usage: deploy/team-server.sh            (runs in the foreground; put it under systemd)
set -euo pipefail

: "${MLFLOW_RETRAIN_DB_URI:?set MLFLOW_RETRAIN_DB_URI=postgresql://user:password@host:5432/db}"
: "${MLFLOW_RETRAIN_ARTIFACTS:?set MLFLOW_RETRAIN_ARTIFACTS=s3://bucket/prefix}"
auth="${MLFLOW_RETRAIN_AUTH:-basic}"
case "$auth" in
  basic) : "${MLFLOW_AUTH_ADMIN_PASSWORD:?set MLFLOW_AUTH_ADMIN_PASSWORD (at least 12 characters)}" ;;
  none) ;;
  *) echo "team-server.sh: MLFLOW_RETRAIN_AUTH must be 'basic' or 'none', got '$auth'." >&2; exit 2 ;;
esac
: "${MLFLOW_FLASK_SERVER_SECRET_KEY:?set MLFLOW_FLASK_SERVER_SECRET_KEY to a long random string}"
if [ -z "${MLFLOW_RETRAIN_EVIDENCE_KEY_FILE:-}" ] && [ -z "${MLFLOW_RETRAIN_EVIDENCE_KEY:-}" ]; then
  echo "team-server.sh: set MLFLOW_RETRAIN_EVIDENCE_KEY_FILE (or MLFLOW_RETRAIN_EVIDENCE_KEY=<key id>:<secret>): without an evidence key anyone who may edit a model can forge its evidence (docs/team-server.md)." >&2
  exit 2
fi

case "$MLFLOW_RETRAIN_DB_URI" in
  postgresql://*|mysql*://*|mssql*://*) ;;
  *) echo "team-server.sh: MLFLOW_RETRAIN_DB_URI must be a postgresql://, mysql:// or mssql:// URI." >&2; exit 2 ;;
esac

if [ "$auth" = basic ] && [ -z "${MLFLOW_RETRAIN_PIPELINE_USERS:-}" ]; then
  echo "team-server.sh: MLFLOW_RETRAIN_PIPELINE_USERS is not set: the gate's store will accept evidence from admins only." >&2
fi
export MLFLOW_RETRAIN_PIPELINE_USERS="${MLFLOW_RETRAIN_PIPELINE_USERS:-}"

# mlflow server reads these variables itself, so no password appears in the process list.
export MLFLOW_BACKEND_STORE_URI="$MLFLOW_RETRAIN_DB_URI"
export MLFLOW_REGISTRY_STORE_URI="retrain+$MLFLOW_RETRAIN_DB_URI"

mode="${MLFLOW_RETRAIN_ARTIFACT_MODE:-proxied}"
case "$mode" in
  proxied)
    export MLFLOW_ARTIFACTS_DESTINATION="$MLFLOW_RETRAIN_ARTIFACTS"
    artifact_args=(--serve-artifacts) ;;
  direct)
    export MLFLOW_DEFAULT_ARTIFACT_ROOT="$MLFLOW_RETRAIN_ARTIFACTS"
    artifact_args=(--no-serve-artifacts) ;;
  *) echo "team-server.sh: MLFLOW_RETRAIN_ARTIFACT_MODE must be 'proxied' or 'direct', got '$mode'." >&2; exit 2 ;;
esac

app_args=()
if [ "$auth" = basic ]; then
  # The basic-auth app reads its settings from an ini file; write one the server alone can read.
  config_dir="$(mktemp -d)"
  trap 'rm -rf "$config_dir"' EXIT
  chmod 700 "$config_dir"
  cat > "$config_dir/basic_auth.ini" <<INI
[mlflow]
default_permission = READ
database_uri = ${MLFLOW_RETRAIN_AUTH_DB_URI:-$MLFLOW_RETRAIN_DB_URI}
admin_username = admin
admin_password = $MLFLOW_AUTH_ADMIN_PASSWORD
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = ${MLFLOW_RETRAIN_AUTH_CACHE_SECONDS:-0}
INI
  chmod 600 "$config_dir/basic_auth.ini"
  export MLFLOW_AUTH_CONFIG_PATH="$config_dir/basic_auth.ini"
  app_args=(--app-name basic-auth)
fi

mlflow server \
  --host "${MLFLOW_RETRAIN_HOST:-0.0.0.0}" \
  --port "${MLFLOW_RETRAIN_PORT:-5000}" \
  --workers "${MLFLOW_RETRAIN_WORKERS:-2}" \
  "${app_args[@]}" \
  "${artifact_args[@]}"
