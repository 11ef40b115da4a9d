// The postqueue command (Postfix's postqueue/postqueue.c): queue listing
// (-p, -j) and flush requests (-f, -s, -i). The work is in ./queue-postqueue.ts.
import { runMain } from '../util/main.js';
import { postqueueMain } from './queue-postqueue.js';

void runMain('postqueue', postqueueMain);
