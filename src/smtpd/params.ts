// Mirrors the var_* globals that smtpd.c and smtpd_check.c read from
// main.cf and the master.cf -o overrides (global/mail_params.h): every
// parameter the SMTP server consults, read once per service from the
// Config and kept as typed values. Touches nothing but the Config.
import type { Config } from '../config/config.js';
import { parseCompatLevel } from '../config/expand.js';

/** The smtpd_policy_service_* settings (check/policy.ts; per-service overrides may change them). */
export interface PolicySettings {
  timeoutSec: number;
  maxIdleSec: number;
  maxTtlSec: number;
  defaultAction: string;
  requestLimit: number;
  tryLimit: number;
  retryDelaySec: number;
  context: string;
}

export interface SmtpdParams {
  myhostname: string;
  mailName: string;
  banner: string;
  myorigin: string;
  mydestination: string;
  mynetworks: string;
  parentDomainMatches: string;
  timeoutSec: number;
  errorSleepSec: number;
  softErrorLimit: number;
  hardErrorLimit: number;
  junkCommandLimit: number;
  recipientLimit: number;
  recipientOvershootLimit: number;
  lineLengthLimit: number;
  messageSizeLimit: number;
  historyFlushThreshold: number;
  queueMinfree: number;
  queueDirectory: string;
  connectionCountLimit: number;
  delayReject: boolean;
  heloRequired: boolean;
  disableVrfy: boolean;
  smtputf8Enable: boolean;
  strictSmtputf8: boolean;
  strictRfc821: boolean;
  rejectUnlistedRecipient: boolean;
  rejectUnlistedSender: boolean;
  softBounce: boolean;
  showUnknownTable: boolean;
  peernameLookup: boolean;
  clientPortLogging: boolean;
  delayOpen: boolean;
  allowUntrustedRouting: boolean;
  relayBeforeRcptChecks: boolean;
  forbidUnauthPipelining: boolean;
  clientRestrictions: string;
  heloRestrictions: string;
  senderRestrictions: string;
  relayRestrictions: string;
  recipientRestrictions: string;
  dataRestrictions: string;
  eodRestrictions: string;
  etrnRestrictions: string;
  restrictionClasses: string;
  xclientHosts: string;
  xforwardHosts: string;
  discardEhloKeywords: string;
  discardEhloKeywordAddressMaps: string;
  forbiddenCommands: string;
  noopCommands: string;
  nullAccessKey: string;
  localRecipientMaps: string;
  virtualAliasMaps: string;
  virtualMailboxMaps: string;
  relayRecipientMaps: string;
  canonicalMaps: string;
  senderCanonicalMaps: string;
  recipientCanonicalMaps: string;
  localHeaderRewriteClients: string;
  unknownHeloTempfailAction: string;
  unknownAddressTempfailAction: string;
  doubleBounceSender: string;
  verifySender: string;
  verifySenderTtl: number;
  fastFlushDomains: string;
  /** flush_service_name: ETRN's service under public/. */
  flushServiceName: string;
  /** warn_compat_break_flush_domains: compatibility_level below 2, relay_domains and fast_flush_domains unset. */
  warnCompatFlushDomains: boolean;
  forbidBareNewline: string;
  forbidBareNewlineExclusions: string;
  forbidBareNewlineCode: number;
  contentFilter: string;
  recipientDelimiter: string;
  logAccessPermitActions: string;
  receiveOverrideOptions: string;
  sasl_authenticated_header: boolean;
  tls: {
    securityLevel: string;
    useTls: boolean;
    enforceTls: boolean;
    wrappermode: boolean;
    authOnly: boolean;
    certFile: string;
    keyFile: string;
    chainFiles: string;
    receivedHeader: boolean;
    loglevel: number;
    starttlsTimeoutSec: number;
  };
  policy: PolicySettings;
  codes: {
    unknownClient: number;
    unknownHostname: number;
    unknownAddress: number;
    invalidHostname: number;
    nonFqdn: number;
    accessMapReject: number;
    accessMapDefer: number;
    reject: number;
    defer: number;
    relayDomains: number;
    unknownLocalRecipient: number;
    unknownVirtualAlias: number;
    unknownVirtualMailbox: number;
    unknownRelayRecipient: number;
    multiRecipientBounce: number;
    plaintext: number;
  };
}

