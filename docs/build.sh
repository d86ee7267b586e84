#!/usr/bin/env bash
# Build the documentation site, offline and strict (warnings are errors).
#
#   pip install -e '.[docs]'      # once, from the repository root
#   bash docs/build.sh            # -> docs/_build/html/index.html
#
# MathJax 3 is fetched once from the npm registry (npm pack, pinned version and
# checksum) into docs/_mathjax/ (ignored by git); conf.py copies it, with its
# LICENSE, into the built site's _static/mathjax, so pages render their math
# without a network. Extra arguments go to sphinx-build (e.g. -E for a clean read).
set -euo pipefail

DOCS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$DOCS")"
cd "$ROOT"

MATHJAX_VERSION=3.2.2
# sha256 of the registry tarball mathjax-3.2.2.tgz (its npm shasum is
# c754d7b46a679d7f3fa03543d6b8bf124ddf9f6b; npm also checks its own sha512).
MATHJAX_SHA256=1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09
CACHE="$DOCS/_mathjax/mathjax-$MATHJAX_VERSION"

if [ ! -f "$CACHE/es5/tex-mml-chtml.js" ] || [ ! -f "$CACHE/LICENSE" ]; then
    command -v npm >/dev/null || { echo "build.sh: npm is needed once to fetch MathJax $MATHJAX_VERSION" >&2; exit 1; }
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    echo "fetching mathjax@$MATHJAX_VERSION from the npm registry into $CACHE"
    (cd "$tmp" && npm pack --silent "mathjax@$MATHJAX_VERSION" >/dev/null)
    tarball="$tmp/mathjax-$MATHJAX_VERSION.tgz"
    echo "$MATHJAX_SHA256  $tarball" | sha256sum --check --quiet - \
        || { echo "build.sh: mathjax-$MATHJAX_VERSION.tgz does not match its pinned sha256" >&2; exit 1; }
    tar -xzf "$tarball" -C "$tmp"
    rm -rf "$CACHE"
    mkdir -p "$CACHE"
    cp -R "$tmp/package/es5" "$tmp/package/LICENSE" "$tmp/package/package.json" "$CACHE/"
    rm -rf "$tmp"
    trap - EXIT
fi

python -c "import sphinx, myst_parser, sphinx_gallery" 2>/dev/null \
    || { echo "build.sh: install the docs extra first: pip install -e '.[docs]'" >&2; exit 1; }

exec python -m sphinx -W --keep-going -b html "$@" docs docs/_build/html
