#!/bin/bash
# The Docker recipe's access path for real (docs/migrating.md), run by
# nspawn_test.sh in a second container beside the one running the packaged
# daemon: only the daemon's /run/ttscache is bound in, and the client runs as
# a uid the daemon's container does not know, with the daemon's `ttscache`
# gid as its one supplementary group — what docs/examples/docker-compose.ttscache.yml
# gives a backend container. The Node module is the Debian package
# node-ttscache, used by Debian's nodejs from a fresh project.
#   client_container.sh GID     (as root in the client container; output to stdout)
set -euo pipefail
gid=$1
uid=4242
export DEBIAN_FRONTEND=noninteractive
! getent group "$gid" > /dev/null || { echo "FAIL: gid $gid has a name here; the test wants only the number in common"; exit 1; }
ls -ln /run/ttscache

# A fresh project; the guide's commands for the Debian package, as written, as root.
app=/tmp/app
mkdir -p "$app"
echo '{ "private": true, "type": "module" }' > "$app/package.json"
# shellcheck source=tests/support/doc_block.sh
source /debs/doc_block.sh
sudo() { "$@"; }
export -f sudo
# the .deb beside the project, where the guide's `apt install ./…` finds it
cp /debs/node-ttscache_*_all.deb "$app/"
(cd "$app" && run_doc_block /debs/migrating.md debian-package) > /tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
rm "$app"/node-ttscache_*_all.deb
echo "node $(node --version); node-ttscache installed: $(ls /usr/share/nodejs/ttscache | xargs); linked: $(readlink "$app/node_modules/ttscache")"
cat > "$app/backend.mjs" <<'JS'
// The backend's calls, through the one changed import.
import { readFile } from 'node:fs/promises';
import { initDiskCache, diskCacheGet, diskCachePut, getDiskCacheStats, encodeWavToOpus } from 'ttscache/adapter';
import { Client } from 'ttscache';

const wav = await readFile(process.argv[2]);
const text = 'Hello from a container.';
await initDiskCache();
// The precise client first: it throws where the adapter degrades, so a refused connection shows here.
const direct = new Client({ timeoutMs: 5000 });
await direct.ping();
direct.close();
await diskCachePut(text, 'piper', wav);
const hit = await diskCacheGet(text, 'piper');
if (!hit || !hit.equals(wav)) throw new Error('no byte-equal hit after the put');
const { buffer } = await encodeWavToOpus(hit);
if (buffer.subarray(0, 4).toString() !== 'OggS') throw new Error('encodeWavToOpus gave no Ogg');
console.log(`uid ${process.getuid()} groups ${process.getgroups()}: put, hit ${hit.length} B, ` +
  `opus ${buffer.length} B, stats ${JSON.stringify(await getDiskCacheStats())}`);
JS
cat > "$app/refused.mjs" <<'JS'
import { Client } from 'ttscache';
try {
  await new Client({ timeoutMs: 5000 }).ping();
  console.log('FAIL: served without the group');
  process.exit(1);
} catch (err) {
  console.log(`refused without the group: ${err.code}: ${err.message}`);
}
JS
cp /debs/speech.wav "$app/speech.wav"
chown -R "$uid:$uid" "$app"
cd "$app"
setpriv --reuid="$uid" --regid="$uid" --groups="$gid" --reset-env node backend.mjs speech.wav
setpriv --reuid="$uid" --regid="$uid" --clear-groups --reset-env node refused.mjs
echo "CLIENT PASSED"
