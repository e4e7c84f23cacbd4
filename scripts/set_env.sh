# Point this shell (MLflow client, DVC, boto3) at the mlstack services:
#
#   source scripts/set_env.sh
#
# Uses the native stack's environment (<state dir>/env.sh, written by
# `mlstack stack up`) when it exists, else derives it from the .env of the
# docker compose stack. Only client settings are exported: the MLflow
# tracking URI and the scoped S3 user, never root or database passwords.
# Set MLSTACK_SERVICES=native or MLSTACK_SERVICES=compose to choose explicitly.

_mlstack_set_env() {
  local script_path repo_root state_dir mode env_file
  script_path=${BASH_SOURCE[0]:-${(%):-%x}}
  repo_root=$(cd "$(dirname "$script_path")/.." && pwd)
  state_dir=${MLSTACK_STACK_DIR:-$repo_root/.stack}
  env_file=$repo_root/.env

  mode=${MLSTACK_SERVICES:-}
  if [ -z "$mode" ]; then
    if [ -f "$state_dir/env.sh" ]; then mode=native
    elif [ -f "$env_file" ]; then mode=compose
    else
      echo "set_env.sh: no services found: run 'mlstack stack up' or create .env and 'docker compose up -d'" >&2
      return 1
    fi
  fi

  case $mode in
    native)
      [ -f "$state_dir/env.sh" ] || { echo "set_env.sh: $state_dir/env.sh missing; run 'mlstack stack up'" >&2; return 1; }
      . "$state_dir/env.sh"
      ;;
    compose)
      [ -f "$env_file" ] || { echo "set_env.sh: $env_file missing; copy .env.example" >&2; return 1; }
      local bind s3_port mlflow_port access_key secret_key endpoint
      bind=$(_mlstack_dotenv "$env_file" MLSTACK_BIND_ADDRESS 127.0.0.1)
      s3_port=$(_mlstack_dotenv "$env_file" MINIO_API_PORT 9000)
      mlflow_port=$(_mlstack_dotenv "$env_file" MLFLOW_PORT 5000)
      access_key=$(_mlstack_dotenv "$env_file" MINIO_SERVICE_ACCESS_KEY "")
      secret_key=$(_mlstack_dotenv "$env_file" MINIO_SERVICE_SECRET_KEY "")
      [ "$bind" = 0.0.0.0 ] && bind=127.0.0.1
      endpoint=$(_mlstack_dotenv "$env_file" S3_ENDPOINT_URL "http://$bind:$s3_port")
      case $endpoint in *//minio:*) endpoint="http://$bind:$s3_port" ;; esac
      export MLFLOW_TRACKING_URI="http://$bind:$mlflow_port"
      export AWS_ACCESS_KEY_ID="$access_key" AWS_SECRET_ACCESS_KEY="$secret_key"
      export AWS_DEFAULT_REGION="$(_mlstack_dotenv "$env_file" S3_REGION us-east-1)"
      export AWS_ENDPOINT_URL_S3="$endpoint" AWS_ENDPOINT_URL="$endpoint" MLFLOW_S3_ENDPOINT_URL="$endpoint"
      export AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
      ;;
    *)
      echo "set_env.sh: MLSTACK_SERVICES must be 'native' or 'compose', not '$mode'" >&2
      return 1
      ;;
  esac
  echo "mlstack services ($mode): MLFLOW_TRACKING_URI=$MLFLOW_TRACKING_URI S3=$AWS_ENDPOINT_URL_S3"
}

# Value of KEY in a dotenv file (last assignment wins; quotes stripped), or
# the default. The file is parsed, not sourced, so nothing else leaks in.
_mlstack_dotenv() {
  local value
  value=$(sed -n "s/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}$2=//p" "$1" | tail -n 1)
  value=${value%\"}; value=${value#\"}; value=${value%\'}; value=${value#\'}
  printf '%s\n' "${value:-$3}"
}

if [ -n "${BASH_VERSION:-}" ] && [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "set_env.sh must be sourced: source scripts/set_env.sh" >&2
  exit 1
fi
_mlstack_set_env
