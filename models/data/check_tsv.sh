#!/bin/sh
# Sanity check for models/data/*.tsv: same header everywhere, same column count on every row,
# ids unique across all files, role in {calibration, validation}, obtained in {text, table, figure, abstract}.
cd "$(dirname "$0")" || exit 1
status=0
ref=$(head -n 1 durability.tsv)
for f in *.tsv; do
  [ "$(head -n 1 "$f")" = "$ref" ] || { echo "header differs: $f"; status=1; }
  awk -F'\t' -v f="$f" 'NR==1{n=NF} NF!=n{print f": line "NR" has "NF" columns, header has "n; bad=1}
    NR>1 && $2!="calibration" && $2!="validation" {print f": line "NR" bad role "$2; bad=1}
    NR>1 && $21!="text" && $21!="table" && $21!="figure" && $21!="abstract" {print f": line "NR" bad obtained "$21; bad=1}
    NR>1 && length($22)>300 {print f": line "NR" quote longer than 300"; bad=1}
    END{exit bad}' "$f" || status=1
done
dups=$(tail -q -n +2 *.tsv | cut -f1 | sort | uniq -d)
[ -z "$dups" ] || { echo "duplicate ids: $dups"; status=1; }
for f in *.tsv; do
  printf '%s rows=%s calibration=%s validation=%s\n' "$f" "$(tail -n +2 "$f" | wc -l)" \
    "$(tail -n +2 "$f" | cut -f2 | grep -c '^calibration$')" "$(tail -n +2 "$f" | cut -f2 | grep -c '^validation$')"
done
[ $status -eq 0 ] && echo "OK: $(tail -q -n +2 *.tsv | wc -l) rows, $(head -n 1 durability.tsv | awk -F'\t' '{print NF}') columns, ids unique"
exit $status
