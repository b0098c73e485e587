#!/usr/bin/env bash
# The editors' pipeline: check the site, build it, and deploy the build when a target is given.
# The CI workflow (github/workflows/site.yml) only calls this script, so it can be run, and is
# tested, the same way anywhere.
#
#   infra/ci/site.sh [ROOT]      ROOT: the site's root folder (default: the current folder)
#
#   PLEDGE                the pledge binary (default: `pledge` on PATH)
#   PLEDGE_DEPLOY_TARGET  where `pledge deploy` sends the build, e.g. s3://bucket/site or a folder;
#                         unset or empty: check and build only
#   PLEDGE_TOTALS_FROM    a running API (its base URL) whose current totals the pages show;
#                         unset: the totals the pages start from are zero until their script runs
set -euo pipefail

root=${1:-.}
pledge=${PLEDGE:-pledge}

log() { printf '\n== %s\n' "$*"; }

log "check"
"$pledge" check --root "$root"

log "build"
build_args=(build --root "$root")
if [ -n "${PLEDGE_TOTALS_FROM:-}" ]; then
    build_args+=(--totals-from "$PLEDGE_TOTALS_FROM")
fi
"$pledge" "${build_args[@]}"

if [ -n "${PLEDGE_DEPLOY_TARGET:-}" ]; then
    log "deploy to $PLEDGE_DEPLOY_TARGET"
    "$pledge" deploy --root "$root" --to "$PLEDGE_DEPLOY_TARGET"
else
    log "no PLEDGE_DEPLOY_TARGET: built, not deployed"
fi
