#!/usr/bin/env bash
# Checks BloodGrid's deployment files: renders every kustomization under k8s/ with Debian 12's
# kubectl (and with any other kubectl found on PATH), validates every rendered object against the
# Kubernetes API schemas, asserts BloodGrid's deployment rules (probes, requests/limits, security
# context, autoscaling, headless internal Services, network policies, no committed secret
# values, only flags the binaries define), lints the Dockerfile, and proves the checks can fail by running them on deliberately
# broken copies. One PASS/FAIL line per check; the exit status is non-zero on any failure.
#
#   scripts/check_k8s.sh
#
# Tools are installed on first use into a cache (BLOODGRID_K8S_TOOLS, default build/.k8s-tools),
# needing only Debian's archive and the npm registry; later runs reuse it and work offline:
#   - kubectl from Debian's kubernetes-client package: used as installed, else fetched with
#     `apt-get download` and unpacked into the cache (so it never replaces another kubectl);
#   - npm packages (pinned below): kubernetes-models (the Kubernetes API schemas as JSON-schema
#     validators and TypeScript declarations), typescript (strict type check of every object
#     against those declarations), yaml, dockerfile-utils (Dockerfile linter).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${BLOODGRID_K8S_TOOLS:-$ROOT/build/.k8s-tools}"
CHECKS="$ROOT/k8s/checks/manifest_checks.cjs"
TARGETS=(base overlays/dev overlays/prod)
NPM_PACKAGES=(kubernetes-models@4.5.1 typescript@5.9.3 yaml@2.9.1 dockerfile-utils@0.16.3)

START=$SECONDS
PASSED=0
FAILED=0

pass() { PASSED=$((PASSED + 1)); echo "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
note() { echo "---- $*"; }

# Runs a checker command; its PASS/FAIL lines (optionally prefixed) count towards the total.
run_checks() { # prefix command...
  local prefix="$1"; shift
  local out status
  out="$("$@" 2>&1)"
  status=$?
  [ -n "$prefix" ] && out="$(sed -E "s/^(PASS|FAIL) /\1 $prefix/" <<<"$out")"
  echo "$out"
  local p f
  p=$(grep -c '^PASS ' <<<"$out")
  f=$(grep -c '^FAIL ' <<<"$out")
  PASSED=$((PASSED + p))
  FAILED=$((FAILED + f))
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
    fail "${prefix}${3:-$1}: the checker exited $status"
  fi
}

finish() {
  local secs=$((SECONDS - START))
  if [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]; then
    echo "check_k8s: PASS ($PASSED checks, ${secs}s)"
    exit 0
  fi
  echo "check_k8s: FAIL ($FAILED of $((PASSED + FAILED)) checks failed, ${secs}s)"
  exit 1
}

mkdir -p "$TOOLS"
exec 9>"$TOOLS/.lock"
flock 9

is_root() { [ "$(id -u)" -eq 0 ]; }

# ---- 1. tools ---------------------------------------------------------------------------------
note "tools (cache: $TOOLS)"

# node and npm: the machine's, else Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if is_root; then
    echo "installing Debian's nodejs and npm"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm; } \
      >"$TOOLS/apt-node.log" 2>&1 || { tail -20 "$TOOLS/apt-node.log"; }
  fi
fi
if command -v node >/dev/null && command -v npm >/dev/null; then
  pass "tool node $(node --version)"
else
  fail "tool node/npm: not installed (apt-get install nodejs npm)"
  finish
fi

# Debian's kubectl (package kubernetes-client).
DEB_KUBECTL=""
if dpkg-query -W -f='${Status}' kubernetes-client 2>/dev/null | grep -q 'ok installed'; then
  DEB_KUBECTL=/usr/bin/kubectl
elif [ -x "$TOOLS/kubernetes-client/usr/bin/kubectl" ]; then
  DEB_KUBECTL="$TOOLS/kubernetes-client/usr/bin/kubectl"
