#!/usr/bin/env bash
# Compile cost of a `#[service]` type: generates a crate with N distinct service types
# (each with `on_initialize`, `serve` and `on_shutdown`, all registered with one builder)
# that depends on this repository's hassette-runtime, builds its dependencies once, then
# times the build of the crate with 1 type, with N types and with 1 type again, and prints
# per profile:
#
#   compile release: 1 type 1.23s, 64 types 5.67s, per extra type 0.070s
#
# The 1-type time is the smaller of the two; "per extra type" is (N types - 1 type) / (N - 1).
#
# Run from anywhere:
#
#   bash benches/compile-cost.sh [N] [debug|release|both]     # default: 64 both
#
# The crate and its target dir (CARGO_TARGET_DIR) live in a temporary directory, removed on
# exit; the repository's Cargo.lock is copied in, so the dependency versions are the ones
# the workspace builds with.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${1:-64}
which=${2:-both}

if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 2 ]; then
  echo "compile-cost: N must be a whole number of at least 2, not \`$n\`" >&2
  exit 2
fi
case "$which" in
  debug | release) profiles=("$which") ;;
  both) profiles=(debug release) ;;
  *)
    echo "compile-cost: the profile must be debug, release or both, not \`$which\`" >&2
    exit 2
    ;;
esac
if [ ! -f "$root/hassette-runtime/Cargo.toml" ]; then
  echo "compile-cost: no hassette-runtime under $root" >&2
  exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/hassette-compile-cost.XXXXXX")
trap 'rm -rf "$dir"' EXIT
export CARGO_TARGET_DIR="$dir/target"

mkdir -p "$dir/src"
cat > "$dir/Cargo.toml" <<TOML
[package]
name = "compile-cost"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
hassette-runtime = { path = "$root/hassette-runtime" }
tokio = { version = "1", features = ["rt-multi-thread", "macros", "time"] }

# Not a member of any workspace above the temporary directory.
[workspace]
TOML
cp "$root/Cargo.lock" "$dir/Cargo.lock"

# gen N: writes src/main.rs with N service types S1..SN, each registered.
gen() {
  {
    echo 'use std::sync::atomic::{AtomicU64, Ordering};'
    echo
    echo 'use hassette_runtime::prelude::*;'
    for i in $(seq 1 "$1"); do
      cat <<RS

struct S$i(AtomicU64);

#[service(restart = "permanent", backoff(base = "100ms", max = "5s"))]
impl S$i {
    async fn on_initialize(&self, ctx: &ServiceContext) {
        let _ = ctx.name();
    }
    async fn serve(&self, ctx: &ServiceContext) -> Result<(), BoxError> {
        self.0.fetch_add($i, Ordering::Relaxed);
        ctx.cancelled().await;
        Ok(())
    }
    async fn on_shutdown(&self) {}
}
RS
    done
    echo
    echo '#[tokio::main]'
    echo 'async fn main() -> Result<(), BoxError> {'
    echo '    let app = Hassette::builder()'
    for i in $(seq 1 "$1"); do
      echo "        .service(S$i(AtomicU64::new(0)))"
    done
    echo '        .build()?;'
    echo '    app.start().await?;'
    echo '    let _ = app.shutdown().await;'
    echo '    Ok(())'
    echo '}'
  } > "$dir/src/main.rs"
  # A new mtime even if the content is the same, so cargo rebuilds the crate.
  touch "$dir/src/main.rs"
}

# build PROFILE: builds the crate, failing loudly (with cargo's output) if it does not build.
build() {
  local flag=()
  [ "$1" = release ] && flag=(--release)
  if ! (cd "$dir" && cargo build --quiet "${flag[@]}" > "$dir/build.log" 2>&1); then
    echo "compile-cost: the generated crate failed to build ($1):" >&2
    cat "$dir/build.log" >&2
    exit 1
  fi
}

# timed PROFILE: the seconds one build takes.
timed() {
  local start end
  start=$(date +%s.%N)
  build "$1"
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}

for profile in "${profiles[@]}"; do
  gen 1
  build "$profile" # the dependencies, and the crate once, untimed
  gen 1
  one=$(timed "$profile")
  gen "$n"
  many=$(timed "$profile")
  gen 1
  again=$(timed "$profile")
  awk -v p="$profile" -v a="$one" -v c="$again" -v b="$many" -v n="$n" 'BEGIN {
    m = (a < c ? a : c)
    printf "compile %s: 1 type %.2fs, %d types %.2fs, per extra type %.3fs\n", p, m, n, b, (b - m) / (n - 1)
  }'
done
