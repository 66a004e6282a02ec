#!/usr/bin/env bash
# Starts a cashier lane for store SH001 against a running demo server, with virtual devices:
#   pos-terminal/demo-lane.sh [SERVER_URL] [--headless]
# Against a server with TLS: CA_FILE=path/to/ca.pem MQTT_URL=mqtts://127.0.0.1:1884 \
#   pos-terminal/demo-lane.sh https://127.0.0.1:8080   (the lane pins that CA)
# Registers a new POS device (as the store manager mgr.sh001), writes ./lane-demo/lane.toml and
# runs `pos-terminal --simulate`. The lane prints the pseudo-terminal to send scans to, e.g.
#   printf '6901234567892\r' > /dev/pts/7
# and writes receipts to ./lane-demo/data/receipts.bin (raw ESC/POS) and receipts.bin.txt
# (readable); the customer display's bytes go to ./lane-demo/data/display.bin. Sign in as a
# demo cashier (e.g. cashier1.sh001) with the demo lane PIN 246810; the manager mgr.sh001
# approves voids and returns with the same PIN.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER=${1:-http://127.0.0.1:8080}
shift || true
DIR=${LANE_DIR:-lane-demo}
mkdir -p "$DIR"
if [ ! -f "$DIR/lane.toml" ]; then
  CURL_CA=()
  [ -z "${CA_FILE:-}" ] || CURL_CA=(--cacert "$CA_FILE")
  TOKEN=$(curl -sf "${CURL_CA[@]}" -X POST "$SERVER/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"mgr.sh001","password":"demo1234"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  [ -n "$TOKEN" ] || { echo "cannot log in to $SERVER (is the server running?)" >&2; exit 1; }
  ID=$(cat /proc/sys/kernel/random/uuid)
  # Device ids are UUIDv7: milliseconds since 1970, version 7, random bits.
  ID=$(printf '%012x' "$(($(date +%s%N) / 1000000))" | sed 's/^\(........\)\(....\)$/\1-\2/')-7${ID:15:3}-8${ID:20:3}-${ID:24:12}
  CRED=$(curl -sf "${CURL_CA[@]}" -X POST "$SERVER/api/v1/devices" -H "Authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' \
    -d "{\"id\":\"$ID\",\"location_id\":\"SH001\",\"kind\":\"pos\",\"name\":\"Demo lane $ID\"}" |
    sed -n 's/.*"credential":"\([^"]*\)".*/\1/p')
  [ -n "$CRED" ] || { echo "cannot register the lane device" >&2; exit 1; }
  cat > "$DIR/lane.toml" <<TOML
server_url = "$SERVER"
credential = "$CRED"
store = "SH001"
mqtt_url = "${MQTT_URL:-mqtt://127.0.0.1:1884}"
lane = 1
store_name = "鲜邻超市 上海一店"
data_dir = "data"
firmware_dir = "$PWD/firmware-config"
scanner_profile = "honeywell-voyager-1450g-cdc"
printer_profile = "epson-tm-t88v"
display_profile = "vfd-2x20-epson-dmd"
footer = ["谢谢惠顾，欢迎再来"]
TOML
  [ -z "${CA_FILE:-}" ] || echo "ca_file = \"$(realpath "$CA_FILE")\"" >> "$DIR/lane.toml"
fi
exec cargo run -q -p pos-terminal -- --config "$DIR/lane.toml" --simulate "$@"
