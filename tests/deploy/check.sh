#!/usr/bin/env bash
# Checks that the scheduling examples under deploy/ are valid:
#   (a) systemd: `systemd-analyze verify` on the service and timer (ExecStart pointed at a stub),
#       the timer's OnCalendar, and the service's offline security score;
#   (b) Kubernetes: deploy/kubernetes/cronjob.yaml and indexed-job.yaml against the bundled JSON
#       schemas of kubernetes-validate (strict: unknown fields fail), for the oldest and newest
#       supported Kubernetes versions, and the settings each promises (both: lake and state dir
#       on S3 with credentials from a Secret, no volume claim; the Indexed Job: N completions =
#       CANDLELAKE_SHARDS, the Redis Service and Deployment its CANDLELAKE_RATE_LIMITER names,
#       no secret inline);
#   (c) cron: every line of deploy/cron/candlelake.crontab is a comment, an assignment or a job
#       line whose 5 schedule fields croniter accepts, firing at 00:15 UTC, with a command that
#       `sh -n` parses; plus `crontab -T` when the installed crontab is cronie's;
#   (d) with CANDLELAKE_BIN set to a built binary: every `candlelake <command> --flag` and every
#       variable the examples (and the Dagster project) name exists in that binary (its --help,
#       or for the credential variables, its strings).
# Installs what it lacks: the `systemd` package (apt-get) when systemd-analyze is missing, and a
# Python virtualenv with pinned kubernetes-validate and croniter (cached, offline afterwards).
#
#   tests/deploy/check.sh
#   CANDLELAKE_BIN=target/release/candlelake tests/deploy/check.sh
#
# Environment: CANDLELAKE_BIN (optional binary for (d)); CANDLELAKE_CHECK_VENV (where the
# virtualenv lives; default under ${XDG_CACHE_HOME:-~/.cache}). Exit 0 when every check passes.
set -euo pipefail

KUBERNETES_VALIDATE_VERSION=1.37.0
CRONITER_VERSION=6.2.4
# Oldest Kubernetes the CronJob supports (podFailurePolicy GA) and newest schema bundled.
K8S_VERSIONS=(1.31.0 1.37.0)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEPLOY=$ROOT/deploy
SERVICE=$DEPLOY/systemd/candlelake-topup.service
TIMER=$DEPLOY/systemd/candlelake-topup.timer
ENV_EXAMPLE=$DEPLOY/systemd/env.example
CRONTAB=$DEPLOY/cron/candlelake.crontab
MANIFEST=$DEPLOY/kubernetes/cronjob.yaml
INDEXED_JOB=$DEPLOY/kubernetes/indexed-job.yaml
DAGSTER=$DEPLOY/dagster/candlelake_dagster/definitions.py

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

