// The bounce daemon's view of main.cf (Postfix's bounce/bounce.c globals:
// var_notify_classes, var_bounce_rcpt, var_2bounce_rcpt, var_delay_rcpt,
// var_bounce_limit, var_max_queue_time, var_mail_name, bounce_template_file
// loaded by bounce_templates.c): read once per service object. Reads the
// template file; touches nothing else.
import * as fsp from 'node:fs/promises';
import type { Config } from '../config/config.js';
import { type BounceTemplates, type TemplateEnv, defaultTemplates, loadTemplateFile, TemplateError } from '../mail/bounce-templates.js';
import type { PostMailParams } from './post-mail.js';
import { errnoText } from '../util/errno.js';

export interface NoticeSettings {
  myhostname: string;
  /** $mail_name with the characters an RFC 822 atom cannot hold turned into "-". */
  mailNameAtom: string;
  /** MAIL_ERROR_* bits of notify_classes. */
  notifyMask: number;
  bounceRcpt: string;
  bounce2Rcpt: string;
  delayRcpt: string;
  doubleBounceSender: string;
  bounceSizeLimit: number;
  maxQueueTime: number;
  smtputf8Enable: boolean;
  standardFrom: boolean;
  threadedBounces: boolean;
  templates: BounceTemplates;
  post: PostMailParams;
}

/** global/mail_error.h. */
export const MAIL_ERROR_POLICY = 1 << 0;
export const MAIL_ERROR_PROTOCOL = 1 << 1;
export const MAIL_ERROR_BOUNCE = 1 << 2;
export const MAIL_ERROR_SOFTWARE = 1 << 3;
export const MAIL_ERROR_RESOURCE = 1 << 4;
export const MAIL_ERROR_2BOUNCE = 1 << 5;
export const MAIL_ERROR_DELAY = 1 << 6;
export const MAIL_ERROR_DATA = 1 << 7;

/** mail_error_masks[] of global/mail_error.c. */
const MAIL_ERROR_NAMES: Record<string, number> = {
  bounce: MAIL_ERROR_BOUNCE, '2bounce': MAIL_ERROR_2BOUNCE, data: MAIL_ERROR_DATA, delay: MAIL_ERROR_DELAY,
  policy: MAIL_ERROR_POLICY, protocol: MAIL_ERROR_PROTOCOL, resource: MAIL_ERROR_RESOURCE, software: MAIL_ERROR_SOFTWARE,
};

/** name_mask(): the bits of a class list; an unknown name is reported and ignored. */
export function notifyClassMask(text: string, warn: (t: string) => void): number {
  let mask = 0;
  for (const name of text.split(/[\s,]+/).filter((w) => w !== '')) {
    const bit = MAIL_ERROR_NAMES[name];
    if (bit === undefined) warn(`unknown notify_classes value "${name}" in "${text}"`);
    else mask |= bit;
  }
  return mask;
}

const listHas = (config: Config, name: string, word: string) =>
  config.get(name).toLowerCase().split(/[\s,]+/).some((w) => w === word || w === 'all');

/** The templates: built-in ones, replaced by bounce_template_file's when it is set. */
export async function loadTemplates(config: Config, warn: (t: string) => void): Promise<{ value: BounceTemplates } | { error: string }> {
  const templates = defaultTemplates();
  const file = config.get('bounce_template_file');
  if (file === '') return { value: templates };
  let data: string;
  try {
    data = await fsp.readFile(file, 'latin1');
  } catch (e) {
    return { error: `open template file ${file}: ${errnoText(e as NodeJS.ErrnoException)}` };
  }
  try {
    loadTemplateFile(data, file, templates, warn);
  } catch (e) {
    if (e instanceof TemplateError) return { error: e.message };
    throw e;
  }
  return { value: templates };
}

export function noticeSettings(config: Config, templates: BounceTemplates, warn: (t: string) => void): NoticeSettings {
  const myhostname = config.get('myhostname');
  const mailName = config.get('mail_name');
  const smtputf8Enable = config.getBool('smtputf8_enable');
  return {
    myhostname,
    mailNameAtom: mailName.replace(/[ \t\r\n()<>@,;:\\".[\]]/g, '-'),
    notifyMask: notifyClassMask(config.get('notify_classes'), warn),
    bounceRcpt: config.get('bounce_notice_recipient'),
    bounce2Rcpt: config.get('2bounce_notice_recipient'),
    delayRcpt: config.get('delay_notice_recipient'),
    doubleBounceSender: config.get('double_bounce_sender'),
    bounceSizeLimit: config.getInt('bounce_size_limit'),
    maxQueueTime: config.getTime('maximal_queue_lifetime'),
    smtputf8Enable,
    standardFrom: config.get('header_from_format').toLowerCase() !== 'obsolete',
    threadedBounces: config.getBool('enable_threaded_bounces'),
    templates,
    post: {
      myhostname,
      mailName,
      filterBounce: listHas(config, 'internal_mail_filter_classes', 'bounce'),
      autodetectUtf8: smtputf8Enable && listHas(config, 'smtputf8_autodetect_classes', 'bounce'),
    },
  };
}

/** What $name in a template may refer to: any main.cf parameter, expanded. */
export function templateEnv(config: Config): TemplateEnv {
  return {
    lookup: (name) => (config.raw(name) === undefined ? undefined : config.get(name)),
    seconds: (name) => config.getTime(name),
    smtputf8: config.getBool('smtputf8_enable'),
    standardFrom: config.get('header_from_format').toLowerCase() !== 'obsolete',
  };
}
