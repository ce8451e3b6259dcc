// Whether Web Push can work here, and what to do when it cannot yet. On iPhone and iPad, push
// exists only for a web app added to the Home Screen (iOS 16.4 and later): in a Safari tab a
// notifications switch would be dead, so the app shows how to add it to the Home Screen instead.
// Other browsers (Android, desktop) may offer their own install prompt (`beforeinstallprompt`);
// the app keeps it for an "Install app" button rather than letting the browser show it unasked.
//
// One guide element (#install in index.html) is moved into the slot of the screen on show: the
// register screen (on iOS the Home Screen app has storage of its own, so installing before adding
// the mailbox saves adding it twice) and Settings, where it stands in for the notifications card.

import { byId } from './dom.js';
import { t } from './i18n.js';

/** What the notifications card can offer on this device. */
export type PushAvailability =
  | { kind: 'available' }
  /** iOS/iPadOS in a browser tab: push needs the app on the Home Screen. */
  | { kind: 'install-first'; iosVersion: IosVersion | undefined }
  /** iOS/iPadOS on the Home Screen but without push: older than 16.4. */
  | { kind: 'update-ios'; iosVersion: IosVersion | undefined }
  /** Any other browser without Web Push: live updates only while the app is open. */
  | { kind: 'unsupported' };

export interface IosVersion {
  major: number;
  minor: number;
}

/** The facts detection needs, gathered in one place so the rules below read as rules. */
interface Environment {
  userAgent: string;
  maxTouchPoints: number;
  standalone: boolean;
  hasPush: boolean;
}

const FIRST_IOS_WITH_PUSH: IosVersion = { major: 16, minor: 4 };

/** The Home Screen app (iOS sets navigator.standalone) or any installed app window. */
export function runningInstalled(): boolean {
  const nav = navigator as Navigator & { standalone?: boolean };
  return nav.standalone === true || matchMedia('(display-mode: standalone)').matches;
}

function environment(): Environment {
  return {
    userAgent: navigator.userAgent,
    maxTouchPoints: navigator.maxTouchPoints ?? 0,
    standalone: runningInstalled(),
    hasPush: 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window,
  };
}

/** iPadOS 13+ asks for desktop sites and reports itself as a Mac: a Mac with a touch screen is an iPad. */
function isIos(env: Environment): boolean {
  return /\b(iPhone|iPad|iPod)\b/.test(env.userAgent) || (/\bMacintosh\b/.test(env.userAgent) && env.maxTouchPoints > 1);
}

/**
 * The system version from "CPU iPhone OS 16_3 like Mac OS X"; an iPad in desktop mode names only
 * Safari's "Version/16.3", which has followed the system's number since iOS 7.
 */
export function iosVersion(userAgent: string): IosVersion | undefined {
  const match = /\bOS (\d+)[_.](\d+)\b[^)]*like Mac OS X/.exec(userAgent) ?? /\bVersion\/(\d+)\.(\d+)/.exec(userAgent);
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : undefined;
}

function olderThan(version: IosVersion, than: IosVersion): boolean {
  return version.major < than.major || (version.major === than.major && version.minor < than.minor);
}

export function pushAvailability(env: Environment = environment()): PushAvailability {
  if (isIos(env)) {
    const version = iosVersion(env.userAgent);
    if (!env.standalone) return { kind: 'install-first', iosVersion: version };
    if (!env.hasPush) return { kind: 'update-ios', iosVersion: version };
    return { kind: 'available' };
  }
  return env.hasPush ? { kind: 'available' } : { kind: 'unsupported' };
}

/** "16.3" for the person's own version, in the sentence that says it is too old. */
export function tooOldIosText(version: IosVersion | undefined): string | undefined {
  if (version && !olderThan(version, FIRST_IOS_WITH_PUSH)) return undefined;
  const needs = t('install.needsIos164');
  return version ? `${needs} ${t('install.iosVersion', { version: `${version.major}.${version.minor}` })}` : needs;
}

/** Chromium's install prompt event (not in TypeScript's DOM types). */
interface BeforeInstallPromptEvent extends Event {
  prompt(): Promise<unknown>;
  readonly userChoice?: Promise<{ outcome: 'accepted' | 'dismissed' }>;
}

export type InstallSlot = 'register' | 'settings';

export class InstallGuide {
  private readonly root = byId('install');
  private readonly guide = byId('install-guide');
  private readonly tooOld = byId('install-ios-old');
  private readonly offer = byId('install-offer');
  private readonly installButton = byId<HTMLButtonElement>('install-app');
  /** A line in the mail feed pointing to the guide: the feed is where an iPhone user stays. */
  private readonly feedHint = byId('install-hint');
  /** The browser's prompt, kept for the button; usable once. */
  private deferredPrompt: BeforeInstallPromptEvent | undefined;
  private slot: InstallSlot | undefined;
  private pushEnabledOnGateway = true;

  constructor() {
    addEventListener('beforeinstallprompt', (event) => {
      event.preventDefault(); // no mini-infobar: the person asks with the button
      this.deferredPrompt = event as BeforeInstallPromptEvent;
      this.render();
    });
    addEventListener('appinstalled', () => {
      this.deferredPrompt = undefined;
      this.render();
    });
    // Opened as the installed app after all (or left it): the guide and the button follow.
    matchMedia('(display-mode: standalone)').addEventListener('change', () => this.render());
    this.installButton.addEventListener('click', () => void this.install());
  }

  /** Puts the guide into `slot` (or takes it off screen for other views, where the feed's hint may show). */
  show(slot: InstallSlot | undefined, pushEnabledOnGateway: boolean): void {
    this.slot = slot;
    this.pushEnabledOnGateway = pushEnabledOnGateway;
    if (slot) byId(`install-slot-${slot}`).append(this.root);
    this.render();
  }

  /** Draws what depends on the device and the language (static text comes from applyStaticText). */
  render(): void {
    const availability = pushAvailability();
    const guideNeeded = availability.kind === 'install-first' && this.pushEnabledOnGateway;
    this.guide.hidden = !guideNeeded;
    this.feedHint.hidden = !guideNeeded;
    const oldText = availability.kind === 'install-first' ? tooOldIosText(availability.iosVersion) : undefined;
    this.tooOld.textContent = oldText ?? '';
    this.tooOld.hidden = oldText === undefined;
    this.offer.hidden = !this.deferredPrompt || runningInstalled();
    this.root.hidden = this.slot === undefined || (this.guide.hidden && this.offer.hidden);
  }

  private async install(): Promise<void> {
    const prompt = this.deferredPrompt;
    if (!prompt) return;
    // A prompt can be shown once; the browser fires a new event if it may ask again.
    this.deferredPrompt = undefined;
    this.render();
    try {
      await prompt.prompt();
      await prompt.userChoice;
    } catch {
      // The browser refused to show it (e.g. already shown): nothing the person can act on.
    }
  }
}
