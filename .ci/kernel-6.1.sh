#!/bin/bash
# Run netplumb's kernel-facing tests under Linux 6.1 LTS (Debian 12's kernel),
# next to the run on the machine's own kernel: every integration test binary
# that talks to the kernel and the examples' end-to-end tests, as root, inside
# a virtme-ng guest booted from Debian's linux-image-6.1.0-*-amd64-unsigned
# with this machine's filesystem (read-only, /tmp and /run writable).
#
# Needs: the 6.1 image in /boot (its modules in /lib/modules), qemu-system-x86,
# busybox-static, and virtme-ng's `vng` (.ci/run installs them). Software
# emulation by default (the guest boots where KVM is absent or unusable);
# KERNEL61_KVM=1 uses KVM. KERNEL61_IMAGE picks the image; KERNEL61_ONLY="a b"
# runs only those test binaries (by target name, e.g. "link service_vip"),
# KERNEL61_TESTS="ARGS" passes those arguments to every test binary (a test
# name filter, or --skip NAME);
# KERNEL61_SKIP="a b" leaves those out (CI leaves none out);
# KERNEL61_DIR is where the lists and the guest log go (target/kernel-6.1).
#
# Prints one line per test binary and a summary; exits non-zero if any binary
# fails, if the guest is not 6.1, if a link kind the tests need cannot be
# loaded there, or if the guest does not finish.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# Kernel modules of the link kinds tests/link.rs must exercise under 6.1.
KIND_MODULES="dummy 8021q ipvlan bonding vrf geneve wireguard"
# Modules the suite needs loaded that no request loads on demand: bridge
# netfilter for service_vip (its sysctl exists only once it is loaded).
NEEDED_MODULES="br_netfilter"
# Test binaries that never talk to the kernel (pure codec, scripted replies,
# fuzz corpora, the local-only nft corpus runner): the host run covers them.
NO_KERNEL="netplumb codec_round_trips fuzz_corpus fuzz_differential features nft_bytes rtnl_bytes nft_corpus"

if [ "${1:-}" = "--inside" ]; then
    # ----- inside the guest -----
    list=$2
    # Tests that build with cargo (cni_bridge's libcni client) find it here.
    export PATH="$3:$PATH"
    failures=0
    echo "guest: kernel $(uname -r), uid $(id -u), $(nproc) CPUs, $(free -m | awk '/Mem:/ {print $2}') MiB"
    case "$(uname -r)" in
        6.1.*) ;;
        *) echo "GUEST-FAIL not a 6.1 kernel: $(uname -r)"; exit 1 ;;
    esac
    [ "$(id -u)" = 0 ] || { echo "GUEST-FAIL not root in the guest"; exit 1; }
    for m in $KIND_MODULES $NEEDED_MODULES; do
        if ! modprobe "$m"; then
            echo "GUEST-FAIL module $m does not load"
            exit 1
        fi
    done
    export NETPLUMB_REQUIRE_KINDS=1 RUST_BACKTRACE=1
    # The libcni tests of cni_bridge and cni_bandwidth: the plugins and Go
    # client built on the host (see below), not cargo and go here.
    export NETPLUMB_CNI_BRIDGE_BIN=$ROOT/target/debug/examples/cni_bridge \
        NETPLUMB_CNI_BANDWIDTH_BIN=$ROOT/target/debug/examples/cni_bandwidth \
        NETPLUMB_LIBCNI_CLIENT=$ROOT/target/debug/cni-libcni/cnirun
    while read -r name bin; do
        start=$(date +%s)
        log=/tmp/test-$name.log
        # Each line of the test's output with the second it came, since the
        # start of the binary: which tests finished when.
        # shellcheck disable=SC2086 # KERNEL61_TESTS' words, split on purpose
        if (set -o pipefail; timeout 1800 "$bin" ${5:-} 2>&1 | while IFS= read -r l; do
            echo "$(($(date +%s) - start)) $l"
        done) >"$log"; then status=pass; else status=fail; failures=$((failures + 1)); fi
        secs=$(($(date +%s) - start))
        summary=$(grep -E '^[0-9]+ test result:' "$log" | tail -n 1 | cut -d' ' -f2- || true)
        echo "RESULT $name $status ${secs}s ${summary:-no test result line}"
        # Tests that took a minute or more (second of the run they finished).
        awk -v n="$name" '$2 == "test" && $NF ~ /^(ok|FAILED)$/ && $1 >= 60 { print "  SLOW " n " " $0 }' "$log" | tail -n 20
        if [ "$status" = fail ]; then
            echo "----- $name: failed tests and the end of its output -----"
            grep -E '^[0-9]+ test .* (FAILED|ok)$' "$log" || true
            sed -i -E 's/^[0-9]+ //' "$log"
            # The failures' output, without backtrace frames.
            grep -vE '^ +([0-9]+: |at )' "$log" | sed -n '/^failures:$/,$p' | head -n 150
            echo "----- end of $name -----"
        fi
    done <"$list"
    echo "GUEST-DONE failures=$failures"
    [ "$failures" = 0 ]
    exit
