#!/usr/bin/env bash
# Fill .gpu/ (git-ignored, carried to the lent GPU machine) for benchmarks/gpu_session.sh (issue 17,
# its GPU part): the wheels of the packages ganlab needs that the device image lacks, for its
# Python 3.12 on x86-64, and a copy of the four MNIST IDX files. Run it HERE (a machine with pip
# access), from anywhere in the repo; it prints the `run` call to make afterwards.
#
#   bash benchmarks/gpu_prepare.sh                       # .gpu/whl + .gpu/datasets/mnist
#   bash benchmarks/gpu_prepare.sh --smoke-wheels DIR    # also the same wheels for THIS python
#                                                        # into DIR, for GPU_SESSION_SMOKE=1
#
# The device image (/work/.library/device/KINDS.md, "Python packages already there") has torch,
# numpy, scipy, pyyaml, typer, rich, click, matplotlib, pillow, jinja2 and safetensors, but not
# pydantic nor its own needs (pydantic-core, annotated-types, typing-inspection). typing-extensions
# is there in an unknown version; pydantic needs a recent one, so it travels too (a newer
# typing-extensions only adds names). Versions: exactly those of this venv, so the device runs
# what the tests here ran. .gpu/whl-cli holds this venv's typer and its needs, a fallback that
# gpu_session.sh installs only when ganlab's CLI does not work with the image's typer.
#
# Environment: MNIST_SRC (default /work/shared/datasets/mnist), PYTHON (default .venv/bin/python3,
# else python3: whose pip downloads and whose installed versions are pinned).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SMOKE_WHEELS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke-wheels) SMOKE_WHEELS="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "gpu_prepare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

PACKAGES=(pydantic pydantic-core annotated-types typing-inspection typing-extensions)
# Installed on the device only if ganlab's CLI fails with the image's own typer (its version there
# is unknown): this venv's typer, which vendors click, and what it needs besides pydantic.
CLI_PACKAGES=(typer annotated-doc rich shellingham markdown-it-py mdurl pygments)
MNIST_SRC=${MNIST_SRC:-/work/shared/datasets/mnist}
MNIST_FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python3 ]; then PYTHON=.venv/bin/python3; else PYTHON=python3; fi
fi

# .gpu/ must never be committed nor travel uncarried; .gpu-run/ is where the session works.
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
for line in /.gpu/ /.gpu-run/; do
    grep -qxF "$line" "$exclude" 2>/dev/null || echo "$line" >>"$exclude"
done

# pins NAME...: NAME==VERSION as installed in $PYTHON's environment, into the array PINS.
pins() {
    local name version
    PINS=()
    for name in "$@"; do
        version=$("$PYTHON" -c 'import sys; from importlib.metadata import version; print(version(sys.argv[1]))' "$name") || {
            echo "gpu_prepare.sh: $name is not installed in $PYTHON's environment: cannot pin its version" >&2
            exit 1
        }
        PINS+=("$name==$version")
    done
}

# download DEST PYVERSION NAME==VERSION...: those wheels for CPython PYVERSION, x86-64 manylinux
# (the device README's recipe; more manylinux_2_N tags only when the first try finds nothing).
download() {
    local dest=$1 pyver=$2 pin extra n
    shift 2
    mkdir -p "$dest"
    for pin in "$@"; do
        # Only one version of each package in the folder: two would stop the install there.
        local stem=${pin%%==*}
        stem=${stem//-/_}
        find "$dest" -maxdepth 1 -iname "${stem}-*.whl" ! -iname "${stem}-${pin##*==}-*.whl" -delete
        if ls "$dest"/ 2>/dev/null | grep -qi "^${stem}-${pin##*==}-.*\.whl$"; then
            continue
        fi
        extra=()
        for n in "" 24 31 34 35 39; do
            [ -n "$n" ] && extra+=(--platform "manylinux_2_${n}_x86_64")
            if "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
                --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
                --platform manylinux2014_x86_64 --platform manylinux1_x86_64 "${extra[@]}" -d "$dest" "$pin"; then
                break
            fi
            [ "$n" = 39 ] && { echo "gpu_prepare.sh: no wheel of $pin for CPython $pyver x86-64" >&2; exit 1; }
        done
    done
}

pins "${PACKAGES[@]}"
MAIN_PINS=("${PINS[@]}")
pins "${CLI_PACKAGES[@]}"
CLI_PINS=("${PINS[@]}")
echo "pinned (from $PYTHON): ${MAIN_PINS[*]}; CLI fallback: ${CLI_PINS[*]}"
download .gpu/whl 3.12 "${MAIN_PINS[@]}"
download .gpu/whl-cli 3.12 "${CLI_PINS[@]}"
# What each wheel needs (skipping extras), to check against the device image's list.
echo "requirements of the carried wheels (Requires-Dist, extras left out):"
for whl in .gpu/whl/*.whl .gpu/whl-cli/*.whl; do
    needs=$("$PYTHON" - "$whl" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    reqs = [l.split(":", 1)[1].strip() for l in z.read(meta).decode().splitlines() if l.startswith("Requires-Dist:")]
print(", ".join(r for r in reqs if "extra ==" not in r) or "-")
EOF
)
    echo "  $whl: $needs"
done

if [ -n "$SMOKE_WHEELS" ]; then
    pyver=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    download "$SMOKE_WHEELS" "$pyver" "${MAIN_PINS[@]}"
    echo "smoke wheels for CPython $pyver in $SMOKE_WHEELS"
fi

mkdir -p .gpu/datasets/mnist
for f in "${MNIST_FILES[@]}"; do
    [ -f "$MNIST_SRC/$f" ] || { echo "gpu_prepare.sh: $MNIST_SRC/$f is missing" >&2; exit 1; }
    cmp -s "$MNIST_SRC/$f" ".gpu/datasets/mnist/$f" || cp "$MNIST_SRC/$f" ".gpu/datasets/mnist/$f"
done

echo
echo ".gpu holds (the working tree that travels must stay under 64 MiB in all):"
(cd .gpu && find . -type f -printf '  %9s  %p\n' | sort -k2)
du -sh .gpu
[ -f .gpu/seed-study.tar.gz ] && echo "note: .gpu/seed-study.tar.gz is there: the session resumes the study from it"
cat <<'EOF'

Next, in a session whose task has a GPU (status: can_start_another true, budget_left_s about 900),
make ONE call:

  run(command="bash benchmarks/gpu_session.sh", carry=[".gpu"], timeout_s=600)

It ends by itself after at most about 9 minutes (GPU_SESSION_BUDGET=540 s: setup, nvidia-smi and
versions, `ganlab bench all` capped at 120 s, then the full seed study until 90 s are left) and
brings back under files_at: session.log, bench.txt (last line: the bench JSON), status.txt,
verdicts.md and seed-study.tar.gz (the study without checkpoints and weights; when over 15 MiB,
seed-study.tar.gz.part-NN: cat them together).

If the study is not finished and budget_left_s allows, continue AT ONCE (the machine stays warm
30 s), on the same machine, where .gpu-run/seed-study still holds every checkpoint:

  run(command="GPU_SESSION_STEPS=study GPU_SESSION_RESERVE=60 GPU_SESSION_BUDGET=<budget_left_s - 40> bash benchmarks/gpu_session.sh",
      carry=[".gpu"], timeout_s=<budget_left_s - 20>)

then give_back. In a later session (a fresh machine): copy the returned seed-study.tar.gz to
.gpu/seed-study.tar.gz here (the carried tree must stay under 64 MiB in all) and make the first
call again: finished runs are kept, unfinished ones start over (their checkpoints are not
brought back).
EOF
