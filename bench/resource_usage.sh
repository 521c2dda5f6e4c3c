#!/usr/bin/env bash
# Registers, spills, stack and static shared memory of every kernel, from ptxas (nvcc --resource-usage), for one
# architecture (default sm_90). Needs only nvcc: runs here as well as on the GPU machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
arch=${1:-sm_90}
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
printf "%-48s %5s %7s %6s %10s\n" kernel regs smem_B stack spill_B
for f in "$root"/kernels/*.cu; do
  "$nvcc" -std=c++17 -arch="$arch" --expt-relaxed-constexpr --resource-usage -I"$root/kernels" -c "$f" -o /dev/null 2>&1 |
    awk '/Function properties for/ {name=$NF}
         /stack frame/ {stack=$1; spill=$5+$9}
         /Used [0-9]+ registers/ {regs=$5; smem=0; for (i=1;i<=NF;i++) if ($(i)=="smem") smem=$(i-2);
                                  print name, regs, smem, stack, spill}'
done | while read -r name regs smem stack spill; do
  pretty=$(echo "$name" | c++filt | sed -E 's/cam::\(anonymous namespace\)::|cam::_GLOBAL__N_[^:]*:://g; s/\(.*//')
  printf "%-48s %5s %7s %6s %10s\n" "$pretty" "$regs" "$smem" "$stack" "$spill"
done
