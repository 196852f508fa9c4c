#!/usr/bin/env bash
# The Node package's TypeScript types: client/node/test/types-check.ts, which
# uses the package the way the backend does, compiles with `tsc --strict`.
# TypeScript and @types/node come from the npm registry (pinned versions) into
# WORK, kept between runs; the package itself stays dependency-free.
set -euo pipefail
package=$(cd "$1" && pwd)
work=$2
mkdir -p "$work"
cd "$work"
if [ ! -x node_modules/.bin/tsc ]; then
  echo '{"private": true, "type": "module"}' > package.json
  npm install --no-audit --no-fund --silent typescript@5.6.3 @types/node@20.17.6
fi
mkdir -p node_modules
echo '{"private": true, "type": "module"}' > package.json  # the backend is an ES module
ln -sfn "$package" node_modules/ttscache
cat > tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "strict": true, "noEmit": true, "module": "nodenext", "moduleResolution": "nodenext",
    "target": "es2022", "types": ["node"], "skipLibCheck": false
  },
  "files": ["types-check.ts"]
}
JSON
cp "$package/test/types-check.ts" types-check.ts
node_modules/.bin/tsc -p tsconfig.json
echo "types ok ($(node_modules/.bin/tsc --version))"
