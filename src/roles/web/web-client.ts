// The browser side of the web role: security headers for every response, and the installable PWA
// (built into dist/pwa by `npm run build`) served from `/`, with nothing loaded from elsewhere, so
// it works on a closed network.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';

/** dist/src/roles/web/ → dist/pwa/ (the same layout in the repository build and in the image). */
export const PWA_ROOT = fileURLToPath(new URL('../../../pwa/', import.meta.url));

/**
 * Helmet's headers with a strict Content-Security-Policy: scripts, styles, workers and the
 * manifest only from this origin, no inline script anywhere. `connect-src 'self'` also admits the
 * same-origin WebSocket (CSP 3). No `upgrade-insecure-requests`: a gateway on a closed network
 * may well be served over plain http, where that directive would break every request.
 */
export async function registerSecurityHeaders(app: FastifyInstance): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        scriptSrcAttr: ["'none'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        manifestSrc: ["'self'"],
        workerSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    // Browsers only honour HSTS over https (behind a TLS proxy). Keep it to this host: the gateway
    // cannot know what else runs on sibling subdomains.
    strictTransportSecurity: { maxAge: 15_552_000, includeSubDomains: false },
  });
}

/**
 * /docs only: Swagger UI injects <style> elements, so its pages may use inline styles. Scripts
 * stay as strict as everywhere else.
 */
export function docsContentSecurityPolicy(header: string): string {
  return header.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'");
}

/** Serves the PWA's files, hidden from the OpenAPI document. Skipped (with a warning) when not built. */
export async function registerPwa(app: FastifyInstance, root = PWA_ROOT): Promise<void> {
  if (!existsSync(`${root}/index.html`)) {
    app.log.warn({ root }, 'the web app is not built (npm run build); / serves nothing');
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    // One route per built file (found at start-up) instead of a catch-all, so unknown paths keep
    // the API's JSON 404 and nothing outside the build can ever be served.
    wildcard: false,
    index: ['index.html'],
    schemaHide: true,
    decorateReply: false,
    // Revalidate every time (ETag): the service worker does the offline caching, and a stale
    // sw.js or index.html would keep an old app alive.
    cacheControl: true,
    maxAge: 0,
    setHeaders(reply, filePath) {
      // The worker controls the whole origin; browsers also cap its HTTP cache, but say it plainly.
      if (filePath.endsWith('/sw.js')) reply.header('cache-control', 'no-cache');
    },
  });
}
