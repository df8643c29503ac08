# Helpers shared by the end-to-end scripts (sourced): a scratch folder, JSON figures, checks.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# The value of one key of the JSON object on the last line of standard input.
json_field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])['$1'])"; }
# Fails the script unless the Python expression $1 holds; $2 says what was checked.
check() { if ! /usr/bin/python3 -c "import sys; sys.exit(0 if ($1) else 1)"; then echo "FAILED: $2"; exit 1; fi; echo "ok: $2"; }
