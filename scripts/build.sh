#!/usr/bin/env bash
# Configure and build one CMake tree. The one build command shared by CI
# (scripts/test.sh), the container image (docker/Dockerfile) and the EC2
# install (deploy/install.sh), so each builds what CI built.
#
#   scripts/build.sh DIR [CMAKE_ARGS...]
#
# DIR is relative to the repository root, e.g.
#   scripts/build.sh build -DBM_WERROR=ON -DBM_SANITIZE=
# Environment: BM_JOBS (parallel build jobs, default 2).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if (($# < 1)) || [[ "$1" == -h || "$1" == --help ]]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
    (($# >= 1)) && exit 0
    exit 2
fi
dir=$1
shift

cmake -S . -B "$dir" "$@"
cmake --build "$dir" -j "${BM_JOBS:-2}"
