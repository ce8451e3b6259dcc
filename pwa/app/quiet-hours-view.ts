// This device's quiet hours in Settings: a daily window on the device's own clock, the senders who
// still ring, and "pause for an hour / until tomorrow morning" with resume. The gateway decides
// each push with them (src/protocol/quiet-hours.ts, shared with this page), so they work while the
// app is closed; the time zone sent is the browser's, so the window follows the phone when it travels.

import { Api, describeError, type QuietHours } from './api.js';
import { byId, say } from './dom.js';
import { shortTime, t } from './i18n.js';
import { QUIET_HOURS_MAX_VIPS, pauseForAnHour, pauseUntilTomorrow } from '../../src/protocol/quiet-hours.js';

const browserTimeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

export class QuietHoursView {
  private readonly enabled = byId<HTMLInputElement>('quiet-enabled');
  private readonly start = byId<HTMLInputElement>('quiet-start');
  private readonly end = byId<HTMLInputElement>('quiet-end');
  private readonly vips = byId<HTMLTextAreaElement>('quiet-vips');
  private readonly zone = byId('quiet-zone');
  private readonly vipsHint = byId('quiet-vips-hint');
  private readonly message = byId('quiet-message');
  private readonly pauseState = byId('quiet-pause-state');
  private readonly resume = byId<HTMLButtonElement>('quiet-resume');
  private readonly buttons: HTMLButtonElement[];
  /** As the gateway last answered; pausing and resuming change only the pause of these. */
  private saved: QuietHours | undefined;

  constructor(private readonly api: Api) {
    const save = byId<HTMLButtonElement>('quiet-save');
    const hour = byId<HTMLButtonElement>('quiet-pause-hour');
    const tomorrow = byId<HTMLButtonElement>('quiet-pause-tomorrow');
    this.buttons = [save, hour, tomorrow, this.resume];
    save.addEventListener('click', () => void this.saveWindow());
    hour.addEventListener('click', () => void this.setPause(pauseForAnHour(Date.now())));
    tomorrow.addEventListener('click', () => void this.setPause(pauseUntilTomorrow(browserTimeZone(), Date.now())));
    this.resume.addEventListener('click', () => void this.setPause(null));
    this.enabled.addEventListener('change', () => this.showWindowState());
  }

  /** Reads this device's quiet hours from the gateway and fills the form. */
  async load(): Promise<void> {
    say(this.message, undefined);
    try {
      this.saved = await this.api.quietHours();
      this.fill(this.saved);
    } catch (error) {
      say(this.message, describeError(error));
    }
  }

  /** Texts that depend on the language or the clock (called again when the language changes). */
  render(): void {
    this.zone.textContent = t('quiet.timeZone', { zone: browserTimeZone() });
    this.vipsHint.textContent = t('quiet.vipsHint', { count: QUIET_HOURS_MAX_VIPS });
    const paused = this.saved?.pausedUntil && Date.parse(this.saved.pausedUntil) > Date.now() ? this.saved.pausedUntil : undefined;
    this.pauseState.textContent = paused ? t('quiet.pausedUntil', { time: shortTime(paused) }) : t('quiet.notPaused');
    this.resume.hidden = !paused;
  }

  private fill(quiet: QuietHours): void {
    this.enabled.checked = quiet.enabled;
    this.start.value = quiet.start;
    this.end.value = quiet.end;
    this.vips.value = quiet.vips.join('\n');
    this.showWindowState();
    this.render();
  }

  private showWindowState(): void {
    this.start.disabled = !this.enabled.checked;
    this.end.disabled = !this.enabled.checked;
  }

  private async saveWindow(): Promise<void> {
    const vips = this.vips.value.split(/[\s,;]+/).map((line) => line.trim()).filter(Boolean);
    if (vips.length > QUIET_HOURS_MAX_VIPS) return say(this.message, t('quiet.tooManyVips', { count: QUIET_HOURS_MAX_VIPS }));
    const base = this.saved ?? { pausedUntil: null };
    await this.store({
      enabled: this.enabled.checked, start: this.start.value, end: this.end.value, timeZone: browserTimeZone(), vips,
      pausedUntil: base.pausedUntil,
    }, t('quiet.saved'));
  }

  private async setPause(pausedUntil: string | null): Promise<void> {
    if (!this.saved) await this.load();
    if (!this.saved) return;
    await this.store({ ...this.saved, timeZone: browserTimeZone(), pausedUntil }, undefined);
  }

  private async store(quiet: QuietHours, done: string | undefined): Promise<void> {
    say(this.message, undefined);
    this.buttons.forEach((button) => (button.disabled = true));
    try {
      this.saved = await this.api.setQuietHours(quiet);
      this.fill(this.saved);
      if (done) say(this.message, done, 'ok');
    } catch (error) {
      say(this.message, describeError(error));
    } finally {
      this.buttons.forEach((button) => (button.disabled = false));
    }
  }
}