/** Reads the smtpd parameters; a malformed or out-of-range value is the Config's ConfigError. */
export function readSmtpdParams(config: Config): SmtpdParams {
  const s = (n: string): string => config.get(n);
  // Bounds and their fatal texts come with the Config's getters (mail_conf_int.c, mail_conf_time.c).
  const i = (n: string): number => config.getInt(n);
  const b = (n: string): boolean => config.getBool(n);
  const t = (n: string): number => config.getTime(n);
  return {
    myhostname: s('myhostname'),
    mailName: s('mail_name'),
    banner: s('smtpd_banner'),
    myorigin: s('myorigin'),
    mydestination: s('mydestination'),
    mynetworks: s('mynetworks'),
    parentDomainMatches: s('parent_domain_matches_subdomains'),
    timeoutSec: t('smtpd_timeout'),
    errorSleepSec: t('smtpd_error_sleep_time'),
    softErrorLimit: i('smtpd_soft_error_limit'),
    hardErrorLimit: i('smtpd_hard_error_limit'),
    junkCommandLimit: i('smtpd_junk_command_limit'),
    recipientLimit: i('smtpd_recipient_limit'),
    recipientOvershootLimit: i('smtpd_recipient_overshoot_limit'),
    lineLengthLimit: i('line_length_limit'),
    messageSizeLimit: config.getLong('message_size_limit'),
    historyFlushThreshold: i('smtpd_history_flush_threshold'),
    queueMinfree: config.getLong('queue_minfree'),
    queueDirectory: s('queue_directory'),
    connectionCountLimit: i('smtpd_client_connection_count_limit'),
    delayReject: b('smtpd_delay_reject'),
    heloRequired: b('smtpd_helo_required'),
    disableVrfy: b('disable_vrfy_command'),
    smtputf8Enable: b('smtputf8_enable'),
    strictSmtputf8: b('strict_smtputf8'),
    strictRfc821: b('strict_rfc821_envelopes'),
    rejectUnlistedRecipient: b('smtpd_reject_unlisted_recipient'),
    rejectUnlistedSender: b('smtpd_reject_unlisted_sender'),
    softBounce: b('soft_bounce'),
    showUnknownTable: b('show_user_unknown_table_name'),
    peernameLookup: b('smtpd_peername_lookup'),
    clientPortLogging: b('smtpd_client_port_logging'),
    delayOpen: b('smtpd_delay_open_until_valid_rcpt'),
    allowUntrustedRouting: b('allow_untrusted_routing'),
    relayBeforeRcptChecks: b('smtpd_relay_before_recipient_restrictions'),
    forbidUnauthPipelining: b('smtpd_forbid_unauth_pipelining'),
    clientRestrictions: s('smtpd_client_restrictions'),
    heloRestrictions: s('smtpd_helo_restrictions'),
    senderRestrictions: s('smtpd_sender_restrictions'),
    relayRestrictions: s('smtpd_relay_restrictions'),
    recipientRestrictions: s('smtpd_recipient_restrictions'),
    dataRestrictions: s('smtpd_data_restrictions'),
    eodRestrictions: s('smtpd_end_of_data_restrictions'),
    etrnRestrictions: s('smtpd_etrn_restrictions'),
    restrictionClasses: s('smtpd_restriction_classes'),
    xclientHosts: s('smtpd_authorized_xclient_hosts'),
    xforwardHosts: s('smtpd_authorized_xforward_hosts'),
    discardEhloKeywords: s('smtpd_discard_ehlo_keywords'),
    discardEhloKeywordAddressMaps: s('smtpd_discard_ehlo_keyword_address_maps'),
    forbiddenCommands: s('smtpd_forbidden_commands'),
    noopCommands: s('smtpd_noop_commands'),
    nullAccessKey: s('smtpd_null_access_lookup_key'),
    localRecipientMaps: s('local_recipient_maps'),
    virtualAliasMaps: s('virtual_alias_maps'),
    virtualMailboxMaps: s('virtual_mailbox_maps'),
    relayRecipientMaps: s('relay_recipient_maps'),
    canonicalMaps: s('canonical_maps'),
    senderCanonicalMaps: s('sender_canonical_maps'),
    recipientCanonicalMaps: s('recipient_canonical_maps'),
    localHeaderRewriteClients: s('local_header_rewrite_clients'),
    unknownHeloTempfailAction: s('unknown_helo_hostname_tempfail_action'),
    unknownAddressTempfailAction: s('unknown_address_tempfail_action'),
    doubleBounceSender: s('double_bounce_sender'),
    verifySender: s('address_verify_sender'),
    verifySenderTtl: t('address_verify_sender_ttl'),
    fastFlushDomains: s('fast_flush_domains'),
    flushServiceName: s('flush_service_name'),
    warnCompatFlushDomains: compatBelow2(config) && !config.isSet('relay_domains') && !config.isSet('fast_flush_domains'),
    forbidBareNewline: s('smtpd_forbid_bare_newline'),
    forbidBareNewlineExclusions: s('smtpd_forbid_bare_newline_exclusions'),
    forbidBareNewlineCode: i('smtpd_forbid_bare_newline_reject_code'),
    contentFilter: s('content_filter'),
    recipientDelimiter: s('recipient_delimiter'),
    logAccessPermitActions: s('smtpd_log_access_permit_actions'),
    receiveOverrideOptions: s('receive_override_options'),
    sasl_authenticated_header: b('smtpd_sasl_authenticated_header'),
    tls: {
      securityLevel: s('smtpd_tls_security_level'),
      useTls: b('smtpd_use_tls'),
      enforceTls: b('smtpd_enforce_tls'),
      wrappermode: b('smtpd_tls_wrappermode'),
      authOnly: b('smtpd_tls_auth_only'),
      certFile: s('smtpd_tls_cert_file'),
      keyFile: s('smtpd_tls_key_file'),
      chainFiles: s('smtpd_tls_chain_files'),
      receivedHeader: b('smtpd_tls_received_header'),
      loglevel: i('smtpd_tls_loglevel'),
      starttlsTimeoutSec: t('smtpd_starttls_timeout'),
    },
    policy: {
      timeoutSec: t('smtpd_policy_service_timeout'),
      maxIdleSec: t('smtpd_policy_service_max_idle'),
      maxTtlSec: t('smtpd_policy_service_max_ttl'),
      defaultAction: s('smtpd_policy_service_default_action'),
      requestLimit: i('smtpd_policy_service_request_limit'),
      tryLimit: i('smtpd_policy_service_try_limit'),
      retryDelaySec: t('smtpd_policy_service_retry_delay'),
      context: s('smtpd_policy_service_policy_context'),
    },
    codes: {
      unknownClient: i('unknown_client_reject_code'),
      unknownHostname: i('unknown_hostname_reject_code'),
      unknownAddress: i('unknown_address_reject_code'),
      invalidHostname: i('invalid_hostname_reject_code'),
      nonFqdn: i('non_fqdn_reject_code'),
      accessMapReject: i('access_map_reject_code'),
      accessMapDefer: i('access_map_defer_code'),
      reject: i('reject_code'),
      defer: i('defer_code'),
      relayDomains: i('relay_domains_reject_code'),
      unknownLocalRecipient: i('unknown_local_recipient_reject_code'),
      unknownVirtualAlias: i('unknown_virtual_alias_reject_code'),
      unknownVirtualMailbox: i('unknown_virtual_mailbox_reject_code'),
      unknownRelayRecipient: i('unknown_relay_recipient_reject_code'),
      multiRecipientBounce: i('multi_recipient_bounce_reject_code'),
      plaintext: i('plaintext_reject_code'),
    },
  };
}

/** compatibility_level below 2 (the level whose defaults changed relay_domains). */
function compatBelow2(config: Config): boolean {
  const level = parseCompatLevel(config.get('compatibility_level'), () => undefined);
  return level !== undefined && level[0] < 2;
}
