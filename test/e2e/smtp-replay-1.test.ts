// Part 1 of the smtp fixture replay (see ./smtp-replay-shard.ts).
import { replayShard } from './smtp-replay-shard.js';

replayShard(0, 3, import.meta.url);
