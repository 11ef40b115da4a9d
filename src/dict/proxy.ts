// Mirrors the client side of Postfix's global/dict_proxy.c: proxy:type:name.
// Postfix hands such lookups to its proxymap (or proxywrite) daemon, which
// keeps tables open outside a chroot and shares them between processes.
// This project opens the inner table in-process instead: the answers are
// the same, but there is no proxy_read_maps/proxy_write_maps approval check
// and the table is read with this process's own privileges.
import { type Dict, type DictOpener, isSurrogate, surrogateDict, O_RDWR, O_RDONLY, STDERR_DICT_ENV } from './dict.js';

export const open: DictOpener = async (name, openFlags, dictFlags, env = STDERR_DICT_ENV) => {
  if (openFlags !== O_RDONLY && (openFlags & O_RDWR) !== O_RDWR) {
    return surrogateDict('proxy', name, dictFlags, `${name}: proxy map open requires O_RDONLY or O_RDWR mode`);
  }
  const { dictOpen } = await import('./registry.js');
  const inner = await dictOpen(name, openFlags, dictFlags, env);
  if (isSurrogate(inner)) return surrogateDict('proxy', name, inner.flags, inner.openError);
  const proxy: Dict = {
    type: 'proxy',
    name,
    get flags() {
      return inner.flags;
    },
    set flags(v: number) {
      inner.flags = v;
    },
    lookup: (key) => inner.lookup(key),
    close: () => inner.close(),
  };
  if (inner.update) proxy.update = (k, v) => inner.update!(k, v);
  if (inner.delete) proxy.delete = (k) => inner.delete!(k);
  if (inner.sequence) proxy.sequence = () => inner.sequence!();
  if (inner.sync) proxy.sync = () => inner.sync!();
  return proxy;
};
