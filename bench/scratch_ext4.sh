# Sourced by the cache benchmark scripts: a scratch ext4 filesystem for the
# cache folders, so their figures depend on ext4 as Debian makes and mounts it
# by default (no online discard, which this VM's root filesystem has), not
# on how the machine's own filesystems are mounted. A sparse image file,
# mkfs.ext4 with its defaults, mounted with `mount -o loop` and no options
# into a temp dir; unmounted and removed at exit. Needs root (mount). The
# machine's own filesystems are never remounted.
# Sets: scratch (a temp dir on disk for anything else), TTSCACHE_BENCH_DIR.
# Env: TTSCACHE_SCRATCH_SIZE (default 24G: inodes for 1.1M cache files at
# mkfs's default of one per 16 KiB; sparse, so only what is written is used).
scratch=$(mktemp -d /var/tmp/ttscache-bench.XXXXXX)
cleanup_scratch() {
  if mountpoint -q "$scratch/mnt"; then umount "$scratch/mnt" || umount -l "$scratch/mnt"; fi
  rm -rf "$scratch"
}
trap cleanup_scratch EXIT
trap 'exit 130' INT TERM
truncate -s "${TTSCACHE_SCRATCH_SIZE:-24G}" "$scratch/ext4.img"
mkfs.ext4 -q "$scratch/ext4.img"
mkdir "$scratch/mnt"
mount -o loop "$scratch/ext4.img" "$scratch/mnt"
echo "cache folders on $(findmnt -n -o SOURCE,FSTYPE,OPTIONS "$scratch/mnt")" >&2
export TTSCACHE_BENCH_DIR="$scratch/mnt"
