#!/usr/bin/env bash
# Fetch again, from the npm registry, the files GX Data Docs load from CDNs
# (include/sluice/static/vendor/, mapped by include/sluice/offline.py). Needs npm; run it when GX
# changes its templates, then update the mapping and the vendor README.
set -euo pipefail
vendor="$(cd "$(dirname "$0")/.." && pwd)/include/sluice/static/vendor"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
get() {  # npm spec, folder: unpack the package into ./folder
  npm pack "$1" --silent >/dev/null && mkdir -p "$2" && tar xzf ./*.tgz -C "$2" --strip-components=1 && rm ./*.tgz
}
put() {  # file in the unpacked packages, path under vendor/
  mkdir -p "$vendor/$(dirname "$2")" && cp "$1" "$vendor/$2"
}
get bootstrap@4.3.1 bs; put bs/dist/css/bootstrap.min.css bootstrap@4.3.1/css/bootstrap.min.css
put bs/dist/js/bootstrap.min.js bootstrap@4.3.1/js/bootstrap.min.js; put bs/LICENSE bootstrap@4.3.1/LICENSE
get jquery@3.7.1 jq; put jq/dist/jquery.min.js jquery@3.7.1/jquery.min.js; put jq/LICENSE.txt jquery@3.7.1/LICENSE.txt
get popper.js@1.12.9 po; put po/dist/umd/popper.min.js popper.js@1.12.9/umd/popper.min.js
get bootstrap-table@1.19.1 bt; for f in bootstrap-table.min.css bootstrap-table.min.js extensions/filter-control/bootstrap-table-filter-control.min.js; do
  put "bt/dist/$f" "bootstrap-table@1.19.1/$f"; done; put bt/LICENSE bootstrap-table@1.19.1/LICENSE
get bootstrap-table@1.19.0 bt0; for f in bootstrap-table-filter-control.css bootstrap-table-filter-control.min.css; do
  put "bt0/dist/extensions/filter-control/$f" "bootstrap-table@1.19.0/extensions/filter-control/$f"; done
get bootstrap-datepicker@1.9.0 dp; put dp/dist/css/bootstrap-datepicker.min.css bootstrap-datepicker@1.9.0/css/bootstrap-datepicker.min.css
put dp/dist/js/bootstrap-datepicker.min.js bootstrap-datepicker@1.9.0/js/bootstrap-datepicker.min.js; put dp/LICENSE bootstrap-datepicker@1.9.0/LICENSE
get @fortawesome/fontawesome-free@6.6.0 fa; put fa/css/all.min.css fontawesome-free@6.6.0/css/all.min.css; put fa/LICENSE.txt fontawesome-free@6.6.0/LICENSE.txt
for f in fa/webfonts/*.woff2; do put "$f" "fontawesome-free@6.6.0/webfonts/$(basename "$f")"; done
get @forevolve/bootstrap-dark@1.1.0 dark; put dark/dist/css/bootstrap-prefers-dark.css bootstrap-dark@1.1.0/css/bootstrap-prefers-dark.css; put dark/LICENSE bootstrap-dark@1.1.0/LICENSE
get vega@5.33.1 vg; put vg/build/vega.min.js vega@5.33.1/vega.min.js
get vega-lite@5.23.0 vl; put vl/build/vega-lite.min.js vega-lite@5.23.0/vega-lite.min.js; put vl/LICENSE vega-lite@5.23.0/LICENSE
get vega-embed@6.29.0 ve; put ve/build/vega-embed.min.js vega-embed@6.29.0/vega-embed.min.js; put ve/LICENSE vega-embed@6.29.0/LICENSE
echo "vendored into $vendor"
