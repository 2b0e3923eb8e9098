# Sourced by the posture tests: start the Azure emulator with the fixture estate
# ($data/estate.json) and write a daemon configuration whose `posture` input reads it.
# Needs $data, $tmp, $emu; sets $emu_pid, $base and writes $tmp/aiwatchd.yaml. The
# caller's EXIT trap stops the emulator (posture_env_stop).
posture_env_start() {
	python3 - "$data/estate.json" "$tmp/emu.json" <<'EOF' || return 1
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["tenant_id"] = "00000000-0000-0000-0000-0000000000aa"
cfg["clients"] = [{"client_id": "posture-app", "client_secret": "posture-test-secret"}]
json.dump(cfg, open(sys.argv[2], "w"))
EOF
	"$emu" --listen 127.0.0.1:0 --port-file "$tmp/port" --config "$tmp/emu.json" \
		2>"$tmp/emu.log" &
	emu_pid=$!
	i=0
	while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ ! -s "$tmp/port" ]; then
		cat "$tmp/emu.log" >&2
		echo "FAIL: the emulator did not start" >&2
		return 1
	fi
	base=http://127.0.0.1:$(cat "$tmp/port")

	printf 'posture-test-secret\n' >"$tmp/secret"
	chmod 600 "$tmp/secret"
	cat >"$tmp/aiwatchd.yaml" <<EOF
state_directory: $tmp/state
http_listen: "off"
azure:
  insecure_http_for_tests: true
  credential:
    kind: client_secret
    tenant_id: 00000000-0000-0000-0000-0000000000aa
    client_id: posture-app
    client_secret: {file: $tmp/secret}
    authority_host: $base
inputs:
  - type: posture
    name: estate
    subscriptions:
      - 11111111-1111-1111-1111-111111111111
      - 22222222-2222-2222-2222-222222222222
      - 33333333-3333-3333-3333-333333333333
    arm_endpoint: $base
    interval: 1h
outputs:
  - type: file
    path: $tmp/alerts.jsonl
EOF
	chmod 600 "$tmp/aiwatchd.yaml"
}

# Stop the emulator we started (by its pid) and wait for it; non-zero when it did not
# exit cleanly (under ASan, a leak).
posture_env_stop() {
	st=0
	if [ -n "${emu_pid:-}" ]; then
		kill "$emu_pid" 2>/dev/null
		wait "$emu_pid" 2>/dev/null || st=$?
		emu_pid=
	fi
	return $st
}
