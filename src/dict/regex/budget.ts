// The match budget of pattern tables (DESIGN.md: work on input an attacker
// controls runs under a budget). Postfix's pcre: tables run PCRE2 with its
// match limit: a pattern that backtracks without end ("(a+)+$" against
// "aaa...!") stops with "match limit exceeded" and the rule counts as not
// matching; glibc's POSIX engine behind regexp: tables does not backtrack
// that way at all. V8's own engine backtracks without limit and cannot be
// interrupted from inside a lookup, so:
//   - riskyPattern() flags, at open time, the JavaScript patterns whose
//     backtracking can grow without bound (a quantified group that itself
//     holds a quantifier or an alternation, or three unbounded quantifiers);
//   - a pcre: rule so flagged is matched by budgetedExec(), inside a vm
//     script with a time limit: the time limit stands for PCRE2's count;
//   - a regexp: rule so flagged is compiled for V8's linear-time engine
//     (linearRegExp()), which answers as glibc does, without blowing up.
// Patterns that are not flagged run directly, at full speed.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

/** How long one budgeted match may run before it counts as PCRE2's match limit. */
export const MATCH_BUDGET_MS = 100;

/** True when the JavaScript pattern `source` may backtrack catastrophically. */
export function riskyPattern(source: string): boolean {
  // For each open group: does it hold a quantifier or an alternation?
  const stack: Array<{ inner: boolean }> = [];
  let unbounded = 0;
  let lastGroupInner = false;
  let afterGroup = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      i++;
      afterGroup = false;
      continue;
    }
    if (c === '[') {
      for (i++; i < source.length && source[i] !== ']'; i++) if (source[i] === '\\') i++;
      afterGroup = false;
      continue;
    }
    if (c === '(') {
      stack.push({ inner: false });
      afterGroup = false;
      continue;
    }
    if (c === ')') {
      const g = stack.pop();
      lastGroupInner = g?.inner ?? false;
      if (lastGroupInner && stack.length) stack[stack.length - 1]!.inner = true;
      afterGroup = true;
      continue;
    }
    if (c === '|') {
      if (stack.length) stack[stack.length - 1]!.inner = true;
      afterGroup = false;
      continue;
    }
    const quant = c === '*' || c === '+' || (c === '{' && /^\{\d+,\d*\}/.test(source.slice(i)));
    if (quant) {
      const open = c !== '{' || /^\{\d+,\}/.test(source.slice(i));
      if (open) unbounded++;
      if (afterGroup && lastGroupInner) return true;
      if (stack.length) stack[stack.length - 1]!.inner = true;
      if (c === '{') i = source.indexOf('}', i);
    }
    afterGroup = false;
  }
  return unbounded >= 3;
}

/** One context for every budgeted match of the process; the script reads its inputs from it. */
interface Sandbox {
  re: RegExp | null;
  key: string;
  result: RegExpExecArray | null;
}
let sandbox: (Sandbox & vm.Context) | null = null;
let script: vm.Script | null = null;

