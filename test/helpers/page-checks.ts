// What every browser test of the web app checks the same way: that the page throws nothing, breaks
// no CSP rule and fetches nothing from outside the gateway; and screenshots, kept as test artifacts
// and copied into docs/screenshots when UPDATE_SCREENSHOTS is set.

import { copyFile, mkdir } from 'node:fs/promises';
import type { Page, Request } from 'playwright-core';

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

const ARTIFACTS = new URL('../../../test-artifacts/screenshots/', import.meta.url);
const DOCS_SCREENSHOTS = new URL('../../../docs/screenshots/', import.meta.url);

/**
 * Collects into `problems` what the app must never do: an uncaught error, a console error (a CSP
 * violation is reported there), and, given `origin`, a request to anywhere but that origin (the
 * app must work on a closed network). Refused requests and dropped sockets are expected in tests
 * and left out. `alsoVisits`: origins the page goes to on purpose (an OAuth provider's sign-in
 * pages); going there is no problem, and what those pages fetch is not the app's doing.
 */
export function watchPageProblems(page: Page, problems: string[], origin?: string, options: { alsoVisits?: readonly string[] } = {}): void {
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  if (origin !== undefined) {
    const allowed = [origin, ...(options.alsoVisits ?? [])].map((o) => `${o}/`);
    page.on('request', (request) => {
      const url = request.url();
      if (url.startsWith('data:') || allowed.some((prefix) => url.startsWith(prefix))) return;
      if (options.alsoVisits && !requestFrameUrl(request).startsWith(`${origin}/`)) return;
      problems.push(`external request: ${url}`);
    });
  }
  page.on('console', (message) => {
    if (message.type() === 'error' && !/Failed to load resource|WebSocket connection/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
}

/** The page a request comes from; the service worker's requests have none (they are the app's). */
function requestFrameUrl(request: Request): string {
  try {
    return request.frame().url();
  } catch {
    return request.serviceWorker()?.url() ?? '';
  }
}

/** Saves `<name>.png` at the page's current size (whole page unless `fullPage: false`). */
export async function saveScreenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = new URL(`${name}.png`, ARTIFACTS);
  await page.screenshot({ path: file.pathname, fullPage: options.fullPage ?? true });
  if (process.env.UPDATE_SCREENSHOTS) {
    await mkdir(DOCS_SCREENSHOTS, { recursive: true });
    await copyFile(file, new URL(`${name}.png`, DOCS_SCREENSHOTS));
  }
}

/** `<name>-desktop.png` and `<name>-phone.png` (whole page), leaving the page at desktop size. */
export async function saveDesktopAndPhoneScreenshots(page: Page, name: string, phone = PHONE): Promise<void> {
  for (const [size, viewport] of [['desktop', DESKTOP], ['phone', phone]] as const) {
    await page.setViewportSize(viewport);
    await saveScreenshot(page, `${name}-${size}`, { fullPage: size === 'phone' });
  }
  await page.setViewportSize(DESKTOP);
}
