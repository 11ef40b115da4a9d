// Mirrors the typed half of global/mail_params.c (mail_params_init()),
// which every Postfix daemon runs before it does anything else: the
// booleans, numbers, sizes and times every daemon reads, converted in
// Postfix's order, so that a bad value in main.cf (message_size_limit =
// abc) ends a starting process with Postfix's fatal text whatever the
// process is, and the master throttles the service as Postfix's does.
// Reads the configuration it is given; touches nothing.
import type { Config } from '../config/config.js';
import { getParam } from '../config/registry.js';

/** mail_params_init()'s tables after the strings, in the order it reads them. */
const FIRST_BOOLS = ['daemon_table_open_error_is_fatal', 'dns_ncache_ttl_fix_enable', 'smtputf8_enable', 'enable_idna2003_compatibility', 'respectful_logging'];
const INTS = [
  'default_process_limit', 'max_use', 'dont_remove', 'line_length_limit', 'hash_queue_depth', 'fork_attempts', 'deliver_lock_attempts',
  'debug_peer_level', 'fault_injection_code', 'berkeley_db_create_buffer_size', 'berkeley_db_read_buffer_size', 'header_size_limit',
  'header_address_token_limit', 'mime_nesting_limit', 'mime_boundary_length_limit', 'delay_logging_resolution_limit', 'tcp_windowsize',
];
const LONGS = ['message_size_limit', 'lmdb_map_size'];
const TIMES = [
  'application_event_drain_time', 'max_idle', 'ipc_timeout', 'ipc_idle', 'ipc_ttl', 'trigger_timeout', 'fork_delay', 'deliver_lock_delay',
  'stale_lock_time', 'daemon_timeout', 'in_flow_delay',
];
const BOOLS = [
  'disable_dns_lookups', 'soft_bounce', 'owner_request_special', 'strict_8bitmime', 'strict_7bit_headers', 'strict_8bitmime_body',
  'strict_mime_encoding_domain', 'disable_mime_input_processing', 'disable_mime_output_conversion', 'address_verify_negative_cache',
  'backwards_bounce_logfile_compatibility', 'helpful_warnings', 'send_cyrus_sasl_authzid', 'multi_instance_enable', 'enable_long_queue_ids',
  'strict_smtputf8', 'enable_original_recipient',
];

/** Reads every parameter above; throws ConfigError with Postfix's text at the first bad one. */
export function checkDaemonParams(config: Config): void {
  const known = (names: string[]) => names.filter((n) => getParam(n) !== undefined);
  for (const name of known(FIRST_BOOLS)) config.getBool(name);
  for (const name of known(INTS)) config.getInt(name);
  for (const name of known(LONGS)) config.getLong(name);
  for (const name of known(TIMES)) config.getTime(name);
  for (const name of known(BOOLS)) config.getBool(name);
}
