#!/usr/bin/env bash
# Does preview work slow down non-image uploads? Loads one sluice with 64 KiB non-image uploads
# (16 connections, 10 s) twice: alone, then while a client uploads a JPEG back to back (each
# one gets a preview rendered on the media pool). Prints both runs; the ratio is the answer.
#   bench/scripts/preview_impact.sh target/release/sluice target/release/sluice-bench IMAGE.jpg
set -euo pipefail
sluice=$1 bench=$2 image=$3
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
SLUICE_DURABILITY=none "$sluice" serve --listen 127.0.0.1:0 --data-dir "$dir/data" >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 300); do grep -q listening "$dir/out" && break; sleep 0.1; done
addr=$(sed -n 's/listening on //p' "$dir/out")
echo "== 64 KiB non-image uploads alone"
"$bench" run --target "$addr" --size 64KiB --connections 16 --duration 10 --server-pid "$pid" | tail -4
echo "== the same while JPEGs are uploaded back to back (previews rendered)"
end=$((SECONDS + 13))
( n=0; while [ $SECONDS -lt $end ]; do
    curl -s -o /dev/null -F "files=@$image" "$addr/weidu/api/v1/files?user_id=img&task_id=img"; n=$((n+1))
  done; echo "jpeg uploads during the run: $n" ) &
"$bench" run --target "$addr" --size 64KiB --connections 16 --duration 10 --server-pid "$pid" | tail -4
wait %2 2>/dev/null || true
curl -s "$addr/weidu/api/v1/files?task_id=img" | python3 -c 'import json,sys; f=json.load(sys.stdin)["data"]["file_infos"]; print("jpegs stored:", len(f), "with preview:", sum(1 for x in f if x["has_pre_img"]))'
