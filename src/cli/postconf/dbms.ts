// Legacy database client parameters (Postfix's postconf_dbms.c): a table
// given as ldap:name, mysql:name, ... instead of a path makes name_suffix
// parameters valid in main.cf (e.g. ldapsource_server_host), and a table
// given with an absolute path has its client file checked for unknown names.
import { readFileSync, statSync } from 'node:fs';
import { loadNameValues } from '../../config/maincf.js';
import { errnoText } from '../../util/errno.js';
import { msgFatal, msgWarn } from '../../util/msg.js';
import { extractGroup, tokenizeQuoted, CHARS_COMMA_SP } from '../../util/tokens.js';
import { PCF_PARAM_FLAG_DBMS, PCF_PARAM_FLAG_USER } from './context.js';
import type { MasterScope } from './params.js';

const SQL_LEGACY = ['table', 'select_field', 'where_field', 'additional_conditions'];

// The configuration names each client reads (from its dict_*.c), plus "domain"
// and, for the SQL clients, the old query-building names.
const DBMS_SUFFIXES: Record<string, readonly string[]> = {
  ldap: ('bind bind_dn bind_pw cache cache_expiry cache_size chase_referrals debuglevel dereference domain ' +
    'expansion_limit leaf_result_attribute query_filter recursion_limit result_attribute result_filter ' +
    'result_format sasl_authz_id sasl_mechs sasl_minssf sasl_realm scope search_base server_host server_port ' +
    'size_limit special_result_attribute start_tls terminal_result_attribute timeout tls_ca_cert_dir ' +
    'tls_ca_cert_file tls_cert tls_cipher_suite tls_key tls_random_file tls_require_cert version').split(' '),
  mysql: ('dbname domain expansion_limit hosts option_file option_group password query require_result_set ' +
    'result_format tls_CAfile tls_CApath tls_cert_file tls_ciphers tls_key_file tls_verify_cert user')
    .split(' ').concat(SQL_LEGACY),
  pgsql: 'dbname domain expansion_limit hosts password query result_format select_function user'.split(' ').concat(SQL_LEGACY),
  sqlite: 'dbpath domain expansion_limit query result_format'.split(' ').concat(SQL_LEGACY),
  memcache: 'backup data_size_limit domain flags key_format line_size_limit max_try memcache retry_pause timeout ttl'.split(' '),
};

export type FlagParameter = (name: string, paramClass: number, local: MasterScope | undefined) => void;

const checkedClientFiles = new Set<string>();

/** Reports names in a database client file that its client does not read. */
function checkClientFile(type: string, path: string): void {
  const spec = `${type}:${path}`;
  if (checkedClientFiles.has(spec)) return;
  checkedClientFiles.add(spec);
  let text: string;
  try {
    if (!statSync(path).isFile()) {
      msgWarn(`open "${type}" configuration "${path}": not a regular file`);
      return;
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code !== 'EACCES') msgWarn(`open "${type}" configuration "${path}": ${errnoText(err)}`);
    return;
  }
  const settings = new Map<string, string>();
  loadNameValues(text, path, settings, { warn: msgWarn, fatal: (m) => msgFatal(m) });
  for (const suffix of DBMS_SUFFIXES[type]!) settings.delete(suffix);
  for (const [name, value] of settings) msgWarn(`${spec}: unused parameter: ${name}=${value}`);
}

function warnGroupError(err: string, local: MasterScope | undefined): void {
  if (local) msgWarn(`master.cf:${local.nameSpace}: ${err}`);
  else msgWarn(`main.cf: ${err}`);
}

/** Scans an expanded parameter value for legacy database references (pcf_register_dbms_helper). */
export function registerDbmsParameters(value: string, flag: FlagParameter, local: MasterScope | undefined): void {
  // Groups nest as deep as the value says: a stack of token lists instead of recursion.
  const lists: Iterator<string>[] = [tokenizeQuoted(value, CHARS_COMMA_SP)[Symbol.iterator]()];
  const nest = (token: string): void => {
    const g = extractGroup(token, false);
    if (g.error) warnGroupError(g.error, local);
    lists.push(tokenizeQuoted(g.text, CHARS_COMMA_SP)[Symbol.iterator]());
  };
  while (lists.length > 0) {
    const next = lists[lists.length - 1]!.next();
    if (next.done) {
      lists.pop();
      continue;
    }
    let token = next.value;
    if (token[0] === '{') {
      nest(token);
      continue;
    }
    let type = token;
    let prefix: string | undefined;
    for (;;) {
      const colon = type.indexOf(':');
      if (colon < 0) {
        prefix = undefined;
        break;
      }
      prefix = type.slice(colon + 1);
      const head = type.slice(0, colon);
      if (head !== 'proxy') {
        type = head;
        break;
      }
      type = prefix;
    }
    if (prefix === undefined) continue;
    token = prefix;
    if (token[0] === '/') {
      if (DBMS_SUFFIXES[type]) checkClientFile(type, token);
      continue;
    }
    if (token[0] === '.') continue;
    if (token[0] === '{') {
      nest(token);
      continue;
    }
    const suffixes = DBMS_SUFFIXES[type];
    if (suffixes) for (const s of suffixes) flag(`${token}_${s}`, PCF_PARAM_FLAG_DBMS | PCF_PARAM_FLAG_USER, local);
  }
}
