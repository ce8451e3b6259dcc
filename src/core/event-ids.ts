/** Compares two event ids ("<ms>-<seq>", as the log assigns them) in log order. */
export function compareEventIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs - bMs || aSeq - bSeq;
}

export const EVENT_ID_PATTERN = /^\d{1,20}-\d{1,20}$/;
