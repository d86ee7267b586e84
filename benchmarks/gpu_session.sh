#!/usr/bin/env bash
# The one command a session that is lent a GPU runs (issue 23, item 5), in at most 9 minutes on
# one H100: the GPU tests on real CuPy, CPU/GPU parity, the training step against PyTorch (TF32
# off and on), and liunet-mnist trained with the paper's recipe to the end (EM-Softmax, then
# Softmax if time remains), through benchmarks/gpu_check.py. docs/results/gpu.md ("The prepared
# GPU command") gives the device tool's call; in short, once, in the checkout:
#
#     mkdir -p .gpu_data && cp -r DATA/mnist .gpu_data/     # MNIST, git-ignored (DATA: docs/results.md)
#
# then run `bash benchmarks/gpu_session.sh` with carry [".gpu_data"] and timeout_s 540.
#
# What it expects and does:
#   - MNIST's four files (.gz or not) in .gpu_data/mnist (EMSM_GPU_DATA overrides); without
#     them it says so and runs the other sections.
#   - Python 3 with emsm_np's needs (NumPy, SciPy, Matplotlib, tqdm, threadpoolctl), CuPy, and
#     for the tests pytest with pytest-xdist, for the comparison PyTorch: the device machines
#     have them all. They reach no package registry, so nothing is downloaded: wheels carried in
#     .whl/ (the device README's recipe) are installed from there, and a need still missing is
#     said in one line (CuPy or emsm_np's own: the script stops; pytest: no tests section;
#     PyTorch: emsm_np is timed alone). emsm_np runs from the checkout (PYTHONPATH), not installed.
#   - Results under $OUT (the device tool's folder; elsewhere ./gpu_session_out): gpu_check.md
#     (written section by section as each ends), pytest_gpu.log, train_em-softmax.log,
#     train_softmax.log and session.log (everything this script printed).
#   - Time: gpu_check gets EMSM_GPU_BUDGET_S (default 500 s) in all, the tests at most 100 s,
#     parity 30 s, the step 75 s, and the training runs what is left (290 s or more); a stopped
#     subprocess gets Ctrl-C first (emsm train checkpoints, pytest prints its summary).
# Arguments are passed on to gpu_check.py (e.g. --sections step,train, --max-iter 2000).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT="${OUT:-$ROOT/gpu_session_out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
BUDGET_S="${EMSM_GPU_BUDGET_S:-500}"
DATA="${EMSM_GPU_DATA:-$ROOT/.gpu_data/mnist}"

session() {
    export PYTHONUNBUFFERED=1 PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    echo "== emsm_np GPU session, $(date -u '+%Y-%m-%d %H:%M UTC'), $ROOT"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "(no nvidia-smi)"

    # What it needs. Wheels carried in .whl/ first (no registry is reachable: never a plain pip install).
    if compgen -G ".whl/*.whl" >/dev/null; then
        echo "== installing the carried wheels: $(ls .whl | tr '\n' ' ')"
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
            && export PYTHONPATH="/tmp/site:$PYTHONPATH" || echo "!! the carried wheels did not install"
    fi
    missing=$("$PY" - <<'EOF'
import importlib.util
print(" ".join(n for n in ("numpy", "scipy", "matplotlib", "tqdm", "threadpoolctl", "cupy", "pytest", "xdist", "torch")
               if importlib.util.find_spec(n) is None))
EOF
    ) || missing="python"
    sections="tests,parity,step,train"
    for need in $missing; do
        case $need in
            pytest|xdist)
                echo "!! ${need/xdist/pytest-xdist} is missing here: no tests section"
                sections="${sections/tests,/}" ;;
            torch)
                echo "!! PyTorch is missing here: the step section times emsm_np alone" ;;
            *)
                echo "!! cannot run: $need is missing, and this machine reaches no package registry (pip cannot"
                echo "!! download here). Carry its wheel in .whl/ (the device README's recipe; docs/results/gpu.md)."
                return 3 ;;
        esac
    done
    "$PY" -c "import cupy; assert cupy.cuda.is_available(); print('CuPy', cupy.__version__, 'sees a GPU')" \
        || { echo "!! CuPy sees no usable GPU here: nothing to check"; return 3; }
    "$PY" -c "import torch; print('PyTorch', torch.__version__, 'CUDA', torch.cuda.is_available())" 2>/dev/null || true

    # The data: MNIST's four files in $DATA.
    data_args=(--data-dir "$DATA")
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        if [ ! -e "$DATA/$f" ] && [ ! -e "$DATA/$f.gz" ]; then
            echo "!! MNIST's $f is not in $DATA: no training section. Copy MNIST there first"
            echo "!! (mkdir -p .gpu_data && cp -r DATA/mnist .gpu_data/, DATA the folder holding the data sets) and name .gpu_data in carry."
            sections="${sections/,train/}"
            data_args=()
            break
        fi
    done

    echo "== benchmarks/gpu_check.py, sections $sections, $BUDGET_S s"
    timeout -k 5 -s INT $((BUDGET_S + 15)) "$PY" benchmarks/gpu_check.py "${data_args[@]}" \
        --out "$OUT/gpu_check.md" --log-dir "$OUT" --budget-s "$BUDGET_S" \
        --limit tests=100 --limit parity=30 --limit step=75 --sections "$sections" "$@"
    status=$?
    echo "== gpu_check exit status $status; the results: $OUT/gpu_check.md. In short:"
    grep -E '^\*Section|^- finished|^- stopped|^\| (lenet|liunet-mnist) \| (8|16|64|128) \|' "$OUT/gpu_check.md" || true
    return $status
}

session "$@" 2>&1 | tee "$OUT/session.log"
