# Sourced by tests/system/in_container.sh (it defines check, say, fail, as;
# root in the booted Debian 12 container, the packaged daemon installed and
# its socket active, alice in group ttscache): `ttscache adopt` moves the old
# Node module's folder into the packaged, sandboxed daemon (ProtectSystem=
# strict, user ttscache), which never opens the folder itself: root opens
# each file and passes its descriptor.
#
# The old folder is made on the host, before the container starts, with the
# module's reference implementation, into the folder bound at /debs:
#
#   for text in "Adopted phrase one." "Adopted phrase two." "Adopted phrase three."; do
#     espeak-ng -w /tmp/old.wav "$text"
#     node tests/node/old-tts-cache.mjs put "$work/debs/old-tts-cache" piper 500 "$text" /tmp/old.wav
#   done
#   espeak-ng -w /tmp/old.wav "Adopted by xtts."
#   node tests/node/old-tts-cache.mjs put "$work/debs/old-tts-cache" xtts 500 "Adopted by xtts." /tmp/old.wav
#
# (texts no other step puts, so every adopted entry is new to the daemon).
# ADOPT_OLD, ADOPT_DIR, ADOPT_CACHE and ADOPT_DAEMON_USER override
# /debs/old-tts-cache, /data/tts-cache, /var/cache/ttscache and ttscache (to
# run it outside the container).
adopt_old=${ADOPT_OLD:-/debs/old-tts-cache}
adopt_dir=${ADOPT_DIR:-/data/tts-cache}
adopt_cache=${ADOPT_CACHE:-/var/cache/ttscache}
adopt_daemon_user=${ADOPT_DAEMON_USER:-ttscache}
adopt_texts=("piper|Adopted phrase one." "piper|Adopted phrase two." "piper|Adopted phrase three."
             "xtts|Adopted by xtts.")

# A byte-equal hit as alice, by the text in another case and spacing, against
# the file the old module wrote (its path is the key: the key is the module's).
adopted_hit() {
  local engine=$1 text=$2 path
  path=$(ttscache key --engine "$engine" --text "$text" | sed -n 's/^path //p')
  [ -f "$adopt_source/$path" ] || { echo "no $adopt_source/$path: the keys differ"; return 1; }
  as alice ttscache get --engine "$engine" --text "  ${text^^} " -o /tmp/adopted.wav &&
    cmp /tmp/adopted.wav "$adopt_source/$path"
}

check "the old folder is bound at $adopt_old" test -d "$adopt_old/piper"
rm -rf "$adopt_dir" /tmp/adopt-expected
mkdir -p "$(dirname "$adopt_dir")"
cp -r "$adopt_old" "$adopt_dir"
cp -r "$adopt_old" /tmp/adopt-expected  # the module's bytes, for the hits after --move
# Owned by the old service's uid and closed to everyone else: the daemon
# (user ttscache) could not read it even without its sandbox.
chown -R 1000:1000 "$adopt_dir"
chmod -R u=rwX,go= "$adopt_dir"
adopt_count=$(find "$adopt_dir" -name '*.wav' | wc -l)
check "the old folder holds ${#adopt_texts[@]} entries" test "$adopt_count" = "${#adopt_texts[@]}"
# --dry-run reports and sends nothing: the entry is still a miss (exit 1).
adopt_dry_run() {
  ttscache adopt --dry-run "$adopt_dir" | tee /tmp/adopt-dry.out &&
    grep -q "^dry run: would adopt $adopt_count entries" /tmp/adopt-dry.out || return 1
  as alice ttscache get --engine xtts --text "Adopted by xtts." -o /dev/null
  [ $? = 1 ]
}
check "adopt --dry-run as root sends nothing" adopt_dry_run
# The adopt itself is docs/migrating.md's command, as written (in_container.sh
# defines doc_block, run_doc_block and sudo; outside the container, plain adopt).
if [ -z "${ADOPT_DIR:-}" ] && declare -F run_doc_block > /dev/null; then
  adopt_command="$(declare -f doc_block run_doc_block); run_doc_block /debs/migrating.md host-adopt"
else
  adopt_command="ttscache adopt '$adopt_dir'"
fi
check "docs/migrating.md step 2 (host-adopt): ttscache adopt $adopt_dir as root exits 0" \
  bash -c "$adopt_command > /tmp/adopt.out 2> /tmp/adopt.err; code=\$?; cat /tmp/adopt.out /tmp/adopt.err; [ \$code = 0 ]"
check "it reports $adopt_count entries adopted" grep -q "^adopted $adopt_count entries" /tmp/adopt.out
adopt_source=$adopt_dir
for item in "${adopt_texts[@]}"; do
  check "adopted, a byte-equal hit as alice: ${item%%|*} \"${item#*|}\"" adopted_hit "${item%%|*}" "${item#*|}"
done
check "the daemon's copies are its own (user $adopt_daemon_user)" \
  bash -c "[ -z \"\$(find '$adopt_cache/piper' '$adopt_cache/xtts' -name '*.wav' ! -user '$adopt_daemon_user')\" ]"
check "adopt --move: all already cached, every source file removed" \
  bash -c "ttscache adopt --move '$adopt_dir' | tee /tmp/adopt-move.out && grep -q '3 already cached' /tmp/adopt-move.out && [ -z \"\$(find '$adopt_dir' -type f)\" ]"
adopt_source=/tmp/adopt-expected
for item in "${adopt_texts[@]}"; do
  check "after --move, still a hit: ${item%%|*} \"${item#*|}\"" adopted_hit "${item%%|*}" "${item#*|}"
done
