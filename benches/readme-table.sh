#!/usr/bin/env bash
# The README's benchmark table, from one run: runs the benchmark crate (in full, unless
# HASSETTE_BENCH_QUICK=1 is set), keeps its whole output in target/bench-readme.txt, and
# puts the final table (with the date, the commit and the mode of the run, between the
# `<!-- bench:begin -->` and `<!-- bench:end -->` lines) in README.md in place of the
# one there. Run it on a quiet machine, from a clean tree (the commit line says `-dirty`
# otherwise), and commit the README:
#
#   bash benches/readme-table.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/bench-readme.txt
mkdir -p target
cargo bench -p hassette-benches | tee "${out}"

block="${out}.table"
sed -n '/^<!-- bench:begin -->$/,/^<!-- bench:end -->$/p' "${out}" > "${block}"
if ! grep -q '^<!-- bench:end -->$' "${block}"; then
  echo "readme-table: no table in ${out}" >&2
  exit 1
fi
if [[ $(grep -c '^<!-- bench:begin -->$' README.md) != 1 || $(grep -c '^<!-- bench:end -->$' README.md) != 1 ]]; then
  echo "readme-table: README.md needs one <!-- bench:begin --> and one <!-- bench:end --> line" >&2
  exit 1
fi
awk -v block="${block}" '
  /^<!-- bench:begin -->$/ { while ((getline line < block) > 0) print line; skipping = 1; next }
  /^<!-- bench:end -->$/ { skipping = 0; next }
  !skipping { print }
' README.md > README.md.new
mv README.md.new README.md
echo "readme-table: README.md has the table of this run (${out})"
