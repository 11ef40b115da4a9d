// The lookup keys of `postmap -h/-b [-m] -q -` (Postfix's postmap.c with
// global/mime_state.c): the message on stdin becomes header keys (a folded
// header is one key, lines joined with newlines) and body keys (one per
// line), as header_checks and body_checks would see them. With -m, MIME
// part headers count as headers and multipart boundaries are followed.
// Pure text processing; the caller does the lookups.
import { isHeader } from '../mail/header.js';

export interface MimeKeyOptions {
  header: boolean;
  body: boolean;
  mime: boolean;
}

export interface MimeKey {
  kind: 'header' | 'body';
  text: string;
}

function boundaryOf(header: string): string | undefined {
  if (!/^content-type[ \t]*:/i.test(header)) return undefined;
  if (!/:\s*multipart\//i.test(header)) return undefined;
  const m = /boundary[ \t]*=[ \t]*(?:"([^"]*)"|([^\s;]+))/i.exec(header);
  return m ? (m[1] ?? m[2]) : undefined;
}

function isMessageRfc822(header: string): boolean {
  return /^content-type[ \t]*:\s*message\/(rfc822|global)/i.test(header);
}

/** The keys in the order Postfix's MIME engine hands them to postmap's callbacks. */
export function* mimeKeys(lines: readonly string[], opts: MimeKeyOptions): Generator<MimeKey> {
  const boundaries: string[] = [];
  let inHeader = true;
  let primary = true;
  let pending: string | undefined;
  let nextIsMessage = false;
  let partBoundary: string | undefined;
  let partMessage = false;

  const endHeader = function* (): Generator<MimeKey> {
    if (pending !== undefined) {
      const h = pending;
      pending = undefined;
      if (opts.mime || primary) {
        const b = opts.mime ? boundaryOf(h) : undefined;
        if (b !== undefined) partBoundary = b;
        if (opts.mime && isMessageRfc822(h)) partMessage = true;
        if (opts.header) yield { kind: 'header', text: h };
      }
    }
  };

  for (const line of lines) {
    if (inHeader) {
      if (pending !== undefined && (line.startsWith(' ') || line.startsWith('\t'))) {
        pending += '\n' + line;
        continue;
      }
      yield* endHeader();
      if (isHeader(line)) {
        pending = line;
        continue;
      }
      // End of this header block: the blank line (or first non-header) is body text.
      inHeader = false;
      const wasPrimary = primary;
      primary = false;
      if (partBoundary !== undefined) {
        boundaries.push(partBoundary);
        partBoundary = undefined;
      }
      nextIsMessage = partMessage;
      partMessage = false;
      if (wasPrimary && opts.header && !opts.body && !opts.mime) return;
      if (nextIsMessage && line === '') {
        nextIsMessage = false;
        inHeader = true;
        if (opts.body) yield { kind: 'body', text: line };
        continue;
      }
      if (opts.body) yield { kind: 'body', text: line };
      continue;
    }
    if (opts.mime && boundaries.length > 0 && line.startsWith('--')) {
      const inner = boundaries[boundaries.length - 1]!;
      if (line.startsWith(`--${inner}--`)) {
        boundaries.pop();
        if (opts.body) yield { kind: 'body', text: line };
        continue;
      }
      if (line.startsWith(`--${inner}`)) {
        if (opts.body) yield { kind: 'body', text: line };
        inHeader = true;
        continue;
      }
    }
    if (opts.body) yield { kind: 'body', text: line };
  }
  if (inHeader) {
    yield* endHeader();
  }
}
