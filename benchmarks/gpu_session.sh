#!/usr/bin/env bash
# One GPU session for issue 17 (its GPU part), prepared ahead so that a session lent the NVIDIA
# H200 spends its 15 device minutes in one call: the machine and versions, `ganlab bench all` on
# CUDA, and the seed study at full length (3 seeds, the study's own epochs, 10,000 samples scored
# per run), each step under its own time cap so that the whole ends inside GPU_SESSION_BUDGET
# seconds (default 540). Fill .gpu/ first, here: `bash benchmarks/gpu_prepare.sh`; then
#
#   run(command="bash benchmarks/gpu_session.sh", carry=[".gpu"], timeout_s=600)
#
# On the device machine (repo root, python3 = Python 3.12 with torch, no network) it reads
#   .gpu/whl/*.whl              pydantic and its needs, installed into /tmp/site (--target)
#   .gpu/whl-cli/*.whl          typer and its needs, installed too only if ganlab's CLI fails
#                               with the image's own typer
#   .gpu/datasets/mnist/        the four MNIST IDX .gz files (--data-dir .gpu/datasets)
#   .gpu/seed-study.tar.gz      optional: a study brought back by an earlier call, to resume
# works in .gpu-run/ (git-ignored, NOT carried: on a warm machine a second call finds the study
# there with its checkpoints and resumes it exactly), and writes under $OUT (at most 8 files):
#   session.log                 everything this script and the commands printed
#   bench.txt                   `ganlab bench all` output; its last line is the JSON of every number
#   status.txt, verdicts.md     `ganlab study status` and `ganlab study verdicts --markdown`
#   seed-study.tar.gz           the study folder without checkpoints/, weights/ and all but the
#                               last (and milestone) sample grids; metrics.jsonl's per-step records
#                               thinned only if it would not fit in 15 MiB (PACKED.txt inside says);
#                               split into seed-study.tar.gz.part-NN when still too big
#
# Resuming: the study runner resumes a study directory (only missing, cut-short or failed runs
# run). On a warm machine the next call continues .gpu-run/seed-study. On a fresh one, copy the
# returned seed-study.tar.gz to .gpu/seed-study.tar.gz and call again: its finished runs are kept,
# its unfinished ones start over (their checkpoints are too big to come back).
#
# Knobs (environment): GPU_SESSION_BUDGET seconds in all (540), GPU_SESSION_STEPS (info,bench,study),
# GPU_SESSION_WORKERS (8), GPU_SESSION_BENCH_CAP (120), GPU_SESSION_BENCH_ARGS (more bench options),
# GPU_SESSION_RESERVE seconds kept after the study for status, verdicts and packing (90),
# GPU_SESSION_PYTHON, GPU_SESSION_WHL, GPU_SESSION_WHL_CLI, GPU_SESSION_CLI_WHEELS (1: install them),
# GPU_SESSION_SITE, GPU_SESSION_DATA, GPU_SESSION_WORK, GPU_SESSION_RESUME, GPU_SESSION_DEVICE,
# GPU_SESSION_PART_BYTES (15 MiB: the largest file brought back whole).
#
# GPU_SESSION_SMOKE=1: a CPU rehearsal of the same path (OUT defaults to a temp folder; the local
# .venv's python; wheels for it from `gpu_prepare.sh --smoke-wheels /tmp/gpu-smoke-whl`; a bench of
# 2 steps; a 2-experiment cut of the seed study at batch 1024, 1 seed, --epochs-scale 0.01,
# --eval-n 200). Run it under `nice -n 19`.
set -u -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
T0=$(date +%s)

