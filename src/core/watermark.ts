import type { Watermark } from './ports.js';

/** How much of each user's event log is kept. */
export interface RetentionPolicy {
  maxEvents: number;
  maxAgeMs: number;
}

export function formatWatermark(w: Watermark): string {
  return `${w.uidValidity}:${w.lastUid}`;
}

export function parseWatermark(value: string | null | undefined): Watermark | undefined {
  if (!value) return undefined;
  const colon = value.lastIndexOf(':');
  const lastUid = Number(value.slice(colon + 1));
  if (colon <= 0 || !Number.isSafeInteger(lastUid)) return undefined;
  return { uidValidity: value.slice(0, colon), lastUid };
}

