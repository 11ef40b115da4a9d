// Mirrors Postfix's global/delivered_hdr.c: before a local delivery, the
// Delivered-To: headers of the message are collected from the queue
// file's primary header block, so that a recipient the message was already
// delivered to is recognised as a mail forwarding loop. Addresses are
// compared folded (FOLD_ADDR_ALL) and quoted as in the header. Reads the
// queue file only.
import type { ByteInput } from '../../queue/record.js';
import { recGetRaw, REC_FLAG_DEFAULT } from '../../queue/record.js';
import { REC_TYPE } from '../../queue/rec-type.js';
import { isHeader } from '../../mail/header.js';
import { quote822Local } from '../../address/quote.js';
import { lowercaseAscii } from '../../dict/utf8.js';

const DELIVERED_HDR_LIMIT = 1000;
const NAME = 'delivered-to:';

function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n' || ch === '\v' || ch === '\f';
}

export class DeliveredHeaders {
  private constructor(private readonly table: Set<string>) {}

  /** delivered_hdr_init: scans the headers at dataOffset. */
  static read(input: ByteInput, dataOffset: number): DeliveredHeaders {
    const table = new Set<string>();
    const seek = input.seek(dataOffset, 'set');
    if (!seek.ok) return new DeliveredHeaders(table);
    let prevType: number = REC_TYPE.NORM;
    while (table.size < DELIVERED_HDR_LIMIT) {
      const r = recGetRaw(input, 0, REC_FLAG_DEFAULT);
      if (!('data' in r) || (r.type !== REC_TYPE.NORM && r.type !== REC_TYPE.CONT)) break;
      const curType = r.type;
      const text = r.data.toString('latin1');
      const skip = prevType === REC_TYPE.CONT;
      prevType = curType;
      if (skip) continue;
      if (isHeader(text)) {
        if (lowercaseAscii(text.slice(0, NAME.length)) === NAME) {
          let i = NAME.length;
          while (isSpace(text[i])) i++;
          table.add(lowercaseAscii(text.slice(i)));
        }
      } else if (isSpace(text[0])) {
        continue;
      } else {
        break;
      }
    }
    return new DeliveredHeaders(table);
  }

  /** delivered_hdr_find. */
  has(address: string): boolean {
    return this.table.has(lowercaseAscii(quote822Local(address)));
  }
}
