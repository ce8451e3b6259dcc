// VAPID (RFC 8292) authorization for push services. web-push signs a fresh ES256 JWT on every
// call, which costs about as much as encrypting the payload; a JWT is valid for up to 24 hours
// for one push-service origin, so we sign one per origin and reuse it for most of its life.

import webpush from 'web-push';

const LIFETIME_SECONDS = 12 * 3600;
/** Re-sign when less than this is left, so a JWT never expires in flight. */
const RENEW_BEFORE_SECONDS = 3600;

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  subject: string;
}

export class VapidSigner {
  private readonly cache = new Map<string, { header: string; expiresAt: number }>();

  constructor(private readonly keys: VapidKeys, private readonly now: () => number = () => Date.now()) {}

  /** The Authorization header value for a push endpoint's origin. */
  authorization(origin: string): string {
    const nowSeconds = Math.floor(this.now() / 1000);
    const cached = this.cache.get(origin);
    if (cached && cached.expiresAt - nowSeconds > RENEW_BEFORE_SECONDS) return cached.header;
    const expiresAt = nowSeconds + LIFETIME_SECONDS;
    const headers = webpush.getVapidHeaders(origin, this.keys.subject, this.keys.publicKey, this.keys.privateKey, 'aes128gcm', expiresAt);
    const header = String(headers.Authorization);
    this.cache.set(origin, { header, expiresAt });
    return header;
  }
}

export function generateVapidKeys(): { publicKey: string; privateKey: string } {
  return webpush.generateVAPIDKeys();
}