/** re.exec(key) under MATCH_BUDGET_MS; 'limit' when the budget ran out. */
export function budgetedExec(re: RegExp, key: string): RegExpExecArray | null | 'limit' {
  if (sandbox === null || script === null) {
    sandbox = vm.createContext({ re: null, key: '', result: null }) as Sandbox & vm.Context;
    script = new vm.Script('re.lastIndex = 0; result = re.exec(key); re = null; key = "";');
  }
  // The time limit is wall-clock time: a process that the kernel left
  // waiting (a busy machine) or that compiled the pattern on the way could
  // reach it without having spent the budget matching. Only a run that
  // used most of the budget as CPU counts as the match limit; the others
  // are run again.
  for (let attempt = 0; ; attempt++) {
    sandbox.re = re;
    sandbox.key = key;
    sandbox.result = null;
    const cpuBefore = process.cpuUsage();
    try {
      script.runInContext(sandbox, { timeout: MATCH_BUDGET_MS });
    } catch (e) {
      sandbox.re = null;
      sandbox.key = '';
      if ((e as { code?: string }).code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw e;
      const used = process.cpuUsage(cpuBefore);
      if ((used.user + used.system) / 1000 >= MATCH_BUDGET_MS / 2 || attempt >= 4) return 'limit';
      continue;
    }
    const r = sandbox.result;
    sandbox.result = null;
    return r;
  }
}

/** The pattern compiled now (V8 compiles on first use), or null when V8 refuses it (too large). */
export function compiledRegExp(source: string, flags: string): RegExp | null {
  try {
    const re = new RegExp(source, flags);
    re.test('');
    return re;
  } catch {
    return null;
  }
}

let linearEnabled = false;

/** The pattern compiled for V8's linear-time engine, or null when it cannot run there (backreferences, lookaround). */
export function linearRegExp(source: string, flags: string): RegExp | null {
  if (!linearEnabled) {
    v8.setFlagsFromString('--enable-experimental-regexp-engine');
    linearEnabled = true;
  }
  // The POSIX translation spells ^ and $ (outside REG_NEWLINE) as lookarounds, which the linear engine lacks.
  const plain = source.split('(?<![\\s\\S])').join('^').split('(?![\\s\\S])').join('$');
  try {
    return new RegExp(plain, flags + 'l');
  } catch {
    return null;
  }
}

/**
 * The characters of the last literal that every match must contain (one,
 * or an upper/lower pair), from the top level of a JavaScript pattern;
 * null when there is none. PCRE2 looks for such a "required code unit"
 * before it starts matching, so a subject without it fails at once instead
 * of running into the match limit: budgeted matching does the same.
 */
export function requiredLiteral(source: string): string[] | null {
  let last: string[] | null = null;
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    let atom: string[] | null = null;
    if (c === '|') return null;
    if (c === '(') {
      const end = groupEnd(source, i);
      if (end < 0) return null;
      const zeroWidth = /^\(\?(?:=|!|<=|<!)/.test(source.slice(i, i + 4));
      i = end + 1;
      if (zeroWidth) continue;
    } else if (c === '[') {
      let j = i + 1;
      for (; j < source.length && source[j] !== ']'; j++) if (source[j] === '\\') j++;
      const body = source.slice(i + 1, j);
      if (/^[^\\^\]-]$/.test(body)) atom = [body];
      else if (/^[A-Za-z]{2}$/.test(body) && body[0]!.toLowerCase() === body[1]!.toLowerCase() && body[0] !== body[1]) atom = [body[0]!, body[1]!];
      i = j + 1;
    } else if (c === '\\') {
      const hex = /^\\x([0-9a-fA-F]{2})/.exec(source.slice(i, i + 4));
      if (hex) {
        atom = [String.fromCharCode(parseInt(hex[1]!, 16))];
        i += 4;
      } else {
        if (/[.*+?()[\]{}|^$\\/-]/.test(source[i + 1] ?? '')) atom = [source[i + 1]!];
        i += 2;
      }
    } else {
      if (!/[.^$]/.test(c)) atom = [c];
      i++;
    }
    // What follows the atom: a quantifier that allows zero makes it optional.
    const q = source[i];
    let optional = false;
    if (q === '*' || q === '?') {
      optional = true;
      i++;
    } else if (q === '+') {
      i++;
    } else if (q === '{') {
      const m = /^\{(\d+)(?:,\d*)?\}/.exec(source.slice(i));
      if (m) {
        optional = m[1] === '0';
        i += m[0].length;
      }
    }
    if (source[i] === '?' && (q === '*' || q === '+' || q === '?' || q === '{')) i++;
    if (atom !== null && !optional) last = atom;
  }
  return last;
}

/** Index of the parenthesis that closes the group opened at `open`, or -1. */
function groupEnd(source: string, open: number): number {
  let depth = 0;
  for (let i = open; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (c === '[') {
      for (i++; i < source.length && source[i] !== ']'; i++) if (source[i] === '\\') i++;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}
