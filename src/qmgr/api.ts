// The queue manager as other parts see it: the types and classes a
// program wrapper needs to run qmgr (its wake-up requests arrive through
// the master's trigger skeleton; senders use src/queue/mail-trigger.ts).
export { Qmgr, type QmgrClock, type QmgrCounters, type QmgrOptions, type RecipientResolver, realClock } from './qmgr.js';
export type { BounceService, NoticeRequest, StatusOps } from './status.js';
export { SocketAgentClient, type AgentClient } from './agent.js';
export { qmgrParams } from './params.js';
