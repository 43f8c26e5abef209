#!/usr/bin/env bash
# The prepared GPU check, for a session that is lent a CUDA machine (issues 4, 5 and 9 ask for
# GPU figures): one command of about 5-7 minutes on an H100, no installation (the machine's own
# python3 has torch and every dependency; microgen runs from the source tree).
#
#     bash benchmarks/device_check.sh            # writes its logs to $OUT (or ./device-output)
#
# Prints and saves:
#   gpu.txt      the device, driver and torch
#   cli.txt      `microgen rock|cathode --device cuda`: exact counts checked on the GPU
#   speed-*.txt  network evaluations per image and end-to-end seconds per 256² sample and
#                samples/s for batches of 1, 32 and 128, per shipped model at its calibrated budget
#   train.txt    training images/s (crop 128) of the width-16 network and the space-to-depth one
#   engine.txt   corruption throughput (images/s of 256²) and sampler steps
# Every step has its own time limit, so one slow step cannot take the whole lease.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
out="${OUT:-device-output}"
mkdir -p "$out"
py="${PYTHON:-python3}"

step() { # step SECONDS LOGFILE COMMAND...: run with a limit, print and keep the output
    local limit=$1 log=$2
    shift 2
    echo "== $*" | tee -a "$out/$log"
    timeout "$limit" "$@" 2>&1 | tee -a "$out/$log"
    echo "== exit ${PIPESTATUS[0]}" | tee -a "$out/$log"
}

step 30 gpu.txt nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
step 30 gpu.txt "$py" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
step 60 cli.txt "$py" -m microgen.cli rock --type berea-fast --porosity 0.19 --size 256 -n 8 --seed 0 \
    --device cuda -o "$out/rock.npy" --overwrite
step 60 cli.txt "$py" -m microgen.cli cathode --active 0.5 --binder 0.1 --size 256 -n 4 --seed 0 \
    --device cuda -o "$out/cathode.npy" --overwrite
rm -f "$out/rock.npy" "$out/cathode.npy"
for spec in berea-fast:120 ketton:120 berea:200 nmc:200; do
    model=${spec%%:*}
    evaluations=${spec##*:}
    step 100 "speed-$model.txt" "$py" benchmarks/speed.py --model "$model" --device cuda --size 256 \
        --batch 1 32 128 --full --samplers "trapezoidal:$evaluations" --precisions bfloat16
done
step 60 train.txt "$py" benchmarks/train.py --device cuda --crop 128 --batch 64 --steps 20
step 60 train.txt "$py" benchmarks/train.py --device cuda --crop 128 --batch 64 --steps 20 --patch 2 \
    --width 32 --mults 1,2,2
step 60 engine.txt "$py" benchmarks/engine.py --device cuda --size 256 --batch 256
