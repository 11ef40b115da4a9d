// Mirrors what a Postfix daemon's configuration is once master(8) has
// started it (global/mail_conf.c, mail_params.c, the "-o" loop of
// master/*_server.c): main.cf, then service_name and process_name, then the
// master.cf "-o name=value" settings of its service (later ones win), then
// the host-computed defaults (mydomain from myhostname, mynetworks from
// mynetworks_style and inet_interfaces) worked out against that
// configuration rather than against main.cf alone. The one place that
// applies a service's overrides; reads main.cf, throws ConfigError with
// Postfix's fatal text.
import { Config } from './config.js';
import { tryComputedDefault, type ConfigView } from './computed.js';
import { getParam } from './registry.js';

/** Defaults that depend on the host and on other settings. */
const HOST_COMPUTED = ['mydomain', 'mynetworks'];

/** The settings a daemon of service runs with on top of main.cf, in the order they apply. */
export function serviceOverrides(service: string, processName: string, options: ReadonlyArray<[string, string]>): Array<[string, string]> {
  return [['service_name', service], ['process_name', processName], ...options];
}

/** The Config of one daemon process of a master.cf service (options: its -o settings, in order). */
export function loadServiceConfig(configDir: string, service: string, processName: string, options: ReadonlyArray<[string, string]>): Config {
  const overrides = serviceOverrides(service, processName, options);
  const config = Config.load(configDir, overrides);
  const view: ConfigView = {
    mainValue: (name) => (config.isSet(name) ? config.get(name) : undefined),
    expandedDefault: (name) => config.expand(getParam(name)?.defaultValue() ?? ''),
  };
  const computed: Array<[string, string]> = [];
  for (const name of HOST_COMPUTED) {
    if (config.isSet(name)) continue;
    const r = tryComputedDefault(name, view);
    if (r.ok) computed.push([name, r.value]);
  }
  return computed.length ? Config.load(configDir, [...computed, ...overrides]) : config;
}
