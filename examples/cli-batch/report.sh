#!/bin/sh
# Sales report: total per region, sorted, and the top product. Exit 2 when the input is missing.
set -eu
input="${1:?usage: report.sh FILE.csv}"
if [ ! -r "$input" ]; then
    echo "report: cannot read $input" >&2
    exit 2
fi
echo "== sales by region ($(basename "$input")) =="
tail -n +2 "$input" | awk -F, '{ total[$1] += $3 * $4 } END { for (r in total) printf "%-8s %10.2f\n", r, total[r] }' | sort
echo "== top product by units =="
tail -n +2 "$input" | awk -F, '{ units[$2] += $3 } END { for (p in units) print units[p], p }' | sort -rn | head -n 1
echo "rows: $(tail -n +2 "$input" | wc -l)"
# Only with --regions: a branch the default run never takes (slimctl's shell-commands rule keeps its tools).
if [ "${2:-}" = "--regions" ]; then
    echo "== rows per region =="
    tail -n +2 "$input" | cut -d, -f1 | sort | uniq -c | sort -rn
fi