SMOKE=${GPU_SESSION_SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
    SMOKE_TMP=$(mktemp -d /tmp/gpu-session-smoke.XXXXXX)
    OUT=${OUT:-$SMOKE_TMP/out}
    PY=${GPU_SESSION_PYTHON:-$([ -x "$ROOT/.venv/bin/python3" ] && echo "$ROOT/.venv/bin/python3" || echo python3)}
    WHL=${GPU_SESSION_WHL:-/tmp/gpu-smoke-whl}
    WHL_CLI=${GPU_SESSION_WHL_CLI:-.gpu/whl-cli}  # pure-Python wheels: any CPython 3
    SITE=${GPU_SESSION_SITE:-$SMOKE_TMP/site}
    WORK=${GPU_SESSION_WORK:-$SMOKE_TMP/work}
    DATA=${GPU_SESSION_DATA:-$([ -d .gpu/datasets/mnist ] && echo .gpu/datasets || echo /work/shared/datasets)}
    DEVICE=${GPU_SESSION_DEVICE:-cpu}
    WORKERS=${GPU_SESSION_WORKERS:-1}
    BENCH_ARGS=(--steps 2 --repeats 1 --no-study)
    STUDY_NEW_ARGS=(--seeds 1 --epochs-scale 0.01 --eval-n 200)
else
    if [ -z "${OUT:-}" ]; then
        echo "gpu_session.sh: OUT is unset (the device tool sets it; GPU_SESSION_SMOKE=1 rehearses on the CPU)" >&2
        exit 2
    fi
    PY=${GPU_SESSION_PYTHON:-python3}
    WHL=${GPU_SESSION_WHL:-.gpu/whl}
    WHL_CLI=${GPU_SESSION_WHL_CLI:-.gpu/whl-cli}
    SITE=${GPU_SESSION_SITE:-/tmp/site}
    WORK=${GPU_SESSION_WORK:-.gpu-run}
    DATA=${GPU_SESSION_DATA:-.gpu/datasets}
    DEVICE=${GPU_SESSION_DEVICE:-cuda}
    WORKERS=${GPU_SESSION_WORKERS:-8}  # 16 cores, 1 GPU: 8 runs at a time, 1 torch thread each
    BENCH_ARGS=()
    STUDY_NEW_ARGS=(--seeds 3 --eval-n 10000)  # full length: no --epochs-scale
fi
BUDGET=${GPU_SESSION_BUDGET:-540}
STEPS=${GPU_SESSION_STEPS:-info,bench,study}
BENCH_CAP=${GPU_SESSION_BENCH_CAP:-120}
RESERVE=${GPU_SESSION_RESERVE:-90}
RESUME=${GPU_SESSION_RESUME:-.gpu/seed-study.tar.gz}
if [ -n "${GPU_SESSION_BENCH_ARGS:-}" ]; then read -r -a BENCH_ARGS <<<"$GPU_SESSION_BENCH_ARGS"; fi
PART_BYTES=${GPU_SESSION_PART_BYTES:-$((15 * 1024 * 1024))}  # $OUT brings back files of at most 16 MiB, 8 in all

mkdir -p "$OUT" "$WORK"
OUT=$(cd "$OUT" && pwd)
WORK=$(cd "$WORK" && pwd)
DATA=$(cd "$DATA" 2>/dev/null && pwd || echo "$DATA")
STUDY=$WORK/seed-study
export PYTHONPATH="$SITE:$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg COLUMNS=${COLUMNS:-160} GANLAB_CACHE_DIR=${GANLAB_CACHE_DIR:-$WORK/cache}

elapsed() { echo $(($(date +%s) - T0)); }
remaining() { echo $((BUDGET - $(elapsed))); }
say() { printf '\n=== [%4ss] %s\n' "$(elapsed)" "$*"; }
wants() { case ",$STEPS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# "${GANLAB[@]}" ARGS: `python3 -m ganlab.cli ARGS`, as runpy runs it, with Python's own SIGINT handler put
# back: a command started in the background of a non-interactive shell inherits SIGINT ignored,
# and then neither the runner nor its workers (which inherit it) would stop cleanly on `timeout`'s
# SIGINT. With the handler, every run stops at KeyboardInterrupt, is recorded as interrupted, and
# resumes from its last epoch's checkpoint.
LAUNCH='import runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.argv[0] = "ganlab"
runpy.run_module("ganlab.cli", run_name="__main__")'
GANLAB=("$PY" -c "$LAUNCH")

# capped SECONDS CMD...: CMD under `timeout`, SIGINT at SECONDS (to its whole process group, the
# study's workers too), SIGKILL 20 s later; its exit status.
capped() {
    local cap=$1
    shift
    timeout -s INT -k 20 "$cap" "$@"
}

# ended RC SECONDS: how a capped command ended; returns RC.
ended() {
    local rc=$1 cap=$2
    case $rc in
        0) echo "--- ended: ok" ;;
        124 | 130) echo "--- ended: stopped at its cap of ${cap} s (SIGINT, rc $rc)" ;;
        137) echo "--- ended: killed 20 s after its cap of ${cap} s (rc 137)" ;;
        *) echo "--- ended: rc $rc" ;;
    esac
    return $rc
}

