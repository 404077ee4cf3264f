#!/usr/bin/env bash
# The main job on the embedded default: build the example microdata with DVC, publish it to the
# local-folder remote (outside the work tree, no network), and read its schema back without
# touching the payload, check its lineage, resolve it as a consumer would (sha256 verified while
# streaming into the local cache), and verify the registry. Idempotent: a second run changes nothing.
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
echo "== pedata lineage --lint (the dvc.yaml graph behind the artifacts)"
pedata lineage --lint
echo "== pedata get: verified bytes into the sha256-keyed cache (a consumer's view)"
pedata get pedata://us/enhanced_cps_2024@latest
echo "== pedata verify"
pedata verify
