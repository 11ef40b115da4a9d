// The configuration cleanup reads (Postfix's cleanup_init.c tables plus the
// global parameters cleanup consults), read once per service from the
// Config in force. Bad values are ConfigErrors with Postfix's fatal texts;
// the service turns them into a fatal log line at the edge.
import { ConfigError, type Config } from '../config/config.js';

export interface CleanupParams {
  myhostname: string;
  hopcountLimit: number;
  /** delay_warning_time in seconds; 0 = no W record. */
  delayWarnTime: number;
  dupFilterLimit: number;
  attrCountLimit: number;
  headerLimit: number;
  tokenLimit: number;
  mimeBoundLimit: number;
  mimeMaxDepth: number;
  bodyCheckLen: number;
  lineLimit: number;
  /** message_size_limit: the queue file may not grow past it (0 = no limit). */
  messageLimit: number;
  longQueueIds: boolean;
  enableOrcpt: boolean;
  alwaysAddHeaders: boolean;
  auto8bitEncHeader: boolean;
  alwaysBcc: string;
  recipientsWithheld: string;
  remoteRewriteDomain: string;
  disableMime: boolean;
  strict8bitmime: boolean;
  strict7bitHeaders: boolean;
  strict8bitBody: boolean;
  strictEncoding: boolean;
  headerChecks: string;
  mimeHeaderChecks: string;
  nestedHeaderChecks: string;
  bodyChecks: string;
  senderBccMaps: string;
  recipientBccMaps: string;
  /** message_reject_characters / message_strip_characters after unescape(); '' when unset. */
  rejectChars: string;
  stripChars: string;
  maskStrayCrLf: boolean;
  /** header_from_format: true for "standard", false for "obsolete". */
  hfromStandard: boolean;
  dropHeaders: string;
  smtputf8Enable: boolean;
  /** info_log_address_format = external. */
  logExternal: boolean;
  verpFilter: string;
}

/** unescape(): C-style escapes (\n, \t, \ooo, \\ ...) to bytes. */
export function unescape(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\' || i + 1 >= text.length) {
      out += c;
      continue;
    }
    const n = text[++i]!;
    const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
    if (n in simple) {
      out += simple[n];
    } else if (/[0-7]/.test(n)) {
      let v = Number(n);
      for (let k = 0; k < 2 && /[0-7]/.test(text[i + 1] ?? ''); k++) v = v * 8 + Number(text[++i]);
      out += String.fromCharCode(v & 0xff);
    } else {
      out += n;
    }
  }
  return out;
}

export function readCleanupParams(config: Config): CleanupParams {
  const hfrom = config.get('header_from_format').toLowerCase();
  if (hfrom !== 'standard' && hfrom !== 'obsolete') {
    throw new ConfigError(`invalid setting: "header_from_format = ${config.get('header_from_format')}"`);
  }
  const logForm = config.get('info_log_address_format');
  if (logForm !== 'external' && logForm !== 'internal') {
    throw new ConfigError(`invalid parameter setting "info_log_address_format = ${logForm}"`);
  }
  return {
    myhostname: config.get('myhostname'),
    hopcountLimit: config.getInt('hopcount_limit'),
    delayWarnTime: config.getTime('delay_warning_time'),
    dupFilterLimit: config.getInt('duplicate_filter_limit'),
    attrCountLimit: config.getInt('queue_file_attribute_count_limit'),
    headerLimit: config.getInt('header_size_limit'),
    tokenLimit: config.getInt('header_address_token_limit'),
    mimeBoundLimit: config.getInt('mime_boundary_length_limit'),
    mimeMaxDepth: config.getInt('mime_nesting_limit'),
    bodyCheckLen: config.getInt('body_checks_size_limit'),
    lineLimit: config.getInt('line_length_limit'),
    messageLimit: config.getLong('message_size_limit'),
    longQueueIds: config.getBool('enable_long_queue_ids'),
    enableOrcpt: config.getBool('enable_original_recipient'),
    alwaysAddHeaders: config.getBool('always_add_missing_headers'),
    auto8bitEncHeader: config.getBool('detect_8bit_encoding_header'),
    alwaysBcc: config.get('always_bcc'),
    recipientsWithheld: config.get('undisclosed_recipients_header'),
    remoteRewriteDomain: config.get('remote_header_rewrite_domain'),
    disableMime: config.getBool('disable_mime_input_processing'),
    strict8bitmime: config.getBool('strict_8bitmime'),
    strict7bitHeaders: config.getBool('strict_7bit_headers'),
    strict8bitBody: config.getBool('strict_8bitmime_body'),
    strictEncoding: config.getBool('strict_mime_encoding_domain'),
    headerChecks: config.get('header_checks'),
    mimeHeaderChecks: config.get('mime_header_checks'),
    nestedHeaderChecks: config.get('nested_header_checks'),
    bodyChecks: config.get('body_checks'),
    senderBccMaps: config.get('sender_bcc_maps'),
    recipientBccMaps: config.get('recipient_bcc_maps'),
    rejectChars: unescape(config.get('message_reject_characters')),
    stripChars: unescape(config.get('message_strip_characters')),
    maskStrayCrLf: config.getBool('cleanup_replace_stray_cr_lf'),
    hfromStandard: hfrom === 'standard',
    dropHeaders: config.get('message_drop_headers'),
    smtputf8Enable: config.getBool('smtputf8_enable'),
    logExternal: logForm === 'external',
    verpFilter: config.get('verp_delimiter_filter'),
  };
}
