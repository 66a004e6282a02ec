#!/usr/bin/env bash
# Flash-sale benchmark with wrk as the load generator (a C client, so nearly all CPU goes to the
# server). Starts the release server on a fresh SQLite file or PostgreSQL database, stocks one
# hot SKU at SH001 with 1,000,000 units, and runs 500 connections for 20 s:
#
#   cargo build --release -p retail-server
#   server/benches/flash_sale_wrk.sh sqlite      # or: postgres
#
# Needs wrk (apt-get install wrk), curl, python3 and openssl. CLIENTS and DURATION override.
set -euo pipefail
backend=${1:-sqlite}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${RETAIL_SERVER_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/retail-server}
port=${PORT:-18080}
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
if [ "$backend" = postgres ]; then
  db=retail_bench_$(date +%s)
  psql -h 127.0.0.1 -U postgres -qc "create database $db"
  url=postgres://postgres@127.0.0.1:5432/$db
  export RETAIL_SECRETS__DATA_KEY=$(openssl rand -hex 32) RETAIL_SECRETS__LOOKUP_KEY=$(openssl rand -hex 32) \
    RETAIL_SECRETS__CODE_SIGNING_SEED=$(openssl rand -hex 32) RETAIL_SECRETS__PAYMENT_PROVIDER_SECRET=$(openssl rand -hex 32)
else
  url=sqlite://$work/retail.db
fi
RUST_LOG=warn RETAIL_LISTEN=127.0.0.1:$port DATABASE_URL=$url RETAIL_DATA_DIR=$work "$bin" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 120); do curl -sf "localhost:$port/healthz" >/dev/null && break; sleep 0.5; done
json() { python3 -c "import sys,json;print($1)"; }
token=$(curl -s -X POST "localhost:$port/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"admin","password":"demo1234"}' | json 'json.load(sys.stdin)["token"]')
sku=$(curl -s -H "Authorization: Bearer $token" "localhost:$port/api/v1/stock?location_id=SH001&limit=1" \
  | json 'json.load(sys.stdin)["items"][0]["sku_id"]')
receipt=$(python3 -c 'import time,os;t=int(time.time()*1000);h=f"{t:012x}";r=os.urandom(9).hex();print(h[:8]+"-"+h[8:]+"-7"+r[:3]+"-8"+r[3:6]+"-"+r[6:18])')
curl -sf -o /dev/null -X POST "localhost:$port/api/v1/stock/receipts" -H "Authorization: Bearer $token" \
  -H 'content-type: application/json' \
  -d "{\"id\":\"$receipt\",\"location_id\":\"SH001\",\"lines\":[{\"sku_id\":\"$sku\",\"qty\":1000000}]}"
echo "flash sale (wrk): backend=$backend clients=${CLIENTS:-500} duration=${DURATION:-20}s sku=$sku"
SKU=$sku wrk -t2 -c"${CLIENTS:-500}" -d"${DURATION:-20}"s --latency -s "$root/server/benches/flash_sale.lua" \
  "http://127.0.0.1:$port" | grep -E "requests in|Requests/sec|50%|90%|99%|Non-2xx|Socket errors"
after=$(curl -s -H "Authorization: Bearer $token" "localhost:$port/api/v1/stock?location_id=SH001&sku_id=$sku" \
  | json 'json.load(sys.stdin)["items"][0]')
echo "stock after: $after"
check=$(curl -s -H "Authorization: Bearer $token" "localhost:$port/api/v1/stock/ledger-check")
echo "ledger mismatches: $check"
curl -s "localhost:$port/metrics" | grep -E "^order_batch_size_(sum|count)" || true
