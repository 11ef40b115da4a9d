// Mirrors Postfix's util/dict_fail.c: fail:name, a table whose every access
// fails as a temporary error. Administrators use it to make a lookup path
// defer mail on purpose.
import { type DictOpener, type LookupResult, type UpdateResult, lookupError, O_RDWR, DICT_FLAG_PATTERN } from './dict.js';

export const open: DictOpener = (name, openFlags, dictFlags) => {
  const failure: LookupResult = lookupError('retry');
  const updateFailure: UpdateResult = { status: 'error', error: 'retry' };
  const writable = (openFlags & O_RDWR) === O_RDWR;
  return {
    type: 'fail',
    name,
    flags: dictFlags | DICT_FLAG_PATTERN,
    lookup: () => failure,
    ...(writable ? { update: () => updateFailure, delete: () => updateFailure } : {}),
    sequence: () => {
      throw new Error(`table fail:${name}: sequence error`);
    },
    close: () => undefined,
  };
};
