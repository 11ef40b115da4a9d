// postconf -e, -X and -# on main.cf (Postfix's postconf_edit.c,
// pcf_edit_main): a line-by-line copy that replaces, removes or comments out
// the named entries and keeps every other byte, written to main.cf.tmp and
// renamed into place so that a failed edit leaves main.cf as it was.
import { readFileSync } from 'node:fs';
import { splitNameValue, isSpace } from '../../config/maincf.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { errnoText } from '../../util/errno.js';
import { msgFatal, msgWarn } from '../../util/msg.js';
import { PCF_COMMENT_OUT, PCF_EDIT_CONF, PCF_EDIT_EXCL } from './context.js';

interface EditRequest {
  value: string | undefined;
  found: number;
}

function parseRequests(mode: number, args: readonly string[]): Map<string, EditRequest> {
  const table = new Map<string, EditRequest>();
  for (const arg of args) {
    if (arg.includes('\n')) msgFatal('-e, -X, or -# accepts no multi-line input');
    let cp = arg;
    while (isSpace(cp[0])) cp = cp.slice(1);
    if (cp[0] === '#') msgFatal('-e, -X, or -# accepts no comment input');
    let name: string;
    let value: string | undefined;
    if (mode & PCF_EDIT_CONF) {
      const nv = splitNameValue(cp);
      if ('error' in nv) msgFatal(`${nv.error}: "${cp}"`);
      name = nv.name;
      value = nv.value;
    } else {
      if (cp.length === 0) msgFatal('-X or -# requires non-blank parameter names');
      if (cp.includes('=')) msgFatal('-X or -# requires parameter names without value');
      name = cp.replace(/[ \t\r\n\v\f]+$/, '');
    }
    const old = table.get(name);
    if (old) {
      msgWarn(`ignoring earlier request: '${name} = ${old.value ?? '(null)'}'`);
      table.delete(name);
    }
    table.set(name, { value, found: 0 });
  }
  return table;
}

/** Splits file text into lines that keep their newline (vstring_get). */
function physicalLines(text: string): string[] {
  const lines = text.split(/(?<=\n)/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Index of the first character that is not whitespace, or -1 for comment/blank lines. */
function infoStart(line: string): number {
  let i = 0;
  while (i < line.length && isSpace(line[i])) i++;
  return i === line.length || line[i] === '#' ? -1 : i;
}

export function editMain(mode: number, configDir: string, args: readonly string[]): void {
  const table = parseRequests(mode, args);
  const path = `${configDir}/main.cf`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    msgFatal(`open ${path} for reading: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
  const out: string[] = [];
  let interesting = false;
  for (const line of physicalLines(text)) {
    const at = infoStart(line);
    if (at < 0) {
      out.push(line);
    } else if (at > 0) {
      if (!interesting) out.push(line);
      else if (mode & PCF_COMMENT_OUT) out.push('#' + line);
    } else {
      const m = /^[^ \t\r\n=]*/.exec(line)!;
      const key = m[0];
      const req = table.get(key);
      interesting = req !== undefined;
      if (req) {
        if (req.found++ === 1) msgWarn(`${path}: multiple entries for "${key}"`);
        if (mode & PCF_EDIT_CONF) out.push(`${key} = ${req.value}\n`);
        else if (mode & PCF_COMMENT_OUT) out.push('#' + line);
      } else {
        out.push(line);
      }
    }
  }
  if (mode & PCF_EDIT_CONF) {
    for (const [name, req] of table) if (req.found === 0) out.push(`${name} = ${req.value}\n`);
  }
  try {
    writeFileAtomic(path, out.join(''), { mode: 0o644 });
  } catch (e) {
    msgFatal(`close ${path}.tmp: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
}

export const EDIT_MODES = PCF_EDIT_CONF | PCF_EDIT_EXCL | PCF_COMMENT_OUT;
