#!/bin/sh
# Bundles the unmodified auth0-guardian-js@1.4.1 from npm into one browser file,
# examples/guardian-js/dist/auth0-guardian.js, for examples/starlette_app.py's page.
#
# The package ships CommonJS sources only (no browser build in its tarball), which
# require Node's `events` and `url`; esbuild bundles them with their npm
# look-alikes (pinned in package.json). Nothing is fetched from a CDN, and neither
# node_modules nor the bundle is committed: run this once, and again after the
# lock file changes (npm ci runs only then).
set -eu
cd "$(dirname "$0")/guardian-js"
if [ ! node_modules/.package-lock.json -nt package-lock.json ]; then
    npm ci --no-audit --no-fund
fi
# `global` is Node's name for the global object; one unused helper of the package
# (a form post) names it.
node_modules/.bin/esbuild node_modules/auth0-guardian-js/index.js \
    --bundle --platform=browser --format=iife --global-name=auth0GuardianJS \
    --define:global=globalThis --target=es2017 --minify --legal-comments=eof \
    --log-level=warning --outfile=dist/auth0-guardian.js
