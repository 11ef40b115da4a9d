// Part 2 of the smtp fixture replay (see ./smtp-replay-shard.ts).
import { replayShard } from './smtp-replay-shard.js';

replayShard(1, 3, import.meta.url);
