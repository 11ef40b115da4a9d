// Mirrors Postfix's trivial-rewrite/rewrite.c and the client wrappers of
// global/rewrite_clnt.c: an address made canonical in the "local" context
// (append @$myorigin, then .$mydomain) or the "remote" context (both from
// $remote_header_rewrite_domain), after stripping a source route, swapping
// site!user to user@site and promoting user%site to user@site. Pure work on
// a token tree: no tables, so it is synchronous.
import { TOK822_DOMLIT, TOK822_QSTRING, tok822Alloc, tok822CutAfter, tok822FindType, tok822RfindType,
  tok822Scan, tok822ScanAddr, tok822SubAppend, tok822SubKeepAfter, tok822SubKeepBefore, tok822SubPrepend,
  tokOp, type Tok822 } from './tok822.js';
import { tok822Externalize, TOK822_STR_DEFL } from './tok822-format.js';
import { quote822Local, unquote822Local } from './quote.js';
import type { Config } from '../config/config.js';
import { defaultLog, type AddressLog } from './maps.js';

export type RewriteContextName = 'local' | 'remote';

/** The parameters rewrite_tree reads. */
export interface RewriteParams {
  myorigin: string;
  mydomain: string;
  remoteHeaderRewriteDomain: string;
  appendAtMyorigin: boolean;
  appendDotMydomain: boolean;
  swapBangpath: boolean;
  allowPercentHack: boolean;
  /** warn_compat_break_app_dot_mydomain: compatibility_level < 1 and append_dot_mydomain not set. */
  warnCompatAppendDotMydomain: boolean;
}

export function rewriteParamsFromConfig(config: Config): RewriteParams {
  return {
    myorigin: config.get('myorigin'),
    mydomain: config.get('mydomain'),
    remoteHeaderRewriteDomain: config.get('remote_header_rewrite_domain'),
    appendAtMyorigin: config.getBool('append_at_myorigin'),
    appendDotMydomain: config.getBool('append_dot_mydomain'),
    swapBangpath: config.getBool('swap_bangpath'),
    allowPercentHack: config.getBool('allow_percent_hack'),
    warnCompatAppendDotMydomain: compatLevelBelow1(config) && !config.isSet('append_dot_mydomain'),
  };
}

/** compatibility_level below 1 ("0", "0.x"; an unparsable value counts as 0). */
function compatLevelBelow1(config: Config): boolean {
  const m = /^\s*(\d+)/.exec(config.get('compatibility_level'));
  return !m || Number(m[1]) < 1;
}

/** What rewrite_tree needs beyond the parameters: where to log, and whether "localhost" has a class. */
export interface RewriteEnv {
  log?: AddressLog;
  /** resolve_class("localhost") is RESOLVE_CLASS_DEFAULT (asked only for the compatibility notice). */
  localhostIsDefaultClass?: () => boolean;
}

/** Domain text the context appends: [origin, domain]. */
function contextDomains(p: RewriteParams, context: RewriteContextName): [string, string] {
  return context === 'local' ? [p.myorigin, p.mydomain] : [p.remoteHeaderRewriteDomain, p.remoteHeaderRewriteDomain];
}

/** Appends the tokens of text to the tree's members. */
function appendScanned(tree: Tok822, text: string): void {
  const { head } = tok822Scan(text);
  if (head) tok822SubAppend(tree, head);
}

/** rewrite_tree: rewrites the members of an ADDR node in place. */
export function rewriteTree(p: RewriteParams, context: RewriteContextName, tree: Tok822, env: RewriteEnv = {}): void {
  if (tree.head === null || tree.tail === null) throw new Error('rewrite_tree: empty tree');
  const [origin, domainText] = contextDomains(p, context);

  // The empty address is a special case; a lone @ is taken as one.
  if (tree.head === tree.tail && tree.tail.type === TOK822_QSTRING && tree.tail.text === '') return;
  if (tree.head === tree.tail && tree.tail.type === tokOp('@')) {
    tok822SubKeepBefore(tree, tree.tail);
    tok822SubAppend(tree, tok822Alloc(TOK822_QSTRING, ''));
    return;
  }

  // Strip a source route: @a,@b:user@domain.
  const colon = tree.head.type === tokOp('@') ? tok822FindType(tree.head, tokOp(':')) : null;
  if (colon !== null && colon !== tree.tail) tok822SubKeepAfter(tree, colon);

  if (tok822RfindType(tree.tail, tokOp('@')) === null) {
    const bang = p.swapBangpath ? tok822FindType(tree.head, tokOp('!')) : null;
    const percent = bang === null && p.allowPercentHack ? tok822RfindType(tree.tail, tokOp('%')) : null;
    if (bang !== null) {
      // site!user becomes user@site.
      tok822SubKeepBefore(tree, bang);
      const local = tok822CutAfter(bang);
      tok822SubPrepend(tree, tok822Alloc(tokOp('@')));
      if (local) tok822SubPrepend(tree, local);
    } else if (percent !== null) {
      percent.type = tokOp('@');
    } else if (p.appendAtMyorigin && origin !== '') {
      tok822SubAppend(tree, tok822Alloc(tokOp('@')));
      appendScanned(tree, origin);
    }
  }

  // Append .mydomain to a domain without dots, but leave broken forms ending in @ alone.
  const at = tok822RfindType(tree.tail, tokOp('@'));
  if (p.appendDotMydomain && domainText !== '' && at !== null && at !== tree.tail
    && tok822FindType(at, TOK822_DOMLIT) === null && tok822FindType(at, tokOp('.')) === null) {
    if (p.warnCompatAppendDotMydomain && at.next && at.next.text !== '') compatNotice(p, at.next.text, env);
    tok822SubAppend(tree, tok822Alloc(tokOp('.')));
    appendScanned(tree, domainText);
  }

  // Strip a trailing dot, but not dot-dot or @-dot.
  const tail = tree.tail!;
  if (tail.type === tokOp('.') && tail.prev && tail.prev.type !== tokOp('.') && tail.prev.type !== tokOp('@')) {
    tok822SubKeepBefore(tree, tail);
  }
}

/** The backwards-compatibility notice for append_dot_mydomain, as trivial-rewrite logs it. */
function compatNotice(p: RewriteParams, name: string, env: RewriteEnv): void {
  const log = env.log ?? defaultLog;
  const head = `using backwards-compatible default setting append_dot_mydomain=yes to rewrite "${name}" to "${name}.${p.mydomain}"`;
  if (name.toLowerCase() !== 'localhost') log.info(head);
  else if (env.localhostIsDefaultClass?.()) log.info(`${head}; please add "localhost" to mydestination or other address class`);
}

/**
 * rewrite_proto: an external-form address rewritten in a context, back in
 * external form. The null address stays null (Postfix warns about it).
 */
export function rewriteExternal(p: RewriteParams, context: RewriteContextName, address: string, env: RewriteEnv = {}): string {
  if (address === '') {
    (env.log ?? defaultLog).warning('rewrite_addr: null address');
    return '';
  }
  const tree = tok822ScanAddr(address);
  if (tree.head === null) return tok822Externalize(tree, TOK822_STR_DEFL);
  rewriteTree(p, context, tree, env);
  return tok822Externalize(tree, TOK822_STR_DEFL);
}

/** rewrite_clnt_internal: internal (unquoted) form in and out. */
export function rewriteInternal(p: RewriteParams, context: RewriteContextName, address: string, env: RewriteEnv = {}): string {
  return unquote822Local(rewriteExternal(p, context, quote822Local(address), env));
}
