// The main.cf parameters of Postfix's local(8) (local/local.c main() and
// local_mask_init()), read once per configuration: which sources may
// deliver to files and commands, where mailboxes are, the expansion
// filters, the Delivered-To: policy. Throws ConfigError (the caller's
// fatal) for a value Postfix refuses. Reads the Config only.
import type { Config } from '../../config/config.js';
import { ConfigError } from '../../config/config.js';
import { extPropMask, nameMask } from '../../address/canonical.js';
import { mboxLockMask, type LockTiming } from './mbox-lock.js';
import { DELIVER_HDR_CMD, DELIVER_HDR_FILE, DELIVER_HDR_FWD, EXPAND_TYPE_ALIAS, EXPAND_TYPE_FWD, EXPAND_TYPE_INCL } from './attr.js';

const SOURCE_NAMES: ReadonlyArray<[string, number]> = [
  ['alias', EXPAND_TYPE_ALIAS], ['forward', EXPAND_TYPE_FWD], ['include', EXPAND_TYPE_INCL],
];
const HDR_NAMES: ReadonlyArray<[string, number]> = [
  ['command', DELIVER_HDR_CMD], ['file', DELIVER_HDR_FILE], ['forward', DELIVER_HDR_FWD],
];

export interface LocalSettings {
  aliasMaps: string;
  cmdDeliverMask: number;
  fileDeliverMask: number;
  extPropMask: number;
  deliverHdrMask: number;
  dupFilterLimit: number;
  commandTimeLimit: number;
  homeMailbox: string;
  mailboxCommand: string;
  mailboxCommandMaps: string;
  recipientDelimiter: string;
  commandShell: string;
  luserRelay: string;
  mailSpoolDirectory: string;
  mailboxTransport: string;
  mailboxTransportMaps: string;
  fallbackTransport: string;
  fallbackTransportMaps: string;
  execDirectory: string;
  execExpansionFilter: string;
  forwardPath: string;
  commandExpansionFilter: string;
  forwardExpansionFilter: string;
  expandOwnerAlias: boolean;
  frozenDeliveredTo: boolean;
  resetOwnerAlias: boolean;
  ownerRequestSpecial: boolean;
  mailboxLocks: string[];
  lockTiming: LockTiming;
  strictMailboxOwnership: boolean;
  enableOriginalRecipient: boolean;
  mailboxSizeLimit: number;
  defaultPrivs: string;
  exportEnvironment: string[];
  myhostname: string;
  mailName: string;
  queueDirectory: string;
  cleanupServiceName: string;
  utf8: boolean;
  biff: boolean;
  requireHomeDirectory: boolean;
}

/** local_mask_init and the parameter tables of local(8)'s main(). */
export function localSettings(config: Config): LocalSettings {
  const locks = config.get('mailbox_delivery_lock').split(/[\s,]+/).filter((s) => s !== '');
  const mask = mboxLockMask(locks);
  if (!mask.ok) throw new ConfigError(mask.error);
  if (mask.mask === 0) throw new ConfigError('parameter mailbox_delivery_lock specifies no applicable mailbox locking method');
  const mailboxLimit = config.getLong('mailbox_size_limit');
  const messageLimit = config.getLong('message_size_limit');
  if (mailboxLimit > 0) {
    if (messageLimit <= 0) throw new ConfigError('configuration error: mailbox_size_limit is limited but message_size_limit is unlimited');
    if (mailboxLimit < messageLimit) throw new ConfigError('configuration error: mailbox_size_limit is smaller than message_size_limit');
  }
  return {
    aliasMaps: config.get('alias_maps'),
    cmdDeliverMask: nameMask('allow_mail_to_commands', SOURCE_NAMES, config.get('allow_mail_to_commands')),
    fileDeliverMask: nameMask('allow_mail_to_files', SOURCE_NAMES, config.get('allow_mail_to_files')),
    extPropMask: extPropMask(config),
    deliverHdrMask: nameMask('prepend_delivered_header', HDR_NAMES, config.get('prepend_delivered_header')),
    dupFilterLimit: config.getInt('duplicate_filter_limit'),
    commandTimeLimit: config.getTime('command_time_limit'),
    homeMailbox: config.get('home_mailbox'),
    mailboxCommand: config.get('mailbox_command'),
    mailboxCommandMaps: config.get('mailbox_command_maps'),
    recipientDelimiter: config.get('recipient_delimiter'),
    commandShell: config.get('local_command_shell'),
    luserRelay: config.get('luser_relay'),
    mailSpoolDirectory: config.get('mail_spool_directory'),
    mailboxTransport: config.get('mailbox_transport'),
    mailboxTransportMaps: config.get('mailbox_transport_maps'),
    fallbackTransport: config.get('fallback_transport'),
    fallbackTransportMaps: config.get('fallback_transport_maps'),
    execDirectory: config.get('command_execution_directory'),
    execExpansionFilter: config.get('execution_directory_expansion_filter'),
    forwardPath: config.get('forward_path'),
    commandExpansionFilter: config.get('command_expansion_filter'),
    forwardExpansionFilter: config.get('forward_expansion_filter'),
    expandOwnerAlias: config.getBool('expand_owner_alias'),
    frozenDeliveredTo: config.getBool('frozen_delivered_to'),
    resetOwnerAlias: config.getBool('reset_owner_alias'),
    ownerRequestSpecial: config.getBool('owner_request_special'),
    mailboxLocks: locks,
    lockTiming: {
      attempts: config.getInt('deliver_lock_attempts'),
      delayMs: config.getTime('deliver_lock_delay') * 1000,
      staleSec: config.getTime('stale_lock_time'),
    },
    strictMailboxOwnership: config.getBool('strict_mailbox_ownership'),
    enableOriginalRecipient: config.getBool('enable_original_recipient'),
    mailboxSizeLimit: mailboxLimit,
    defaultPrivs: config.get('default_privs'),
    exportEnvironment: config.get('export_environment').split(/[\s,]+/).filter((s) => s !== ''),
    myhostname: config.get('myhostname'),
    mailName: config.get('mail_name'),
    queueDirectory: config.get('queue_directory'),
    cleanupServiceName: config.get('cleanup_service_name'),
    utf8: config.getBool('smtputf8_enable'),
    biff: config.getBool('biff'),
    requireHomeDirectory: config.getBool('require_home_directory'),
  };
}
