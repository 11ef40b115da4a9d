// postconf's parameter table (Postfix's postconf_builtin.c registration,
// postconf_service.c, postconf_user.c, postconf_lookup.c, postconf_unused.c):
// which names are known in this run and as what, where each value comes
// from, $name expansion the way `postconf -x` does it, and the "unused" and
// "undefined" warnings.
import { allParams, getParam, LEGACY_PARAMS } from '../../config/registry.js';
import { computedDefault, isComputed, type ConfigView } from '../../config/computed.js';
import { serviceParams } from '../../config/service-params.js';
import { macExpand, MAC_EXP_FLAG_RECURSE, MAC_EXP_FLAG_SCAN, MAC_PARSE_ERROR } from '../../config/expand.js';
import { assignMasterParams } from './master.js';
import { msgFatal, msgWarn } from '../../util/msg.js';
import { flushOut } from '../../util/output.js';
import {
  PCF_PARAM_FLAG_BUILTIN,
  PCF_PARAM_FLAG_DBMS,
  PCF_PARAM_FLAG_LEGACY,
  PCF_PARAM_FLAG_RAW,
  PCF_PARAM_FLAG_READONLY,
  PCF_PARAM_FLAG_SERVICE,
  PCF_PARAM_FLAG_USER,
  PCF_SHOW_DEFS,
  PCF_SHOW_NONDEF,
  type ParamNode,
} from './context.js';
import { registerDbmsParameters } from './dbms.js';

export const PCF_PARAM_MASK_CLASS = PCF_PARAM_FLAG_BUILTIN | PCF_PARAM_FLAG_SERVICE | PCF_PARAM_FLAG_USER;

/** One master.cf entry as the parameter logic sees it (Postfix's PCF_MASTER_ENT). */
export interface MasterScope {
  /** "service/type". */
  nameSpace: string;
  /** The normalized fields: 8 fixed ones, then the command's arguments. */
  argv: string[];
  /** process_name and service_name for this entry. */
  roParams: Map<string, string>;
  /** The entry's -o name=value settings, when it has any. */
  allParams?: Map<string, string>;
  /** Names made valid in this entry's name space. */
  validNames?: Map<string, ParamNode>;
}

const USER_NODE_DEFAULT = () => '';

export class ParamState {
  readonly table = new Map<string, ParamNode>();
  readonly restClasses = new Set<string>();
  masters: MasterScope[] = [];
  /** Bits that make the defaults follow `postconf -d` rules (PCF_SHOW_DEFS) or not. */
  cmdMode = 0;

  constructor(
    readonly configDir: string,
    /** main.cf settings, name -> raw value (Postfix's CONFIG_DICT). */
    readonly main: Map<string, string>,
  ) {}

  /** Built-in, legacy and ad-hoc names (pcf_register_builtin_parameters). */
  registerBuiltin(procname: string, pid: number): void {
    const view = this.configView();
    for (const def of allParams()) {
      const name = def.name;
      const flags = PCF_PARAM_FLAG_BUILTIN | (def.flags & (PCF_PARAM_FLAG_RAW | PCF_PARAM_FLAG_READONLY));
      const defaultValue = isComputed(name) ? memo(() => computedDefault(name, view)) : () => def.defaultValue();
      this.table.set(name, { flags, defaultValue });
    }
    for (const name of LEGACY_PARAMS) this.table.set(name, { flags: PCF_PARAM_FLAG_LEGACY, defaultValue: () => '' });
    const adhoc: Array<[string, string]> = [
      ['process_name', procname],
      ['service_name', ''],
      ['process_id', String(pid)],
    ];
    for (const [name, value] of adhoc) {
      this.table.set(name, { flags: PCF_PARAM_FLAG_BUILTIN | PCF_PARAM_FLAG_READONLY, defaultValue: () => value });
    }
  }

  /** Per-service names for delivery agents and spawn (pcf_register_service_parameters). */
  registerService(): void {
    for (const m of this.masters) {
      for (const sp of serviceParams(m.argv[0]!, m.argv[7]!)) {
        const node = this.table.get(sp.name);
        if (node) node.flags = (node.flags & ~PCF_PARAM_MASK_CLASS) | PCF_PARAM_FLAG_SERVICE;
        else this.table.set(sp.name, { flags: PCF_PARAM_FLAG_SERVICE, defaultValue: () => sp.defaultValue });
      }
    }
  }

  /** The value in effect (pcf_lookup_parameter_value); undefined when there is none to show. */
  lookupValue(mode: number, name: string, local?: MasterScope, node?: ParamNode): string | undefined {
    let value: string | undefined;
    if ((mode & PCF_SHOW_DEFS) === 0) {
      if (local) value = local.roParams.get(name) ?? local.allParams?.get(name);
      if (value === undefined) value = this.main.get(name);
      if (value !== undefined || mode & PCF_SHOW_NONDEF) return value;
    }
    const n = node ?? this.table.get(name);
    return n ? n.defaultValue() : undefined;
  }

  /** Expands $name in value as `postconf -x` does (pcf_expand_parameter_value). */
  expand(mode: number, value: string, local?: MasterScope): string {
    const evalMode = mode & ~PCF_SHOW_NONDEF;
    const r = macExpand(value, (name) => this.lookupValue(evalMode, name, local), MAC_EXP_FLAG_RECURSE, msgWarn);
    if (r.status & MAC_PARSE_ERROR) msgFatal('macro processing error');
    return r.result;
  }

  /** What the host-computed defaults may consult (mail_conf_lookup_eval and friends). */
  private configView(): ConfigView {
    return {
      mainValue: (name) => {
        const raw = this.main.get(name);
        if (raw === undefined) return undefined;
        return macExpand(raw, (n) => this.main.get(n), MAC_EXP_FLAG_RECURSE, msgWarn).result;
      },
      expandedDefault: (name) => this.expand(this.cmdMode, getParam(name)?.defaultValue() ?? ''),
    };
  }