fi

# ----- on the host -----
image=${KERNEL61_IMAGE:-$(ls -1 /boot/vmlinuz-6.1.* 2>/dev/null | sort -V | tail -n 1 || true)}
[ -n "$image" ] && [ -f "$image" ] || { echo "kernel-6.1: no /boot/vmlinuz-6.1.* (apt-get install linux-image-6.1.0-NN-amd64-unsigned)"; exit 1; }
release=${image#/boot/vmlinuz-}
[ -d "/lib/modules/$release" ] || { echo "kernel-6.1: no /lib/modules/$release for $image"; exit 1; }
command -v vng >/dev/null || { echo "kernel-6.1: vng not found (pip install virtme-ng)"; exit 1; }

t0=$(date +%s)
# Build every test binary once, on the host, and list the ones to run.
dir=${KERNEL61_DIR:-$ROOT/target/kernel-6.1}
mkdir -p "$dir"
cargo test --all-features --no-run --message-format=json-render-diagnostics >"$dir/artifacts.json"
python3 - "$dir/artifacts.json" "$NO_KERNEL ${KERNEL61_SKIP:-}" "${KERNEL61_ONLY:-}" >"$dir/binaries" <<'EOF'
import json, sys
skip = set(sys.argv[2].split())
only = set(sys.argv[3].split())
seen = set()
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m.get("executable") or not m["profile"]["test"]:
        continue
    name = m["target"]["name"]
    if name in skip or name in seen or (only and name not in only):
        continue
    seen.add(name)
    print(name, m["executable"])
EOF
# What the libcni tests of cni_bridge and cni_bandwidth build when they
# start (both plugins, the Go client; examples/cni_bridge/libcni_client.rs,
# examples/cni_bandwidth/libcni.rs), built here with the same commands and
# handed to the guest (NETPLUMB_*_BIN, NETPLUMB_LIBCNI_CLIENT): nothing
# compiles under software emulation, and the guest's cargo home is read-only.
if grep -qE '^(cni_bridge|cni_bandwidth) ' "$dir/binaries"; then
    cargo build --quiet --all-features --example cni_bridge --example cni_bandwidth
    mkdir -p target/debug/cni-libcni
    GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$ROOT/target/debug/cni-libcni/gocache CGO_ENABLED=0 \
        GOFLAGS= GOPROXY=off go build -o target/debug/cni-libcni/cnirun examples/cni_bridge/cnirun/main.go
fi
t1=$(date +%s)
echo "kernel-6.1: built $(wc -l <"$dir/binaries") test binaries in $((t1 - t0)) s; booting $image"

kvm=--disable-kvm
[ "${KERNEL61_KVM:-0}" = 1 ] && kvm=
# The guest sees this filesystem read-only, except /tmp, /run and the
# repository (an overlay: tests that write there, e.g. cni_bridge's Go build,
# can; nothing reaches the host): it reads the binary list and the binaries
# from target/ and prints its results.
set +e
timeout 3600 vng $kvm --memory 2G --cpus 2 --overlay-rwdir "$ROOT" -r "$image" -- \
    "$ROOT/.ci/kernel-6.1.sh" --inside "$dir/binaries" "$(dirname "$(command -v cargo)")" "$ROOT/target/debug" "${KERNEL61_TESTS:-}" 2>&1 | tee "$dir/guest.log"
rc=${PIPESTATUS[0]}
set -e
t2=$(date +%s)

echo
echo "===== Linux 6.1 guest ($release): summary ====="
grep -E '^(guest:|RESULT|GUEST-)' "$dir/guest.log" || true
echo "build $((t1 - t0)) s, guest (boot and tests) $((t2 - t1)) s, vng exit status $rc"
if ! grep -q '^GUEST-DONE failures=0$' "$dir/guest.log" || [ "$rc" != 0 ]; then
    echo "kernel-6.1: FAILED (see above; full guest output in $dir/guest.log)"
    exit 1
fi
echo "kernel-6.1: all $(grep -c '^RESULT .* pass ' "$dir/guest.log") test binaries passed under Linux 6.1"
