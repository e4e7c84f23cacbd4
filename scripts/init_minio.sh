#!/usr/bin/env bash
# Prepare a MinIO server for mlstack with the MinIO client `mc`:
#   - the buckets raw-data, processed-data, mlflow-artifacts, models, dvc-store
#   - versioning on dvc-store and models (DVC `version_aware`, model history)
#   - a scoped user (MLflow, DVC) whose policy only reaches those buckets
# No bucket is made public. Safe to re-run. Used by the minio-init service of
# docker-compose.yml and runnable by hand against any MinIO:
#
#   MINIO_ENDPOINT=https://minio.example.org \
#   MINIO_ROOT_USER=... MINIO_ROOT_PASSWORD=... \
#   MINIO_SERVICE_ACCESS_KEY=... MINIO_SERVICE_SECRET_KEY=... \
#   scripts/init_minio.sh
set -euo pipefail

: "${MINIO_ENDPOINT:=http://127.0.0.1:9000}"
: "${MINIO_ROOT_USER:?MINIO_ROOT_USER is required}"
: "${MINIO_ROOT_PASSWORD:?MINIO_ROOT_PASSWORD is required}"
: "${MINIO_SERVICE_ACCESS_KEY:?MINIO_SERVICE_ACCESS_KEY is required}"
: "${MINIO_SERVICE_SECRET_KEY:?MINIO_SERVICE_SECRET_KEY is required}"
BUCKETS=${MLSTACK_BUCKETS:-"raw-data processed-data mlflow-artifacts models dvc-store"}
VERSIONED_BUCKETS=${MLSTACK_VERSIONED_BUCKETS:-"dvc-store models"}
POLICY_NAME=${MLSTACK_POLICY_NAME:-mlstack-readwrite}
ALIAS=mlstack

fail() { echo "init_minio: $*" >&2; exit 1; }
trap 'fail "failed at line $LINENO: $BASH_COMMAND"' ERR

command -v mc >/dev/null || fail "the MinIO client 'mc' is not on PATH"
[ "$MINIO_SERVICE_ACCESS_KEY" != "$MINIO_ROOT_USER" ] \
  || fail "MINIO_SERVICE_ACCESS_KEY must differ from MINIO_ROOT_USER (the services must not use root)"

# A private mc config dir: the root credentials never land in ~/.mc.
MC_CONFIG_DIR=$(mktemp -d)
export MC_CONFIG_DIR
trap 'rm -rf "$MC_CONFIG_DIR"' EXIT

mc alias set "$ALIAS" "$MINIO_ENDPOINT" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
for attempt in $(seq 30); do
  mc ready "$ALIAS" >/dev/null 2>&1 && break
  [ "$attempt" -lt 30 ] || fail "MinIO at $MINIO_ENDPOINT is not ready after 30s"
  sleep 1
done

for bucket in $BUCKETS; do
  mc mb --ignore-existing "$ALIAS/$bucket"
done
for bucket in $VERSIONED_BUCKETS; do
  mc version enable "$ALIAS/$bucket"
done

# Policy: list/locate the stack's buckets and read/write their objects; no
# admin actions, no other buckets.
bucket_arns=() object_arns=()
for bucket in $BUCKETS; do
  bucket_arns+=("\"arn:aws:s3:::$bucket\"")
  object_arns+=("\"arn:aws:s3:::$bucket/*\"")
done
join() { local IFS=,; echo "$*"; }
policy_file="$MC_CONFIG_DIR/policy.json"
cat >"$policy_file" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:ListBucket",
                 "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"],
      "Resource": [$(join "${bucket_arns[@]}")]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject",
                 "s3:DeleteObject", "s3:DeleteObjectVersion",
                 "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      "Resource": [$(join "${object_arns[@]}")]
    }
  ]
}
JSON
mc admin policy create "$ALIAS" "$POLICY_NAME" "$policy_file"   # creates or updates
mc admin user add "$ALIAS" "$MINIO_SERVICE_ACCESS_KEY" "$MINIO_SERVICE_SECRET_KEY"
# `attach` fails when the policy is already attached: check first so that
# re-runs succeed while real errors still stop the script.
user_info=$(mc admin user info "$ALIAS" "$MINIO_SERVICE_ACCESS_KEY")
if ! grep -qw -- "$POLICY_NAME" <<<"$user_info"; then
  mc admin policy attach "$ALIAS" "$POLICY_NAME" --user "$MINIO_SERVICE_ACCESS_KEY"
fi

echo "init_minio: buckets ($BUCKETS) ready at $MINIO_ENDPOINT; user $MINIO_SERVICE_ACCESS_KEY has policy $POLICY_NAME"
