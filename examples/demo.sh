#!/usr/bin/env bash
# The main job on the embedded default: build the example microdata with DVC, publish it to the
# local-folder remote (outside the work tree, no network), and read its schema back without
# touching the payload. Idempotent: a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PEDATA_NO_PROGRESS=1

echo "== dvc repro"
dvc repro
echo "== pedata publish"
pedata publish
echo "== pedata schema pedata://us/enhanced_cps_2024@latest"
pedata schema pedata://us/enhanced_cps_2024@latest
echo "== pedata schema pedata://us/us_microdata_2024@latest (PolicyEngine HDF5 layout)"
pedata schema pedata://us/us_microdata_2024@latest | head -20
echo "== pedata verify"
pedata verify
