// The README's first command: writes a private configuration under
// ./run/etc (queue, data and log under the checkout, loopback only, a high
// port, the current user as mail_owner), shows it with `postconf -n` and
// starts the mail system on it with `postfix start`.
// Nothing outside the checkout is read or written.
import { chownSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const run = join(root, 'run');
const etc = join(run, 'etc');
const port = process.env.SMTP_PORT ?? '10025';

function mainCf(): string {
  const user = userInfo();
  const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim() || String(user.gid);
  return [
    '# Quick-start configuration written by `npm run quickstart`.',
    '# Everything lives under the checkout; only 127.0.0.1 is used.',
    'compatibility_level = 3.6',
    'myhostname = localhost.localdomain',
    'mydestination = $myhostname, localhost',
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'mynetworks = 127.0.0.0/8',
    `queue_directory = ${join(run, 'spool')}`,
    `data_directory = ${join(run, 'data')}`,
    `maillog_file = ${join(run, 'maillog')}`,
    `maillog_file_prefixes = ${run}`,
    `mail_spool_directory = ${join(run, 'mail')}`,
    `mail_owner = ${user.uid === 0 ? 'nobody' : user.username}`,
    `setgid_group = ${user.uid === 0 ? 'nogroup' : group}`,
    `alias_maps = hash:${join(etc, 'aliases')}`,
    `alias_database = hash:${join(etc, 'aliases')}`,
    '',
  ].join('\n');
}

function masterCf(): string {
  return [
    '# Quick-start services: SMTP on a high loopback port, plus the internal ones.',
    `127.0.0.1:${port} inet n       -       n       -       -       smtpd`,
    'pickup    unix  n       -       n       60      1       pickup',
    'cleanup   unix  n       -       n       -       0       cleanup',
    'qmgr      unix  n       -       n       300     1       qmgr',
    'rewrite   unix  -       -       n       -       -       trivial-rewrite',
    'bounce    unix  -       -       n       -       0       bounce',
    'defer     unix  -       -       n       -       0       bounce',
    'smtp      unix  -       -       n       -       -       smtp',
    'local     unix  -       n       n       -       -       local',
    'virtual   unix  -       n       n       -       -       virtual',
    'error     unix  -       -       n       -       -       error',
    'discard   unix  -       -       n       -       -       discard',
    'postlog   unix-dgram n  -       n       -       1       postlogd',
    '',
  ].join('\n');
}

mkdirSync(etc, { recursive: true });
for (const d of ['spool', 'data']) mkdirSync(join(run, d), { recursive: true });
// data_directory belongs to mail_owner, as Postfix requires: nobody when started as root.
if (userInfo().uid === 0) {
  const uid = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
  if (Number.isInteger(uid)) chownSync(join(run, 'data'), uid, -1);
}
if (!existsSync(join(etc, 'main.cf'))) writeFileSync(join(etc, 'main.cf'), mainCf());
if (!existsSync(join(etc, 'master.cf'))) writeFileSync(join(etc, 'master.cf'), masterCf());
// Mail for postmaster (and root) goes to the user running the quick start,
// in an mbox under the checkout: run/mail/USER.
mkdirSync(join(run, 'mail'), { recursive: true });
if (!existsSync(join(etc, 'aliases'))) {
  const me = userInfo().username;
  writeFileSync(join(etc, 'aliases'), me === 'root' ? 'postmaster: root\n' : `postmaster: ${me}\nroot: ${me}\n`);
  spawnSync(join(root, 'bin/postalias'), ['-c', etc, join(etc, 'aliases')], { stdio: 'inherit' });
}
console.log(`Configuration in ${etc}:`);
spawnSync(join(root, 'bin/postconf'), ['-c', etc, '-n'], { stdio: 'inherit' });
const r = spawnSync(join(root, 'bin/postfix'), ['-c', etc, 'start'], { stdio: 'inherit' });
if (r.status === 0) {
  console.log(`\nThe mail system is running on 127.0.0.1:${port} (log: ${join(run, 'maillog')}).`);
  console.log(`Send a message:  swaks --server 127.0.0.1:${port} --to postmaster@localhost`);
  console.log(`Stop it:         bin/postfix -c ${etc} stop`);
}
process.exitCode = r.status ?? 1;
