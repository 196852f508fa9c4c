#!/usr/bin/env bash
# The Node package as a user installs it, with the commands of
# docs/migrating.md as written: the tarball the build made with `npm pack`
# goes into a fresh ES-module project by the Dockerfile's RUN lines
# (`npm install --offline`: it has no dependencies), and a script there
# starting with the guide's import — the backend's one changed line — runs the
# backend's calls against a live daemon. The Debian package
# (node-ttscache, /usr/share/nodejs/ttscache) holds the same files; it is
# installed and used with Debian's own nodejs in the system test
# (tests/system/client_container.sh).
#   node_package_test.sh BUILD TTSCACHED
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cli/test_daemon.sh
source "$here/test_daemon.sh"
# shellcheck source=tests/support/doc_block.sh
source "$here/../support/doc_block.sh"
guide=$here/../../docs/migrating.md
start_test_daemon "$2"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
tarball=$build/ttscache-$version.tgz
[ -f "$tarball" ] || { echo "FAIL: no $tarball (target node_pack; is npm installed?)"; exit 1; }

# The tarball holds package.json's "files" and nothing else (no tests).
listed=$(tar -tzf "$tarball" | sed 's|^package/||' | sort)
expected=$(node -e 'const p = require(process.argv[1]); console.log(["package.json", ...p.files].sort().join("\n"))' \
  "$here/../../client/node/package.json")
[ "$listed" = "$expected" ] || { echo "FAIL: tarball holds"; echo "$listed"; echo "expected"; echo "$expected"; exit 1; }

# The component the Debian package is made of installs the same files where Debian's nodejs looks.
DESTDIR=$dir/root cmake --install "$build" --component node > /dev/null
configured=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
installed=$(cd "$dir/root$configured/share/nodejs/ttscache" && find . -type f | sed 's|^\./||' | sort)
[ "$installed" = "$expected" ] || { echo "FAIL: share/nodejs/ttscache holds"; echo "$installed"; exit 1; }

app=$dir/app
mkdir -p "$app"
cd "$app"
npm init -y > /dev/null
npm pkg set type=module
# The guide's Dockerfile: COPY the tarball beside package.json, then its RUN
# lines for npm (its apt-get line must no longer install ffmpeg).
dockerfile=$(doc_block "$guide" dockerfile)
! grep -q ffmpeg <<< "$dockerfile" || { echo "FAIL: the guide's Dockerfile still installs ffmpeg"; exit 1; }
copied=$(awk '$1 == "COPY" { print $2 }' <<< "$dockerfile")
[ "$copied" = "ttscache-$version.tgz" ] || { echo "FAIL: the guide copies '$copied', the build makes ttscache-$version.tgz"; exit 1; }
cp "$tarball" "./$copied"
sed -n 's/^RUN \(npm .*\)/\1/p' <<< "$dockerfile" > npm-steps.sh
[ -s npm-steps.sh ] || { echo "FAIL: no RUN npm line in the guide's Dockerfile"; exit 1; }
HOME=$dir npm_config_cache=$dir/npm-cache bash -ex npm-steps.sh > "$dir/npm.log" 2>&1 \
  || { cat "$dir/npm.log"; echo "FAIL: the guide's npm install"; exit 1; }
espeak-ng -w "$dir/speech.wav" "The lights are on in the kitchen."
doc_block "$guide" import > server-side.mjs
cat >> server-side.mjs <<'JS'
// What the backend runs, with its import changed to the guide's and nothing else.
import { readFile } from 'node:fs/promises';

const wav = await readFile(process.argv[2]);
await initDiskCache();
if (await diskCacheGet('The lights are on.', 'piper') !== null) throw new Error('expected a miss');
await diskCachePut('The lights are on.', 'piper', wav);
const hit = await diskCacheGet('  the LIGHTS are on. ', 'piper');
if (!hit || !hit.equals(wav)) throw new Error('the hit is not the WAV that was put');
const { buffer, contentType } = await encodeWavToOpus(hit);
if (buffer.subarray(0, 4).toString() !== 'OggS' || contentType !== 'audio/ogg; codecs=opus') {
  throw new Error(`encodeWavToOpus: ${contentType}, ${buffer.subarray(0, 4)}`);
}
// The guide's synthesis, wrapped in withSynthesisSlot (section 7), as written.
const synthesize = async () => wav;
async function serve(text, engine) {
JS
doc_block "$guide" synthesis-slot >> server-side.mjs
cat >> server-side.mjs <<'JS'
  return wav;
}
const served = await serve('A new phrase.', 'piper');
if (!served.equals(wav) || !(await diskCacheGet('a new phrase.', 'piper'))?.equals(wav)) {
  throw new Error('the guide\'s synthesis flow did not store the phrase');
}
const stats = await getDiskCacheStats();
if (stats.piper !== 2) throw new Error(`stats: ${JSON.stringify(stats)}`);
console.log(`adapter from the tarball: miss, put, hit (${hit.length} B), opus ${buffer.length} B, ` +
  `stats ${JSON.stringify(stats)}, opus enabled: ${isOpusEnabled()}`);
JS
TTSCACHE_SOCKET=$dir/d.sock OPUS_ENABLED=true node server-side.mjs "$dir/speech.wav"
echo "PASS: ttscache-$version.tgz installs offline into a fresh project and serves the backend's calls"
