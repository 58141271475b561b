#!/usr/bin/env bash
# tests/deploy/check.sh - static checks of the container and Kubernetes files (nothing
# is built or applied here; the image is built and run by the ctest test deploy_image,
# tests/deploy/image.sh):
#
#   - docker-compose config validates docker-compose.yml with an .env made from
#     .env.example (in a temporary directory), and refuses the example's empty secrets;
#   - kubectl kustomize renders deploy/k8s/base and deploy/k8s/overlays/production;
#   - check_deploy.py asserts what the rendered objects, the compose file and the
#     Dockerfile must hold (probes, limits, security context, secret references, PDB,
#     HPA, NetworkPolicies, package lists shared with deploy/up.sh).
#
# One line per check, then "N passed, N failed"; exits 1 if any check failed. A check
# whose tool is absent is skipped with a message saying what to install.
# KUBECTL and DOCKER_COMPOSE choose other binaries (e.g. a kubectl 1.20 to test old
# kustomize).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/deploy
PY=/usr/bin/python3
KUBECTL=${KUBECTL:-kubectl}
DOCKER_COMPOSE=${DOCKER_COMPOSE:-docker-compose}

passed=0 failed=0 skipped=0
pass() { printf 'PASS %s\n' "$1"; passed=$((passed + 1)); }
fail() { printf 'FAIL %s\n' "$1"; failed=$((failed + 1)); }
skip() { printf 'SKIP %s\n' "$1"; skipped=$((skipped + 1)); }

TMP=$(mktemp -d /tmp/tandem-deploy-check.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# Run the Python checker, echo its lines and add them to the counts.
run_py() {
  local out rc
  out=$("$PY" "$HERE/check_deploy.py" "$@" 2>&1)
  rc=$?
  printf '%s\n' "$out"
  passed=$((passed + $(grep -c '^PASS ' <<<"$out")))
  failed=$((failed + $(grep -c '^FAIL ' <<<"$out")))
  if [ $rc -ne 0 ] && ! grep -q '^FAIL ' <<<"$out"; then
    fail "check_deploy.py $1 exited $rc"
  fi
}

have_yaml=0
if [ -x "$PY" ] && "$PY" -c 'import yaml' 2>/dev/null; then
  have_yaml=1
fi

# ---- Dockerfile and package lists -------------------------------------------------
if [ $have_yaml = 1 ]; then
  run_py dockerfile "$ROOT"
else
  skip "Dockerfile checks: $PY with PyYAML is needed (apt-get install python3-yaml)"
fi

if command -v shellcheck >/dev/null 2>&1; then
  if shellcheck -s sh "$ROOT/deploy/docker-entrypoint.sh" >"$TMP/shellcheck.out" 2>&1; then
    pass "docker-entrypoint.sh: shellcheck"
  else
    fail "docker-entrypoint.sh: shellcheck"; sed 's/^/    /' "$TMP/shellcheck.out"
  fi
elif sh -n "$ROOT/deploy/docker-entrypoint.sh"; then
  pass "docker-entrypoint.sh: sh -n (shellcheck not installed)"
else
  fail "docker-entrypoint.sh: sh -n"
fi

# ---- docker-compose ---------------------------------------------------------------
SECRETS="POSTGRES_PASSWORD TANDEM_OWNER_DB_PASSWORD TANDEM_GATEWAY_DB_PASSWORD
  TANDEM_ENROLMENT_DB_PASSWORD TANDEM_MATCHING_DB_PASSWORD TANDEM_FEEDBACK_DB_PASSWORD
  TANDEM_BOOTSTRAP_KEY TANDEM_PERSON_HASH_KEY"
# docker-compose with only our .env: no variable of the caller's shell leaks in.
compose() {
  env -i PATH="$PATH" HOME="$TMP" "$DOCKER_COMPOSE" --project-directory "$ROOT" \
    -f "$ROOT/docker-compose.yml" --env-file "$1" "${@:2}"
}
if command -v "$DOCKER_COMPOSE" >/dev/null 2>&1; then
  cp "$ROOT/.env.example" "$TMP/env"
  for v in $SECRETS; do
    sed -i "s/^$v=\$/$v=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')/" "$TMP/env"
  done
  if compose "$TMP/env" config -q >"$TMP/compose.out" 2>&1; then
    pass "compose: docker-compose config -q accepts docker-compose.yml with a filled-in .env"
  else
    fail "compose: docker-compose config -q"; sed 's/^/    /' "$TMP/compose.out"
  fi
  if compose "$ROOT/.env.example" config -q >"$TMP/compose-blank.out" 2>&1; then
    fail "compose: docker-compose config accepts the empty secrets of .env.example"
  elif grep -q 'in .env' "$TMP/compose-blank.out"; then
    pass "compose: refuses to run while a secret of .env is empty"
  else
    fail "compose: docker-compose config failed on .env.example for another reason"
    sed 's/^/    /' "$TMP/compose-blank.out"
  fi
else
  skip "compose: docker-compose is not installed (apt-get install docker-compose)"
fi
if [ $have_yaml = 1 ]; then
  run_py compose "$ROOT"
fi
if git -C "$ROOT" check-ignore -q .env 2>/dev/null && ! git -C "$ROOT" ls-files --error-unmatch .env >/dev/null 2>&1; then
  pass "compose: .env is ignored by git and not committed"
else
  fail "compose: .env must be ignored by git and never committed"
fi

# ---- Kubernetes -------------------------------------------------------------------
if command -v "$KUBECTL" >/dev/null 2>&1; then
  for target in base overlays/production; do
    out=$TMP/$(basename "$target").yaml
    if "$KUBECTL" kustomize "$ROOT/deploy/k8s/$target" >"$out" 2>"$TMP/kustomize.err"; then
      pass "k8s: kubectl kustomize deploy/k8s/$target renders ($(grep -c '^kind: ' "$out") objects)"
      if [ $have_yaml = 1 ]; then
        flag=
        [ "$target" = overlays/production ] && flag=--production
        run_py k8s "$out" "$target" $flag
      fi
    else
      fail "k8s: kubectl kustomize deploy/k8s/$target"; sed 's/^/    /' "$TMP/kustomize.err"
    fi
  done
else
  skip "k8s: kubectl is not installed (apt-get install kubernetes-client)"
fi
if [ $have_yaml = 1 ]; then
  if "$PY" - "$ROOT"/deploy/k8s/examples/*.yaml >"$TMP/examples.out" 2>&1 <<'EOF'
import sys, yaml
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        assert doc and doc.get("kind") and doc.get("metadata", {}).get("name"), path
EOF
  then
    pass "k8s: the examples in deploy/k8s/examples parse"
  else
    fail "k8s: the examples in deploy/k8s/examples parse"; sed 's/^/    /' "$TMP/examples.out"
  fi
else
  skip "k8s object checks: $PY with PyYAML is needed (apt-get install python3-yaml)"
fi

printf '%d passed, %d failed' "$passed" "$failed"
[ "$skipped" -gt 0 ] && printf ', %d skipped' "$skipped"
printf '\n'
[ "$failed" -eq 0 ]