step_setup() {
    say "setup: $(date -u +%FT%TZ), $(hostname), budget ${BUDGET} s, steps $STEPS, smoke $SMOKE"
    echo "root $ROOT; out $OUT; work $WORK; data $DATA; python $PY; device $DEVICE; workers $WORKERS"
    echo "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') $(git -C "$ROOT" status --porcelain 2>/dev/null | grep -c . || true) changed paths"
    if compgen -G "$WHL/*.whl" >/dev/null; then
        mkdir -p "$SITE"
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHL"/*.whl ||
            { echo "wheel install into $SITE failed"; return 1; }
        echo "installed into $SITE: $(cd "$WHL" && ls -- *.whl | tr '\n' ' ')"
    else
        echo "no wheels in $WHL: using $PY's own packages"
    fi
    ls "$DATA"/mnist/*.gz >/dev/null 2>&1 || echo "WARNING: no MNIST IDX files under $DATA/mnist"
    # The image's typer (version unknown) must run ganlab's CLI; else this venv's typer and its
    # needs from $WHL_CLI go on top (GPU_SESSION_CLI_WHEELS=1: always).
    if [ "${GPU_SESSION_CLI_WHEELS:-0}" = 1 ] || ! cli_works; then
        if compgen -G "$WHL_CLI/*.whl" >/dev/null; then
            echo "installing the CLI fallback wheels from $WHL_CLI"
            "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHL_CLI"/*.whl ||
                { echo "CLI wheel install into $SITE failed"; return 1; }
        fi
        cli_works || { echo "ganlab's CLI does not work: stopping here"; "$PY" -m ganlab.cli study run --help 2>&1 | tail -20; return 1; }
    fi
    "$PY" -c 'import pydantic, typer, ganlab.cli, ganlab.study.runner, ganlab.bench.suite
from importlib.metadata import version
print("ganlab", ganlab.__file__, "pydantic", pydantic.VERSION, "typer", version("typer"), typer.__file__)' ||
        { echo "ganlab does not import: stopping here"; return 1; }
}

# Whether `ganlab study run --help` and `ganlab bench --help` work (imports and typer).
cli_works() {
    "$PY" -m ganlab.cli study run --help >/dev/null 2>&1 && "$PY" -m ganlab.cli bench --help >/dev/null 2>&1
}

step_info() {
    say "info: GPU, torch, packages"
    if command -v nvidia-smi >/dev/null; then
        timeout 30 nvidia-smi
        timeout 30 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit --format=csv
    else
        echo "no nvidia-smi"
    fi
    timeout 120 "$PY" - <<'EOF'
import os, platform, sys
import torch
print("python", sys.version.split()[0], sys.executable, platform.platform())
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(),
      "available", torch.cuda.is_available(), "cpus", os.cpu_count())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("gpu", p.name, f"{p.total_memory / 2**30:.1f} GiB", "sms", p.multi_processor_count, "capability", f"{p.major}.{p.minor}")
from importlib.metadata import PackageNotFoundError, version
names = "numpy scipy pydantic pydantic-core typing-extensions typer click rich pyyaml matplotlib pillow jinja2 safetensors".split()
def v(n):
    try:
        return version(n)
    except PackageNotFoundError:
        return "-"
print("packages:", ", ".join(f"{n} {v(n)}" for n in names))
EOF
    echo "free: $(free -g 2>/dev/null | awk '/Mem:/ {print $2 " GiB, " $7 " available"}'); disk here: $(df -h . | awk 'NR==2 {print $4 " free"}')"
}

step_bench() {
    local cap=$BENCH_CAP left
    left=$(($(remaining) - RESERVE - 60))  # leave the study a minute at least
    [ "$left" -lt "$cap" ] && cap=$left
    if [ "$cap" -lt 20 ]; then
        say "bench: skipped, ${left} s left for it"
        return 0
    fi
    say "bench: ganlab bench all --device $DEVICE --json --no-keras ${BENCH_ARGS[*]} (cap ${cap} s) -> bench.txt"
    capped "$cap" "${GANLAB[@]}" bench all --device "$DEVICE" --json --no-keras --data-dir "$DATA" "${BENCH_ARGS[@]}" 2>&1 |
        tee "$OUT/bench.txt"
    ended "${PIPESTATUS[0]}" "$cap"
}

# A smoke's study: the seed study's experiments 1 (nested 30/50/100/300 epochs) and 2, at batch
# 1024, so that the CPU rehearsal trains a few hundred steps in all.
smoke_spec() {
    local file=$WORK/seed-study-smoke.yaml
    "${GANLAB[@]}" study show seed-study >"$WORK/seed-study.yaml" || return 1
    "$PY" - "$WORK/seed-study.yaml" "$file" <<'EOF' || return 1
import sys, yaml
spec = yaml.safe_load(open(sys.argv[1]))
spec["name"] = "seed-study-smoke"
spec["experiments"] = [e for e in spec["experiments"] if str(e["id"]) in ("1", "2")]
spec["set"] = list(spec.get("set") or []) + ["train.batch_size=1024"]
yaml.safe_dump(spec, open(sys.argv[2], "w"), sort_keys=False)
EOF
    echo "$file"
}

# study_fix STUDY DROP: markers left "running" by a killed call become "interrupted" (on a fresh
# machine a stale pid could look alive); with DROP=1 (a study unpacked from a tarball, without
# checkpoints) every run that is not done is removed, so that it trains afresh.
study_fix() {
    "$PY" - "$1" "$2" <<'EOF'
import shutil, sys
from pathlib import Path
from ganlab.files import atomic_write_json, read_json
from ganlab.study.tasks import MARKER, study_states

study, drop = Path(sys.argv[1]), sys.argv[2] == "1"
for marker in study.glob(f"runs/*/seed-*/{MARKER}"):
    record = read_json(marker) or {}
    if record.get("state") == "running":
        record.update(state="interrupted", error="left running by an earlier gpu_session.sh call")
        atomic_write_json(marker, record)
        print(f"marker of {marker.parent.relative_to(study)}: running -> interrupted")
if drop:
    _, states = study_states(study)
    kept = 0
    for task, state in states:
        if not task.trains:
            continue
        if state.state in ("done", "stale"):
            kept += 1
        elif task.path.exists():
            shutil.rmtree(task.path)
            print(f"{task.label}: {state.state} ({state.epochs_done}/{state.epochs} epochs) without its checkpoint: starts over")
    print(f"{kept} finished runs kept from the tarball")
EOF
}

