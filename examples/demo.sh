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

# A release's whole life, in a scratch clone (the example registry itself is left as it is): a
# throwaway key and trust root, a signed promotion to `next`, a certified release tagged in git,
# its citation, the bytes by release (a cache hit: same sha256 as above), and the static catalogue.
scratch="$(mktemp -d "${TMPDIR:-/tmp}/pedata-demo-XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
export PEDATA_KEYS_DIR="$scratch/keys"
git clone -q . "$scratch/registry"
cd "$scratch/registry"
git config user.email demo@example.org
git config user.name "pedata demo"
echo "== (scratch clone) pedata key generate / trust init"
pedata key generate demo
pedata trust init --root demo --expires 30d
git add -A && git commit -qm "trust root"
echo "== pedata promote us --sign demo (latest -> next, signed)"
pedata promote us --sign demo --no-commit
git commit -qm "promote us next"
echo "== pedata certify us 1.0.0 --sign demo (signed release + git tag us/v1.0.0)"
pedata certify us 1.0.0 --sign demo --notice "demo release"
echo "== pedata cite us@1.0.0 --format bibtex"
pedata cite us@1.0.0 --format bibtex
echo "== pedata get pedata://us/enhanced_cps_2024@v1.0.0"
pedata get pedata://us/enhanced_cps_2024@v1.0.0
echo "== pedata verify && pedata site"
pedata verify
pedata site -o "$scratch/site" >/dev/null
echo "catalogue written to $scratch/site/index.html (removed at exit; run 'make site' for this registry's own)"