  /** User-defined names: $name references, restriction classes, -o settings (pcf_register_user_parameters). */
  registerUser(): void {
    assignMasterParams(this.masters);
    for (const m of this.masters) if (m.allParams) this.scanNamespace(m.allParams, m);
    this.scanDefaults();
    this.scanNamespace(this.main, undefined);
  }

  private flagUser(name: string, paramClass: number, local: MasterScope | undefined): void {
    const source = local ? 'master.cf' : 'main.cf';
    let userSupplied = false;
    const userNode = (): ParamNode => ({ flags: paramClass, defaultValue: USER_NODE_DEFAULT });
    if (local && local.allParams?.has(name)) {
      userSupplied = true;
      if (!local.validNames!.has(name)) local.validNames!.set(name, userNode());
    } else if (this.main.has(name)) {
      userSupplied = true;
      if (!this.table.has(name)) this.table.set(name, userNode());
    }
    if (!local) {
      for (const m of this.masters) {
        if (m.allParams?.has(name)) {
          userSupplied = true;
          if (!m.validNames!.has(name)) m.validNames!.set(name, userNode());
        }
      }
    }
    if (!userSupplied && (paramClass & PCF_PARAM_FLAG_DBMS) === 0 && !this.table.has(name)) {
      msgWarn(`${this.configDir}/${source}: undefined parameter: ${name}`);
    }
  }

  private scanValue(value: string, local: MasterScope | undefined): void {
    macExpand(
      value,
      (name) => {
        this.flagUser(name, PCF_PARAM_FLAG_USER, local);
        return undefined;
      },
      MAC_EXP_FLAG_SCAN,
      msgWarn,
    );
  }

  /** Lookup of a name in a name space with recursive expansion against that same space. */
  private lookupEval(space: Map<string, string>, name: string): string | undefined {
    const v = space.get(name);
    if (v === undefined) return undefined;
    const r = macExpand(v, (n) => space.get(n), MAC_EXP_FLAG_RECURSE, msgWarn);
    if (r.status & MAC_PARSE_ERROR) msgFatal(`dictionary ${space === this.main ? 'mail_dict' : 'master.cf'}: macro processing error`);
    return r.result;
  }

  private scanNamespace(space: Map<string, string>, local: MasterScope | undefined): void {
    const classes = this.lookupEval(space, 'smtpd_restriction_classes');
    if (classes !== undefined) {
      for (const name of classes.split(/[, \t\r\n]+/).filter((w) => w !== '')) {
        if (!local) this.restClasses.add(name);
        this.flagUser(name, PCF_PARAM_FLAG_USER, local);
      }
    }
    const source = local ? 'master.cf' : 'main.cf';
    for (const [name, value] of [...space]) {
      if (local && !local.validNames!.has(name) && this.restClasses.has(name)) {
        local.validNames!.set(name, { flags: PCF_PARAM_FLAG_USER, defaultValue: USER_NODE_DEFAULT });
      }
      const node = this.table.get(name);
      if (node) {
        if (node.flags & PCF_PARAM_FLAG_READONLY) {
          msgWarn(`${this.configDir}/${source}: read-only parameter assignment: ${name}=${value}`);
          space.delete(name);
          continue;
        }
        if (node.flags & PCF_PARAM_FLAG_LEGACY) node.flags = (node.flags & ~PCF_PARAM_MASK_CLASS) | PCF_PARAM_FLAG_USER;
        if (node.flags & PCF_PARAM_FLAG_RAW) continue;
      }
      this.scanValue(value, local);
      if (node && node.flags & (PCF_PARAM_FLAG_BUILTIN | PCF_PARAM_FLAG_SERVICE)) {
        registerDbmsParameters(this.expand(0x40 /* PCF_SHOW_EVAL */, value, local), (n, c, l) => this.flagUser(n, c, l), local);
      }
    }
  }

  /**
   * Defaults name other parameters (often obsolete ones kept for
   * compatibility); a main.cf setting of such a name is in use. Only names
   * outside the table can change anything, so a default is parsed in full
   * only when it mentions one.
   */
  private scanDefaults(): void {
    for (const [name, node] of [...this.table]) {
      // Computed defaults are worked out here as Postfix does, so a bad
      // setting they depend on (say compatibility_level) fails the same way.
      if (node.flags & PCF_PARAM_FLAG_RAW || this.main.has(name)) continue;
      const value = node.defaultValue();
      if (!value.includes('$')) continue;
      for (const m of value.matchAll(/\$[{(]?\s*([A-Za-z0-9_]+)/g)) {
        if (!this.table.has(m[1]!)) {
          this.scanValue(value, undefined);
          break;
        }
      }
    }
  }

  /** "unused parameter" warnings for main.cf (pcf_flag_unused_main_parameters). */
  flagUnusedMain(): void {
    this.flagUnused(this.main, 'main.cf', undefined);
  }

  /** "unused parameter" warnings for master.cf -o settings. */
  flagUnusedMaster(): void {
    for (const m of this.masters) if (m.allParams) this.flagUnused(m.allParams, 'master.cf', m);
  }

  private flagUnused(space: Map<string, string>, file: string, local: MasterScope | undefined): void {
    for (const [name, value] of space) {
      if (!this.table.has(name) && (!local || !local.validNames!.has(name))) {
        flushOut();
        msgWarn(`${this.configDir}/${file}: unused parameter: ${name}=${value}`);
      }
    }
  }
}

function memo(fn: () => string): () => string {
  let cached: string | undefined;
  return () => (cached ??= fn());
}