FAILED=()
section() { printf '\n== %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
note() { printf 'note: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILED+=("$*"); }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else return 1
    fi
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 || return 1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

for f in "$SERVICE" "$TIMER" "$ENV_EXAMPLE" "$CRONTAB" "$MANIFEST" "$INDEXED_JOB" "$DAGSTER"; do
    [ -f "$f" ] || { echo "missing $f" >&2; exit 1; }
done

# ---------------------------------------------------------------------------------------------
section "(a) systemd units"
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze not found; installing the systemd package"
    apt_install systemd || true
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
    fail "systemd-analyze is missing and could not be installed (apt-get install systemd)"
else
    echo "$(systemd-analyze --version | head -n1)"
    units=$WORK/units
    mkdir -p "$units"
    # verify insists that ExecStart's binary exists and is executable: point it at a stub.
    # (It does not look the User= up, so no user has to be created.)
    stub=$WORK/bin/candlelake
    mkdir -p "$(dirname "$stub")"
    printf '#!/bin/sh\nexit 0\n' >"$stub"
    chmod +x "$stub"
    sed "s#/usr/local/bin/candlelake#$stub#g" "$SERVICE" >"$units/candlelake-topup.service"
    cp "$TIMER" "$units/candlelake-topup.timer"
    grep -q "^ExecStart=$stub " "$units/candlelake-topup.service" \
        || fail "systemd: ExecStart does not run /usr/local/bin/candlelake"
    # verify exits 0 on many problems (unknown keys, unparsable values are "ignored"), so any
    # line it prints about our units is a failure too.
    set +e
    out=$(cd "$units" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no \
        ./candlelake-topup.service ./candlelake-topup.timer 2>&1)
    rc=$?
    set -e
    ours=$(printf '%s\n' "$out" | grep 'candlelake-topup' || true)
    others=$(printf '%s\n' "$out" | grep -v 'candlelake-topup' | grep -v '^$' || true)
    [ -z "$others" ] || printf 'note: systemd-analyze verify said, about other units:\n%s\n' "$others"
    if [ "$rc" -ne 0 ] || [ -n "$ours" ]; then
        fail "systemd-analyze verify (exit $rc): ${ours:-$out}"
    else
        ok "systemd-analyze verify: candlelake-topup.service and candlelake-topup.timer, no warnings"
    fi

    calendar=$(sed -n 's/^OnCalendar=//p' "$TIMER")
    if next=$(systemd-analyze calendar "$calendar" 2>&1) \
        && printf '%s\n' "$next" | grep -q 'Normalized form: \*-\*-\* 00:15:00 UTC'; then
        ok "OnCalendar=$calendar -> $(printf '%s\n' "$next" | sed -n 's/^ *Next elapse: //p') next"
    else
        fail "timer: OnCalendar=$calendar is not daily at 00:15 UTC: $next"
    fi

    # Things verify cannot judge: the exit-status policy and the required settings.
    before=${#FAILED[@]}
    svc() { sed -n "s/^$1=//p" "$SERVICE"; }
    [ "$(svc Type)" = oneshot ] || fail "service: Type is not oneshot"
    success=$(svc SuccessExitStatus)
    for code in 1 2; do
        if [[ " $success " == *" $code "* ]]; then fail "service: SuccessExitStatus hides exit $code"; fi
    done
    for key in User WorkingDirectory EnvironmentFile NoNewPrivileges ProtectSystem ReadWritePaths PrivateTmp; do
        [ -n "$(svc "$key")" ] || fail "service: $key= is not set"
    done
    [ "$(svc ProtectSystem)" = strict ] || fail "service: ProtectSystem is not strict"
    grep -q '^Environment=OANDA_API_TOKEN_FILE=%d/oanda-token$' "$SERVICE" \
        && grep -q '^LoadCredential=oanda-token:' "$SERVICE" \
        && grep -q '^Environment=ALPHAVANTAGE_API_KEY_FILE=%d/alphavantage-key$' "$SERVICE" \
        && grep -q '^LoadCredential=alphavantage-key:' "$SERVICE" \
        || fail "service: credentials are not LoadCredential= files named by *_FILE=%d/..."
    timer() { sed -n "s/^$1=//p" "$TIMER"; }
    [ "$(timer Persistent)" = true ] || fail "timer: Persistent=true missing"
    [ -n "$(timer RandomizedDelaySec)" ] || fail "timer: RandomizedDelaySec missing"
    [ "${#FAILED[@]}" -ne "$before" ] \
        || ok "service: oneshot, SuccessExitStatus=${success:-0} (1 and 2 fail the unit), credentials via LoadCredential, hardened; timer: Persistent, RandomizedDelaySec"

    # Offline exposure score (systemd >= 250), 0 (sandboxed) to 10 (unprotected): fail above
    # 4.0 (--threshold is in tenths).
    if score=$(cd "$units" && systemd-analyze security --offline=true --threshold=40 \
        ./candlelake-topup.service 2>&1); then
        ok "$(printf '%s\n' "$score" | grep 'Overall exposure level' | sed 's/→ *//')"
    elif printf '%s\n' "$score" | grep -q 'Overall exposure level'; then
        fail "service: $(printf '%s\n' "$score" | grep 'Overall exposure level'), above 4.0"
    else
        note "systemd-analyze security --offline is not available here: $(printf '%s\n' "$score" | tail -n1)"
    fi
fi

# ---------------------------------------------------------------------------------------------
section "Python tools (kubernetes-validate $KUBERNETES_VALIDATE_VERSION, croniter $CRONITER_VERSION)"
VENV=${CANDLELAKE_CHECK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/candlelake-deploy-check/venv-kv$KUBERNETES_VALIDATE_VERSION-cron$CRONITER_VERSION}
PY=$VENV/bin/python
have_tools() {
    [ -x "$PY" ] && "$PY" - "$KUBERNETES_VALIDATE_VERSION" "$CRONITER_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("kubernetes-validate"), version("croniter")) == tuple(sys.argv[1:3]) else 1)
EOF
}
if have_tools; then
    echo "using $VENV"
else
    echo "creating $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
        # Debian's python3 ships venv separately.
        rm -rf "$VENV"
        apt_install python3-venv || true
        python3 -m venv "$VENV"
    fi
    "$PY" -m pip install --quiet --disable-pip-version-check \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "croniter==$CRONITER_VERSION"
    have_tools || { echo "the virtualenv at $VENV does not hold the pinned tools" >&2; exit 1; }
fi

# ---------------------------------------------------------------------------------------------
section "(b) Kubernetes manifests"
for m in "$MANIFEST" "$INDEXED_JOB"; do
    for v in "${K8S_VERSIONS[@]}"; do
        if out=$("$PY" -m kubernetes_validate --strict -k "$v" "$m" 2>&1); then
            printf '%s\n' "$out" | sed 's/^INFO /ok: /'
        else
            printf '%s\n' "$out"
            fail "kubernetes-validate --strict -k $v $m"
        fi
    done
done
# What the schema cannot say: the settings this example promises.
if out=$("$PY" - "$MANIFEST" <<'EOF' 2>&1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = {d["kind"]: d for d in docs}
problems = []
def need(cond, what):
    if not cond:
        problems.append(what)
cj = kinds.get("CronJob")
need(cj is not None, "a CronJob")
need("PersistentVolumeClaim" not in kinds, "no PersistentVolumeClaim (the state dir is on S3)")
if cj:
    need(cj["apiVersion"] == "batch/v1", "CronJob apiVersion batch/v1")
    s = cj["spec"]
    need(s.get("schedule") == "15 0 * * *", "schedule '15 0 * * *'")
    need(s.get("timeZone") == "Etc/UTC", "timeZone Etc/UTC")
    need(s.get("concurrencyPolicy") == "Forbid", "concurrencyPolicy Forbid")
    job = s["jobTemplate"]["spec"]
    need("backoffLimit" in job, "backoffLimit")
    pod = job["template"]["spec"]
    c = pod["containers"][0]
    cmd = c.get("command", []) + c.get("args", [])
    need(cmd[:2] == ["candlelake", "topup"] and "--output" in cmd and "json" in cmd,
         "container runs candlelake topup --output json")
    need(c["image"] == "ghcr.io/example/candlelake:0.1.0", "image placeholder")
    need("memory" in c.get("resources", {}).get("limits", {}), "a memory limit")
    need(c.get("resources", {}).get("requests"), "resource requests")
    env = {e["name"]: e for e in c.get("env", [])}
    for name in ("CANDLELAKE_LAKE", "CANDLELAKE_STATE_DIR"):
        need(env.get(name, {}).get("value", "").startswith("s3://"), f"{name} on S3")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        ref = env.get(name, {}).get("valueFrom", {}).get("secretKeyRef")
        need(ref and "value" not in env[name], f"{name} from a Secret (secretKeyRef), not inline")
    for name in ("OANDA_API_TOKEN", "ALPHAVANTAGE_API_KEY"):
        need(name not in env, f"no inline {name}")
        need(name + "_FILE" in env, f"{name}_FILE")
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    need(not any("persistentVolumeClaim" in v for v in vols.values()), "no volume claim mounted")
    for name in ("OANDA_API_TOKEN_FILE", "ALPHAVANTAGE_API_KEY_FILE"):
        path = env.get(name, {}).get("value", "")
        need(any(path.startswith(p.rstrip("/") + "/") and "secret" in vols.get(n, {})
                 for p, n in mounts.items()), f"{name} inside a Secret volume")
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF
); then
    ok "cronjob.yaml: schedule 15 0 * * * Etc/UTC, Forbid, lake and state dir on S3 with Secret credentials, no volume claim, provider credentials as Secret files"
else
    fail "cronjob.yaml lacks: $(printf '%s' "$out" | tr '\n' ';')"
fi

if out=$("$PY" - "$INDEXED_JOB" <<'EOF' 2>&1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
problems = []
def need(cond, what):
    if not cond:
        problems.append(what)
def one(kind):
    found = by_kind.get(kind, [])
    need(len(found) == 1, f"exactly one {kind}")
    return found[0] if len(found) == 1 else None
job, svc, redis = one("Job"), one("Service"), one("Deployment")
need("PersistentVolumeClaim" not in by_kind, "no PersistentVolumeClaim (the state dir is on S3)")
if job and svc and redis:
    s = job["spec"]
    need(job["apiVersion"] == "batch/v1", "Job apiVersion batch/v1")
    need(s.get("completionMode") == "Indexed", "completionMode Indexed")
    n = s.get("completions")
    need(isinstance(n, int) and n > 1, "completions N > 1")
    need("backoffLimitPerIndex" in s, "backoffLimitPerIndex (each shard retried on its own)")
    fail_index = [r for r in s.get("podFailurePolicy", {}).get("rules", [])
                  if r.get("action") == "FailIndex" and 1 in r.get("onExitCodes", {}).get("values", [])]
    need(fail_index, "podFailurePolicy FailIndex on exit 1")
    pod = s["template"]["spec"]
    need(pod.get("restartPolicy") == "Never", "restartPolicy Never")
    c = pod["containers"][0]
    cmd = c.get("command", []) + c.get("args", [])
    need(cmd[:1] == ["candlelake"] and cmd[1:2] in (["backfill"], ["topup"]),
         "container runs candlelake backfill or topup")
    need("--output" in cmd and "json" in cmd, "--output json")
    need("--shard" not in cmd, "no --shard (the index and CANDLELAKE_SHARDS say it)")
    need(c["image"] == "ghcr.io/example/candlelake:0.1.0", "image placeholder")
    need("memory" in c.get("resources", {}).get("limits", {}), "a memory limit")
    env = {e["name"]: e for e in c.get("env", [])}
    need(env.get("CANDLELAKE_SHARDS", {}).get("value") == str(n),
         f"CANDLELAKE_SHARDS equal to completions ({n})")
    need(env.get("CANDLELAKE_LAKE", {}).get("value", "").startswith("s3://"), "the lake on S3")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        ref = env.get(name, {}).get("valueFrom", {}).get("secretKeyRef")
        need(ref and "value" not in env[name], f"{name} from a Secret (secretKeyRef), not inline")
    for name in ("OANDA_API_TOKEN", "ALPHAVANTAGE_API_KEY"):
        need(name not in env, f"no inline {name}")
    port = svc["spec"]["ports"][0]["port"]
    limiter = f"redis://{svc['metadata']['name']}:{port}/0"
    need(env.get("CANDLELAKE_RATE_LIMITER", {}).get("value") == limiter,
         f"CANDLELAKE_RATE_LIMITER={limiter}, the Service's name and port")
    selector = svc["spec"].get("selector", {})
    labels = redis["spec"]["template"]["metadata"]["labels"]
    need(selector and all(labels.get(k) == v for k, v in selector.items()),
         "the Service selects the Redis Deployment's pods")
    need(redis["spec"]["template"]["spec"]["containers"][0]["image"].startswith("redis:"),
         "a redis image")
    need(env.get("CANDLELAKE_STATE_DIR", {}).get("value", "").startswith("s3://"),
         "the state dir on S3 (shards on any node share it)")
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    need(not any("persistentVolumeClaim" in v for v in vols.values()), "no volume claim mounted")
    for name in ("OANDA_API_TOKEN_FILE", "ALPHAVANTAGE_API_KEY_FILE"):
        path = env.get(name, {}).get("value", "")
        need(any(path.startswith(p.rstrip("/") + "/") and "secret" in vols.get(m, {})
                 for p, m in mounts.items()), f"{name} inside a Secret volume")
    if not problems:
        print(f"{n} shards")
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF
); then
    ok "indexed-job.yaml: Indexed Job of $(printf '%s' "$out" | head -n1), CANDLELAKE_SHARDS equal, lake on S3 with Secret credentials, CANDLELAKE_RATE_LIMITER at the Redis Service, state dir on S3, no volume claim"
else
    fail "indexed-job.yaml lacks: $(printf '%s' "$out" | tr '\n' ';')"
fi

# ---------------------------------------------------------------------------------------------
section "(c) crontab"
if out=$("$PY" - "$CRONTAB" <<'EOF' 2>&1
import re, subprocess, sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
from croniter import croniter

path = sys.argv[1]
env, jobs, problems = {}, [], []
for n, line in enumerate(open(path, encoding="utf-8").read().splitlines(), 1):
    s = line.strip()
    if not s or s.startswith("#"):
        continue
    m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", s)
    if m:
        env[m.group(1)] = m.group(2)
        continue
    fields = s.split(None, 5)
    if len(fields) < 6:
        problems.append(f"line {n}: a job line needs 5 schedule fields and a command")
        continue
    jobs.append((n, " ".join(fields[:5]), fields[5]))

if len(jobs) != 1:
    problems.append(f"expected exactly one job line, found {len(jobs)}")
tz = env.get("CRON_TZ")
if tz != "UTC":
    problems.append("CRON_TZ=UTC is not set")
for name in ("CANDLELAKE_LAKE", "CANDLELAKE_STATE_DIR"):
    if not env.get(name, "").startswith("/"):
        problems.append(f"{name} is not set to an absolute path")
for name in ("OANDA_API_TOKEN", "ALPHAVANTAGE_API_KEY"):
    if name in env:
        problems.append(f"{name} is inline; use {name}_FILE")
    if not env.get(name + "_FILE", "").startswith("/"):
        problems.append(f"{name}_FILE is not set to an absolute path")
for n, schedule, command in jobs:
    if not croniter.is_valid(schedule):
        problems.append(f"line {n}: croniter rejects the schedule '{schedule}'")
        continue
    zone = ZoneInfo(tz or "UTC")
    base = datetime(2026, 3, 28, 12, 0, tzinfo=zone)  # across a DST change elsewhere: UTC has none
    it = croniter(schedule, base)
    runs = [it.get_next(datetime) for _ in range(3)]
    if any((r.astimezone(timezone.utc).hour, r.minute) != (0, 15) for r in runs):
        problems.append(f"line {n}: '{schedule}' does not fire at 00:15 UTC: {runs}")
    if any((b - a).total_seconds() != 86400 for a, b in zip(runs, runs[1:])):
        problems.append(f"line {n}: '{schedule}' is not daily")
    if re.search(r"(?<!\\)%", command):
        problems.append(f"line {n}: an unescaped % (cron turns it into a newline)")
    sh = subprocess.run(["sh", "-n", "-c", command], capture_output=True, text=True)
    if sh.returncode != 0:
        problems.append(f"line {n}: sh -n rejects the command: {sh.stderr.strip()}")
    if "flock" in command:
        problems.append(f"line {n}: flock is not needed (candlelake locks its state dir)")
    if not re.search(r"\bcandlelake topup\b", command):
        problems.append(f"line {n}: the command does not run candlelake topup")
    if not re.search(r"2>>?\s*/", command):
        problems.append(f"line {n}: stderr is not logged to a file")
    if not problems:
        print(f"line {n}: '{schedule}' with CRON_TZ={tz} fires daily at 00:15 UTC (after "
              + base.strftime("%Y-%m-%d %H:%M %Z") + ": "
              + ", ".join(r.astimezone(timezone.utc).strftime("%m-%d %H:%M") for r in runs)
              + "); the command parses with sh -n")
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF
); then
    ok "$(printf '%s\n' "$out" | grep -v '^$')"
else
    fail "crontab: $(printf '%s' "$out" | grep -v '^$' | tr '\n' ';')"
fi
# cronie's `crontab -T` only parses. Debian's `crontab -n` would also create the spool and
# needs the crontab group, so it is not used.
crontab_version=$( (command -v crontab >/dev/null 2>&1 && crontab -V 2>&1) || true)
if [[ $crontab_version == *cronie* ]]; then
    if out=$(crontab -T "$CRONTAB" 2>&1); then ok "crontab -T: $out"; else fail "crontab -T: $out"; fi
else
    note "cronie's crontab -T is not installed; the croniter and sh -n checks above stand in for it"
fi

# ---------------------------------------------------------------------------------------------
section "(d) flags and variables against the binary"
if [ -z "${CANDLELAKE_BIN:-}" ]; then
    note "CANDLELAKE_BIN is not set: skipped (e.g. CANDLELAKE_BIN=target/release/candlelake $0)"
elif [ ! -x "$CANDLELAKE_BIN" ]; then
    fail "CANDLELAKE_BIN=$CANDLELAKE_BIN is not an executable"
else
    if out=$("$PY" - "$CANDLELAKE_BIN" "$CRONTAB" "$SERVICE" "$ENV_EXAMPLE" "$MANIFEST" \
        "$INDEXED_JOB" "$DAGSTER" "$DEPLOY/README.md" "$DEPLOY/kubernetes/README.md" \
        "$DEPLOY/dagster/README.md" <<'EOF' 2>&1
import re, subprocess, sys, yaml

binary, files = sys.argv[1], sys.argv[2:]
helps = {}
def help_of(path):
    key = tuple(path)
    if key not in helps:
        r = subprocess.run([binary, *path, "--help"], capture_output=True, text=True)
        helps[key] = r.stdout if r.returncode == 0 else None
    return helps[key]

top = help_of([])
if top is None:
    print(f"{binary} --help failed"); sys.exit(1)
commands = set(re.findall(r"^  ([a-z][a-z-]*)  ", top.split("Commands:")[1].split("Options:")[0], re.M))

# Invocations: `candlelake <command> [<sub>] --flag ...` on one line, up to a shell operator.
invocations = []
for f in files:
    text = open(f, encoding="utf-8").read()
    for n, line in enumerate(text.splitlines(), 1):
        for m in re.finditer(r"(?<![\w-])candlelake\s+([a-z]+)\b([^>|;&`\"'()]*)", line):
            if m.group(1) not in commands:
                continue
            invocations.append((f"{f.rsplit('/', 2)[-2]}/{f.rsplit('/', 1)[-1]}:{n}", m.group(1), m.group(2)))
    if f.endswith(".yaml"):
        for doc in yaml.safe_load_all(text):
            job = (doc or {}).get("spec", {})
            spec = job.get("jobTemplate", {}).get("spec", job).get("template", {}).get("spec", {})
            for c in spec.get("containers", []):
                cmd = c.get("command", []) + c.get("args", [])
                if cmd and cmd[0].rsplit("/", 1)[-1] == "candlelake":
                    invocations.append((f"kubernetes/{f.rsplit('/', 1)[-1]}:{c['name']}", cmd[1], " ".join(cmd[2:])))

problems, checked_flags = [], set()
for where, command, rest in invocations:
    path = [command]
    words = rest.split()
    if command == "dlq" and words and not words[0].startswith("-"):
        path.append(words[0])
    h = help_of(path)
    if h is None:
        problems.append(f"{where}: `candlelake {' '.join(path)}` is not a command of {binary}")
        continue
    for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", rest):
        checked_flags.add(f"{' '.join(path)} {flag}")
        if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", h):
            problems.append(f"{where}: `candlelake {' '.join(path)}` has no {flag}")

# Variables: CANDLELAKE_* must be an [env: ...] of the binary or named in the help of the command
# that reads it (CANDLELAKE_SHARDS); credential names must be read by the binary.
env_help = set(re.findall(r"\[env: ([A-Z0-9_]+)", top))
for command in ("backfill", "topup"):
    env_help |= set(re.findall(r"\b(CANDLELAKE_[A-Z0-9_]*[A-Z0-9])\b", help_of([command]) or ""))
names = set()
for f in files:
    names |= set(re.findall(r"\b(CANDLELAKE_[A-Z0-9_]*[A-Z0-9]|[A-Z]+_API_(?:KEY|TOKEN)(?:_FILE)?)\b", open(f, encoding="utf-8").read()))
blob = open(binary, "rb").read()
names -= {"CANDLELAKE_BIN", "CANDLELAKE_CHECK_VENV"}  # this script's own variables
for name in sorted(names):
    if name.startswith("CANDLELAKE_"):
        if name not in env_help:
            problems.append(f"{name} is not a variable of {binary} (not in --help)")
    elif name.encode() not in blob:
        problems.append(f"{name} is never read by {binary}")

print(f"{len(invocations)} invocations, flags checked: {', '.join(sorted(checked_flags))}")
print(f"variables checked: {', '.join(sorted(names))}")
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF
    ); then
        printf '%s\n' "$out" | grep -v '^$' | sed '/^note: /!s/^/ok: /'
    else
        printf '%s\n' "$out"
        fail "flags or variables the examples use are missing from $CANDLELAKE_BIN"
    fi
fi

# ---------------------------------------------------------------------------------------------
section "summary"
if [ "${#FAILED[@]}" -eq 0 ]; then
    echo "all deploy checks passed"
else
    printf '%d check(s) failed:\n' "${#FAILED[@]}"
    printf '  - %s\n' "${FAILED[@]}"
    exit 1
fi
