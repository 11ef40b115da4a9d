// Loads a fixture's configuration as a daemon sees it, for the test
// harnesses that run this project's services in-process (test/smtpd,
// test/cleanup): main.cf and overrides, plus the host-computed defaults
// (mydomain, mynetworks) evaluated against main.cf.
import { Config } from '../../src/config/config.js';
import { tryComputedDefault, type ConfigView } from '../../src/config/computed.js';
import { getParam } from '../../src/config/registry.js';

/**
 * Config.get() works out host-computed defaults (mydomain, mynetworks) as
 * `postconf -d` does, ignoring main.cf; a daemon must evaluate them against
 * main.cf (mydomain from myhostname, mynetworks from mynetworks_style and
 * inet_interfaces). Until the config layer does, the harnesses pass them in
 * as overrides so that the fixtures run with the values Postfix uses.
 */
export function loadWithComputedDefaults(conf: string, overrides: Array<[string, string]>): Config {
  const config = Config.load(conf, overrides);
  const view: ConfigView = {
    mainValue: (name) => (config.isSet(name) ? config.get(name) : undefined),
    expandedDefault: (name) => config.expand(getParam(name)?.defaultValue() ?? ''),
  };
  const extra: Array<[string, string]> = [];
  for (const name of ['mydomain', 'mynetworks']) {
    if (config.isSet(name)) continue;
    const r = tryComputedDefault(name, view);
    if (r.ok) extra.push([name, r.value]);
  }
  return extra.length ? Config.load(conf, [...extra, ...overrides]) : config;
}
