#!/usr/bin/env bash
# Re-render docs/template.png and docs/results.png from real workbooks (needs LibreOffice and
# poppler-utils: apt-get install libreoffice-calc poppler-utils). Run `make demo` first.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
cp sample_data/calls.xlsx "$work/template.xlsx"
cp out/calls.results.xlsx "$work/results.xlsx"
(cd "$work" && soffice --headless --convert-to pdf template.xlsx results.xlsx >/dev/null)
for name in template results; do
  pdftoppm -r 300 -png -f 1 -l 1 -x 120 -y 250 -W 1700 -H 480 "$work/$name.pdf" "$work/$name"
  cp "$work/$name-1.png" "docs/$name.png"
done
echo "wrote docs/template.png docs/results.png"
