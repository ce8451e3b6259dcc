// Event ids are part of the wire protocol (src/protocol/event-ids.ts, shared with the web app);
// re-exported here for the server's modules.

export { EVENT_ID_PATTERN, MAX_EVENT_ID, canonicalEventId, compareEventIds } from '../protocol/event-ids.js';
