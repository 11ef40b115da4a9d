#!/bin/sh
# Records what Postfix 3.7.11 prints for bad parameter values into
# fixtures/config/conf-fatals.tsv: postmap reads the global tables from
# main.cf; smtpd, cleanup and qmgr started by hand (-S, -o name=value) read
# their own, and log through a throw-away /dev/log inside a private mount
# namespace. As root, with Debian's postfix package installed (ORACLE.md).
# Usage: tools/record-conf-fatals.sh > fixtures/config/conf-fatals.tsv
set -eu
d=$(mktemp -d /tmp/conf-fatals.XXXXXX)
trap 'rm -rf "$d"' EXIT
printf 'a b\n' > "$d/t"; : > "$d/main.cf"; /usr/sbin/postmap -c "$d" "hash:$d/t"
printf '# program\tsetting\tfatal text ("-" when the program accepted the value)\n'
for s in 'hash_queue_depth = abc' 'hash_queue_depth = 0' 'hash_queue_depth = -5' 'hash_queue_depth = 99999999999' \
  'hash_queue_depth = 5x' 'hash_queue_depth = ' 'hash_queue_depth = +5' 'delay_logging_resolution_limit = 7' \
  'delay_logging_resolution_limit = -1' 'ipc_timeout = 10x' 'ipc_timeout = 0' 'ipc_timeout = -1' 'ipc_timeout = abc' \
  'ipc_timeout = ' 'ipc_timeout = 10sec' 'ipc_timeout = +5' 'ipc_timeout = 2147483647' 'ipc_timeout = 2147483648' \
  'ipc_timeout = 35791393m' 'ipc_timeout = 35791394m' 'ipc_timeout = 99999999w' 'ipc_timeout = s' 'in_flow_delay = 11' \
  'message_size_limit = abc' 'message_size_limit = -5' 'message_size_limit = 5k' \
  'message_size_limit = 99999999999999999999' 'message_size_limit = 9999999999' 'lmdb_map_size = 0' \
  'soft_bounce = maybe' 'soft_bounce = YES' 'smtputf8_enable = maybe' 'smtputf8_enable = ' \
  'default_verp_delimiters = abc' 'default_verp_delimiters = a'; do
  printf '%s\n' "$s" > "$d/main.cf"
  out=$(/usr/sbin/postmap -c "$d" -q a "hash:$d/t" 2>&1 | sed -n 's/^postmap: fatal: //p')
  printf 'postmap\t%s\t%s\n' "$s" "${out:--}"
done
mkdir -p "$d/spool"; printf 'queue_directory = %s/spool\n' "$d" > "$d/main.cf"
cat > "$d/listen.py" <<'PY'
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('/dev/log'); os.chmod('/dev/log', 0o666)
open(sys.argv[1], 'w').close()
s.settimeout(4)
try:
    while True:
        sys.stdout.write(s.recv(65536).decode('utf-8', 'replace') + '\n'); sys.stdout.flush()
except socket.timeout:
    pass
PY
unshare -m sh -c '
  d=$1; mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3
  python3 "$d/listen.py" "$d/ready" > "$d/syslog" &
  while [ ! -e "$d/ready" ]; do sleep 0.1; done
  run() { prog=$1; shift; for o in "$@"; do printf "%s\t-o %s\n" "$prog" "$o" >> "$d/order"; MAIL_CONFIG=$d timeout 2 /usr/lib/postfix/sbin/$prog -S -o "$o" </dev/null >/dev/null 2>&1 || true; done; }
  run smtpd smtpd_hard_error_limit=0 smtpd_timeout=0 smtpd_forbid_bare_newline_reject_code=600 smtpd_delay_reject=maybe message_size_limit=x
  run cleanup hopcount_limit=0 delay_warning_time=x line_length_limit=511 queue_file_attribute_count_limit=0 header_size_limit=x
  run qmgr maximal_queue_lifetime=101
  wait' sh "$d"
# Every setting above draws exactly one fatal line, in the order they ran.
sed -n 's/^<[0-9]*>.* postfix\/[a-z]*\[[0-9]*\]: fatal: //p' "$d/syslog" | grep -v 'scan_dir_push\|mail_queue_enter' |
  paste "$d/order" -
