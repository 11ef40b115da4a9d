// The master's process model under attack and faults (issue 12, points 2,
// 5, 6 and 8), through the real daemon (bin/postfix start on a copy of
// fixtures/smtpd/01-defaults): each scenario of ./hardening-scenarios.ts
// must give what Postfix 3.7.11 gave, as recorded in
// fixtures/hardening-master/ by tools/record-hardening-master.ts. Starts
// daemons: outside a private network namespace this file re-runs itself
// under `unshare -n` (root only).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { namespaceReady, whyNoNamespace } from '../lib/netns.js';
import { testInNamespace } from '../lib/netns-test.js';
import { fixturePath, SCENARIOS, type ScenarioName } from './hardening-scenarios.js';

function recorded(name: ScenarioName): unknown {
  return JSON.parse(fs.readFileSync(fixturePath(name), 'utf8')) as unknown;
}

const TITLES: Record<ScenarioName, string> = {
  'dead-clients': 'clients that closed before they got a slot hold none: the next client is greeted at once (point 2)',
  'slow-clients': 'process_limit is for the service: 100 of 150 slow clients are greeted, one more when one leaves (point 5)',
  'killed-worker': 'a killed worker cuts only its own sessions and leaves no unfinished queue file (point 6)',
  'bad-reload': 'postfix reload with a bad main.cf: status 1, processes kept; a process that starts logs Postfix\'s fatal and throttling lines (point 8)',
};

if (!namespaceReady()) {
  testInNamespace('master hardening scenarios (in a private network namespace)', import.meta.url, whyNoNamespace);
} else {
  for (const name of Object.keys(SCENARIOS) as ScenarioName[]) {
    test(TITLES[name], async () => {
      const ours = await SCENARIOS[name]('ours');
      assert.deepEqual(ours, recorded(name));
    });
  }
}
