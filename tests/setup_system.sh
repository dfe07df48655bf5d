#!/usr/bin/env bash
# Debian packages the tests need, installed only when missing (CI runs as root):
# chromium + chromium-driver for the labelling page's browser test, slurm-wlm + munge
# for the one-node SLURM test. Without root they are reported, and those tests skip
# with that reason (under CI=true they fail instead: CI must run everything).
set -uo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium chromium-driver)
command -v slurmctld >/dev/null 2>&1 || missing+=(slurm-wlm munge)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    echo "setup_system: installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/tmp/dramaemo-apt.log 2>&1 \
        || { echo "setup_system: apt-get failed, see /tmp/dramaemo-apt.log"; exit 1; }
else
    echo "setup_system: not root; missing ${missing[*]} (their tests will skip)"
fi