else
  echo "fetching Debian's kubernetes-client into the cache"
  rm -rf "$TOOLS/deb" "$TOOLS/kubernetes-client.tmp"
  mkdir -p "$TOOLS/deb"
  fetch_deb() { (cd "$TOOLS/deb" && apt-get download kubernetes-client) >>"$TOOLS/apt-kubectl.log" 2>&1; }
  if ! fetch_deb && is_root; then
    apt-get update >>"$TOOLS/apt-kubectl.log" 2>&1
    fetch_deb
  fi
  debs=("$TOOLS"/deb/kubernetes-client_*.deb)
  if [ -f "${debs[0]}" ] && dpkg-deb -x "${debs[0]}" "$TOOLS/kubernetes-client.tmp"; then
    mv "$TOOLS/kubernetes-client.tmp" "$TOOLS/kubernetes-client"
    DEB_KUBECTL="$TOOLS/kubernetes-client/usr/bin/kubectl"
  else
    tail -20 "$TOOLS/apt-kubectl.log" 2>/dev/null
  fi
fi
kubectl_version() { "$1" version --client 2>/dev/null | grep -o 'v[0-9][0-9.]*' | head -1; }
if [ -n "$DEB_KUBECTL" ] && [ -x "$DEB_KUBECTL" ]; then
  pass "tool kubectl $(kubectl_version "$DEB_KUBECTL") from Debian's kubernetes-client ($DEB_KUBECTL)"
else
  fail "tool kubectl: could not install Debian's kubernetes-client"
  finish
fi

# Renderers: Debian's kubectl, plus a different kubectl on PATH (the one operators may use).
RENDERERS=("debian-kubectl-$(kubectl_version "$DEB_KUBECTL")=$DEB_KUBECTL")
if other="$(command -v kubectl)" && [ "$(readlink -f "$other")" != "$(readlink -f "$DEB_KUBECTL")" ]; then
  RENDERERS+=("kubectl-$(kubectl_version "$other")=$other")
fi

# npm packages, pinned; installed once per version set.
NPM_DIR="$TOOLS/npm"
if [ "$(cat "$NPM_DIR/.installed" 2>/dev/null)" != "${NPM_PACKAGES[*]}" ]; then
  echo "installing ${NPM_PACKAGES[*]} into $NPM_DIR"
  rm -rf "$NPM_DIR"
  mkdir -p "$NPM_DIR"
  if npm install --prefix "$NPM_DIR" --no-audit --no-fund --no-package-lock --loglevel=error \
       "${NPM_PACKAGES[@]}" >"$TOOLS/npm-install.log" 2>&1; then
    echo "${NPM_PACKAGES[*]}" >"$NPM_DIR/.installed"
  else
    tail -20 "$TOOLS/npm-install.log"
  fi
fi
if [ -f "$NPM_DIR/.installed" ]; then
  pass "tool npm packages ${NPM_PACKAGES[*]}"
else
  fail "tool npm packages: npm install failed (log: $TOOLS/npm-install.log)"
  finish
fi
export NODE_PATH="$NPM_DIR/node_modules"

# ---- 2. render --------------------------------------------------------------------------------
note "render"
RENDER_DIR="$TOOLS/rendered"
rm -rf "$RENDER_DIR"
SCHEMA_INPUTS=()
declare -A RENDERED
for r in "${RENDERERS[@]}"; do
  rname="${r%%=*}"
  rbin="${r#*=}"
  mkdir -p "$RENDER_DIR/$rname"
  for t in "${TARGETS[@]}"; do
    out="$RENDER_DIR/$rname/${t##*/}.yaml"
    if "$rbin" kustomize "$ROOT/k8s/$t" >"$out" 2>"$out.err"; then
      # kustomize v5 warns about the v2-compatible fields (bases, patchesStrategicMerge).
      grep -v -E "^# Warning: '(bases|patchesStrategicMerge)' is deprecated" "$out.err" | sed 's/^/       /'
      pass "render k8s/$t with $rname ($(grep -c '^kind:' "$out") objects)"
      RENDERED["$rname|$t"]="$out"
      SCHEMA_INPUTS+=("$rname:$t=$out")
    else
      sed 's/^/       /' "$out.err"
      fail "render k8s/$t with $rname"
    fi
  done
