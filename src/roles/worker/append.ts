import type { AppendRequest, AppendResult, EventLog } from '../../core/ports.js';
import type { PushHandoff } from '../../push/push-handoff.js';

/**
 * The one way the worker writes to the log: append, then hand the pushable events to the push
 * queue, only when the append succeeded. The outbox records them as pending in the append itself,
 * so a worker killed between the two steps leaves them to the account's next holder.
 */
export async function appendThenPush(
  eventLog: EventLog,
  pushes: PushHandoff | undefined,
  request: Omit<AppendRequest, 'pushable'>,
): Promise<AppendResult> {
  const prepared = pushes?.prepare(request.lease.userId, request.events);
  const result = await eventLog.append(prepared ? { ...request, pushable: prepared.pushable } : request);
  if (result.ok) prepared?.appended(request.lease, result.ids);
  return result;
}
