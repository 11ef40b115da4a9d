// The process the master's tests fork in the place of bin/postfix's worker
// role: the stand-in programs of ./test-programs.ts registered, then the
// ordinary worker skeleton.
import './test-programs.js';
import { runWorker } from '../../src/master/worker.js';

await runWorker();
