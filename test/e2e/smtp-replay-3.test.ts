// Part 3 of the smtp fixture replay (see ./smtp-replay-shard.ts).
import { replayShard } from './smtp-replay-shard.js';

replayShard(2, 3, import.meta.url);
