# Sourced by tests/system/in_container.sh after coordinate_in_container.sh
# (check, say, fail, as, wait_for, run_expect, out_has; root in the booted
# Debian 12 container, the packaged daemon under its socket-activated unit,
# alice in group ttscache). The fleet's second tier through what ships
# (docs/fleet.md): Debian's memcached under its own unit with SASL on; the
# example drop-in from /usr/share/doc/ttscache/examples, which opens the
# unit's network bounds to the pool only and passes the SASL password with
# LoadCredential=; [tier] in the config. A phrase put here is written to the
# pool; with the local cache moved away it comes back from the tier,
# byte-equal, and the stats and the export count the hit. A wrong password
# makes the tier's lookups misses, never errors.
tier_stat() {  # tier_stat NAME: a counter of the tier from the Prometheus export
  ttscache stats --format prometheus | sed -nE "s/^ttscache_tier_$1 ([0-9]+)\$/\\1/p"
}
tier_at_least() { [ "$(tier_stat "$1")" -ge "$2" ] 2> /dev/null; }

mkdir -p /etc/sasl2
printf 'mech_list: plain\nsasldb_path: /etc/sasl2/memcached-sasldb2\n' > /etc/sasl2/memcached.conf
check "a SASL user for memcached (saslpasswd2)" bash -c \
  "printf secret | saslpasswd2 -p -a memcached -c -f /etc/sasl2/memcached-sasldb2 ttscache-tier &&
   chown memcache /etc/sasl2/memcached-sasldb2"
echo "-S" >> /etc/memcached.conf
check "Debian's memcached restarts with SASL on (-S)" \
  bash -c 'systemctl restart memcached && systemctl is-active memcached'
printf 'ttscache-tier:secret\n' > /etc/ttscache/tier-sasl
chmod 600 /etc/ttscache/tier-sasl
mkdir -p /etc/systemd/system/ttscached.service.d
check "the example drop-in is installed" test -e /usr/share/doc/ttscache/examples/ttscached-tier.conf
sed 's/^IPAddressAllow=.*/IPAddressAllow=localhost/' /usr/share/doc/ttscache/examples/ttscached-tier.conf \
  > /etc/systemd/system/ttscached.service.d/tier.conf
cp /etc/ttscache/ttscached.conf /tmp/ttscached.conf.before-tier
# The shipped file lists every key of [tier] with its default: set two of them.
sed -i -E 's/^servers =[^;]*/servers = 127.0.0.1:11211 /; s/^sasl_credentials =[^;]*/sasl_credentials = tier-sasl /' \
  /etc/ttscache/ttscached.conf
check "the config names the pool and the credential" bash -c \
  "grep -q '^servers = 127.0.0.1:11211' /etc/ttscache/ttscached.conf && ttscached --check-config /etc/ttscache/ttscached.conf"
systemctl daemon-reload
check "ttscached restarts with [tier] and the drop-in" \
  bash -c 'systemctl restart ttscached.service && systemctl is-active ttscached.service'
check "the tier is up" wait_for 10 bash -c "ttscache stats --format prometheus | grep -q '^ttscache_tier_up 1'"
check "put as alice" as alice ttscache put --engine xtts --text "Shared by the fleet." "$wav"
check "the put is written to the pool (SASL through LoadCredential=)" wait_for 10 tier_at_least writes_total 1
check "no write failed" test "$(tier_stat write_errors_total)" = 0

check "stop; the local cache moved away" bash -c \
  'systemctl stop ttscached.service && mv /var/cache/ttscache /var/cache/ttscache.before-tier'
check "an empty cache gets the phrase from the tier, byte-equal" bash -c \
  "runuser -u alice -- ttscache get --engine xtts --text 'shared by the fleet.' -o /tmp/tier.wav && cmp /tmp/tier.wav $wav"
check "counted as a tier hit" test "$(tier_stat hits_total)" = 1
check "and now a local hit" bash -c \
  "runuser -u alice -- ttscache get --engine xtts --text 'shared by the fleet.' -o /tmp/tier2.wav && cmp /tmp/tier2.wav $wav"
check "which asked the tier nothing" test "$(tier_stat lookups_total)" = 1

printf 'ttscache-tier:wrong\n' > /etc/ttscache/tier-sasl
check "restart with a wrong SASL password" bash -c \
  'systemctl restart ttscached.service && systemctl is-active ttscached.service'
run_expect "a miss is a miss (exit 1), not an error" 1 \
  as alice ttscache get --engine xtts --text 'never put anywhere.' -o /tmp/none.wav
check "the failed lookup is counted as an error" wait_for 5 tier_at_least errors_total 1

# Back to the daemon without a tier, on its old cache.
rm -r /etc/systemd/system/ttscached.service.d /etc/ttscache/tier-sasl
cp /tmp/ttscached.conf.before-tier /etc/ttscache/ttscached.conf
systemctl daemon-reload
check "back without the tier, on the cache from before" bash -c \
  'systemctl stop ttscached.service && rm -rf /var/cache/ttscache && mv /var/cache/ttscache.before-tier /var/cache/ttscache &&
   systemctl start ttscached.service && systemctl is-active ttscached.service'