# pack STUDY DEST: the study folder as DEST (.tar.gz), without checkpoints/, weights/ and all but
# the last and milestone sample grids; metrics.jsonl's step records thinned only when needed to
# fit PART_BYTES (or 4 parts of it). Prints DEST's size.
pack() {
    "$PY" - "$1" "$2" "$PART_BYTES" <<'EOF'
import io, os, re, sys, tarfile, time
from pathlib import Path

study, dest, limit = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
SKIP_DIRS, SKIP_FILES = {"checkpoints", "weights", "__pycache__"}, {".lock"}
STEP = re.compile(rb'"step": (\d+)')

def files():
    for dirpath, dirnames, filenames in os.walk(study):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        names = sorted(f for f in filenames if f not in SKIP_FILES)
        if here.name == "samples":
            grids = [f for f in names if re.fullmatch(r"epoch_\d+\.png", f)]
            milestones = {int(m.group(1)) for f in os.listdir(here.parent) if (m := re.fullmatch(r"eval-epoch-(\d+)\.json", f))}
            keep = set(grids[-1:]) | {f for f in grids if int(f[6:-4]) in milestones}
            names = [f for f in names if f not in grids or f in keep]
        for name in names:
            yield here / name

def thinned(path, stride):
    out = io.BytesIO()
    with open(path, "rb") as stream:
        for line in stream:
            if stride != 1 and line.startswith(b'{"kind": "step"'):
                found = STEP.search(line)
                step = int(found.group(1)) if found else 0
                if stride == 0 or step % stride:
                    continue
            out.write(line)
    return out.getvalue()

def write(stride):
    root = study.name
    note = (f"packed by benchmarks/gpu_session.sh at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}: "
            "checkpoints/ and weights/ left out, samples/ keeps the last and the milestone grids; "
            + ("metrics.jsonl complete\n" if stride == 1 else
               f"metrics.jsonl keeps {'no' if stride == 0 else f'every {stride}th'} step record (all others complete)\n"))
    with tarfile.open(dest, "w:gz", compresslevel=6) as tar:
        for path in files():
            name = f"{root}/{path.relative_to(study)}"
            if path.name == "metrics.jsonl" and stride != 1:
                data = thinned(path, stride)
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), int(path.stat().st_mtime), 0o644
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.add(path, arcname=name, recursive=False)
        data = note.encode()
        info = tarfile.TarInfo(f"{root}/PACKED.txt")
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
        tar.addfile(info, io.BytesIO(data))
    return dest.stat().st_size

