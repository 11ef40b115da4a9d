// What other parts of the project need from the submission side (the
// master making queue directories, postqueue/postsuper honouring the same
// user lists): the permission model of maildrop/ and public/, and the
// user access lists (global/user_acl.c).
//
// Two models, as Postfix has had:
//  - installed as root with setgid_group (Postfix's own): maildrop/ is
//    mail_owner:setgid_group 0730 and public/ 0710, and only members of
//    that group (Postfix's set-gid postdrop) can drop mail;
//  - the whole project run by one ordinary user (tests, quick start): no
//    group to lean on, so maildrop/ is world-writable with the sticky bit
//    (1733: anyone may add a file, nobody but its owner and the daemon may
//    remove it, nobody may list it) and public/ is 0711, so every local
//    user can submit and wake pickup.
export { checkUserAclByUid } from './user-acl.js';

export interface SubmissionDirModes {
  maildrop: number;
  public: number;
}

/** The modes of maildrop/ and public/: setgid says whether setgid_group owns them. */
export function submissionDirModes(setgid: boolean): SubmissionDirModes {
  return setgid ? { maildrop: 0o730, public: 0o710 } : { maildrop: 0o1733, public: 0o711 };
}