done

# ---- 3. schema validation ---------------------------------------------------------------------
note "validate against the Kubernetes API schemas"
if [ ${#SCHEMA_INPUTS[@]} -gt 0 ]; then
  run_checks "" node "$CHECKS" schema --tsdir "$NPM_DIR/strict" "${SCHEMA_INPUTS[@]}"
fi

# ---- 4. BloodGrid's rules ---------------------------------------------------------------------
note "deployment rules"
ASSERT_ARGS=()
for r in "${RENDERERS[@]}"; do
  rname="${r%%=*}"
  for t in "${TARGETS[@]}"; do
    f="${RENDERED["$rname|$t"]:-}"
    [ -n "$f" ] && ASSERT_ARGS+=(--label "$rname" --target "${t##*/}" "$f")
  done
done
[ ${#ASSERT_ARGS[@]} -gt 0 ] && run_checks "" node "$CHECKS" assert "${ASSERT_ARGS[@]}"
run_checks "" node "$CHECKS" secrets "$ROOT/k8s"
# Every flag the manifests pass exists in the binary (an unknown flag stops it at start-up).
FLAG_INPUTS=()
for t in "${TARGETS[@]}"; do
  f="${RENDERED["${RENDERERS[0]%%=*}|$t"]:-}"
  [ -n "$f" ] && FLAG_INPUTS+=("$f")
done
[ ${#FLAG_INPUTS[@]} -gt 0 ] && run_checks "" node "$CHECKS" flags --src "$ROOT" "${FLAG_INPUTS[@]}"

# The policy profile the ConfigMap names ships in the image (from config/policies/).
profile="$(sed -n 's/^ *- POLICY_FILE=\/usr\/share\/bloodgrid\/policies\///p' "$ROOT/k8s/base/kustomization.yaml")"
if [ -n "$profile" ] && [ -f "$ROOT/config/policies/$profile" ]; then
  pass "policy-profile: POLICY_FILE names config/policies/$profile"
else
  fail "policy-profile: POLICY_FILE in k8s/base names '${profile:-nothing}', not a file in config/policies/"
fi

# ---- 5. the image -----------------------------------------------------------------------------
note "Dockerfile"
LINT="$NPM_DIR/node_modules/.bin/dockerfile-utils"
if lint_out="$("$LINT" lint "$ROOT/Dockerfile" 2>&1)"; then
  pass "dockerfile-lint: Dockerfile has no errors (dockerfile-utils)"
else
  while IFS= read -r line; do echo "       $line"; done <<<"$lint_out"
  fail "dockerfile-lint: Dockerfile"
fi
run_checks "" node "$CHECKS" dockerfile "$ROOT/Dockerfile"

# ---- 6. self-test: the checks fail on broken input --------------------------------------------
note "self-test: deliberately broken copies must fail"
SELFTEST_DIR="$TOOLS/selftest"
prod_render="${RENDERED["${RENDERERS[0]%%=*}|overlays/prod"]:-}"
if [ -n "$prod_render" ]; then
  run_checks "" node "$CHECKS" selftest --work "$SELFTEST_DIR" --render "$prod_render" \
    --k8s-dir "$ROOT/k8s" --tsdir "$NPM_DIR/strict" --dockerfile "$ROOT/Dockerfile"
else
  fail "selftest: no prod render to break"
fi
mkdir -p "$SELFTEST_DIR"
sed -e 's/^EXPOSE /EXPOS /' -e 's/^COPY --from=build/COPY --frm=build/' "$ROOT/Dockerfile" >"$SELFTEST_DIR/Dockerfile.broken"
if "$LINT" lint "$SELFTEST_DIR/Dockerfile.broken" >/dev/null 2>&1; then
  fail "selftest-dockerfile-lint: a Dockerfile with an unknown instruction and flag passed the linter"
else
  pass "selftest-dockerfile-lint: a Dockerfile with an unknown instruction and flag fails the linter"
fi

finish