# The fullest that fits one file; else the fullest that fits 4 parts (the caller splits it: $OUT
# brings back 8 files in all); else the leanest.
said = lambda stride: {1: "all", 0: "none"}.get(stride, f"every {stride}th")
sizes = {}
for stride in (1, 10, 100, 0):
    sizes[stride] = write(stride)
    print(f"{dest.name}: {sizes[stride] / 2**20:.1f} MiB with metrics.jsonl step records: {said(stride)}")
    if sizes[stride] <= limit:
        break
else:
    best = next((s for s in sizes if sizes[s] <= 4 * limit), 0)
    if best != 0:
        print(f"{dest.name}: {write(best) / 2**20:.1f} MiB with metrics.jsonl step records: {said(best)} (in parts)")
EOF
}

step_study() {
    local spec args cap rc=0 tmp found
    say "study: seed study (resumable) in $STUDY"
    if [ -f "$STUDY/study.yaml" ]; then
        echo "resuming $STUDY, left by an earlier call on this machine (checkpoints kept)"
        study_fix "$STUDY" 0
    elif [ -f "$RESUME" ]; then
        echo "unpacking $RESUME to resume it"
        tmp=$(mktemp -d "$WORK/unpack.XXXXXX")
        tar -xzf "$RESUME" -C "$tmp" || return 1
        found=$(dirname "$(find "$tmp" -maxdepth 2 -name study.yaml | head -1)")
        [ -f "$found/study.yaml" ] || { echo "no study.yaml in $RESUME"; return 1; }
        rm -rf "$STUDY" && mv "$found" "$STUDY" && rm -rf "$tmp"
        study_fix "$STUDY" 1
    fi
    if [ -f "$STUDY/study.yaml" ]; then
        args=("$STUDY")  # a study directory resumes with its own seeds, epochs scale and eval n
    else
        spec=seed-study
        if [ "$SMOKE" = 1 ]; then spec=$(smoke_spec) || return 1; fi
        args=("$spec" "${STUDY_NEW_ARGS[@]}" --out "$STUDY")
    fi
    cap=$(($(remaining) - RESERVE))
    if [ "$cap" -ge 30 ]; then
        say "study run ${args[*]} --workers $WORKERS --threads 1 --device $DEVICE (cap ${cap} s)"
        capped "$cap" "${GANLAB[@]}" study run "${args[@]}" --workers "$WORKERS" --threads 1 --device "$DEVICE" --data-dir "$DATA"
        ended $? "$cap"
        rc=$?
        study_fix "$STUDY" 0 >/dev/null  # a run killed after the cap's grace
    else
        say "study run: skipped, only ${cap} s left for it"
    fi
    if [ -f "$STUDY/study.yaml" ]; then
        say "study status -> status.txt"
        timeout 120 "$PY" -m ganlab.cli study status "$STUDY" 2>&1 | tee "$OUT/status.txt"
        say "study verdicts --markdown -> verdicts.md"
        timeout 120 "$PY" -m ganlab.cli study verdicts "$STUDY" --markdown >"$OUT/verdicts.md" 2>"$WORK/verdicts.err"
        echo "verdicts rc $?"
        cat "$OUT/verdicts.md" "$WORK/verdicts.err"
        say "pack -> seed-study.tar.gz"
        pack "$STUDY" "$OUT/seed-study.tar.gz"
        if [ -f "$OUT/seed-study.tar.gz" ] && [ "$(stat -c %s "$OUT/seed-study.tar.gz")" -gt "$PART_BYTES" ]; then
            split -b "$PART_BYTES" -d -a 2 "$OUT/seed-study.tar.gz" "$OUT/seed-study.tar.gz.part-" &&
                rm "$OUT/seed-study.tar.gz"
            ls -l "$OUT"/seed-study.tar.gz.part-*
            [ "$(ls "$OUT"/seed-study.tar.gz.part-* | wc -l)" -le 4 ] ||
                echo "WARNING: more than 4 parts: \$OUT brings back 8 files at most, the last parts will be missing"
            echo "put it together with: cat seed-study.tar.gz.part-* > seed-study.tar.gz"
        fi
    fi
    return $rc
}

main() {
    local rc_bench=- rc_study=-
    step_setup || { say "setup failed: nothing ran"; return 1; }
    if wants info; then step_info; fi
    if wants bench; then step_bench; rc_bench=$?; fi
    if wants study; then step_study; rc_study=$?; fi
    say "end: bench rc $rc_bench, study rc $rc_study (0: every run done; 1 or 124: runs still to do, resume with another call); $(elapsed) s of ${BUDGET}"
    ls -l "$OUT"
    return 0
}

main 2>&1 | tee -a "$OUT/session.log"
exit "${PIPESTATUS[0]}"
