// The page's language: the user's choice in Settings (stored on this device), or else the first of
// the browser's preferred languages we have a catalog for. Every view takes its text from t(), and
// index.html names catalog keys in data-i18n attributes, filled in here; `<html lang>` follows, so
// screen readers pronounce the text in the right language. Dates, times and counts go through Intl
// in the same locale.

import {
  formatNumber, isLocale, negotiateLocale, translate,
  type Locale, type MessageKey, type ParamsArg, type PlainKey,
} from '../../src/protocol/i18n/translate.js';

export type { Locale, MessageKey, PlainKey } from '../../src/protocol/i18n/translate.js';
/** `auto` follows the browser's languages. */
export type LanguageChoice = 'auto' | Locale;

const CHOICE_KEY = 'mailpush.language';
const listeners = new Set<() => void>();

function storedChoice(): LanguageChoice {
  try {
    const value = localStorage.getItem(CHOICE_KEY);
    return isLocale(value) ? value : 'auto';
  } catch {
    return 'auto'; // storage disabled: follow the browser
  }
}

function resolve(choice: LanguageChoice): Locale {
  return choice === 'auto' ? negotiateLocale(navigator.languages?.length ? navigator.languages : [navigator.language]) : choice;
}

let choice = storedChoice();
let current = resolve(choice);

export function locale(): Locale {
  return current;
}

export function languageChoice(): LanguageChoice {
  return choice;
}

/** Kept on this device across sign-outs: it is the person's language, not the account's. */
export function setLanguageChoice(next: LanguageChoice): void {
  choice = next;
  try {
    if (next === 'auto') localStorage.removeItem(CHOICE_KEY);
    else localStorage.setItem(CHOICE_KEY, next);
  } catch {
    // storage disabled: the choice lasts for this visit
  }
  current = resolve(next);
  applyStaticText();
  listeners.forEach((listener) => listener());
}

// The browser's languages changed while the app is open: follow them, unless one was chosen here.
addEventListener('languagechange', () => {
  if (choice === 'auto' && resolve('auto') !== current) setLanguageChoice('auto');
});

/** Called after a change of language, to redraw what the views rendered. */
export function onLanguageChange(listener: () => void): void {
  listeners.add(listener);
}

export function t<K extends MessageKey>(key: K, ...params: ParamsArg<K>): string {
  return translate(current, key, ...params);
}

/**
 * Fills index.html's text from the catalog: `data-i18n="key"` sets the element's text,
 * `data-i18n-attr="attribute:key attribute:key"` sets attributes (labels, the description).
 */
export function applyStaticText(root: ParentNode = document): void {
  document.documentElement.lang = current;
  root.querySelectorAll<HTMLElement>('[data-i18n]').forEach((node) => {
    node.textContent = translate(current, node.dataset.i18n as PlainKey);
  });
  root.querySelectorAll<HTMLElement>('[data-i18n-attr]').forEach((node) => {
    for (const pair of (node.dataset.i18nAttr ?? '').split(/\s+/).filter(Boolean)) {
      const [attribute, key] = pair.split(':');
      if (attribute && key) node.setAttribute(attribute, translate(current, key as PlainKey));
    }
  });
}

export function formatCount(value: number): string {
  return formatNumber(current, value);
}

const formatters = new Map<string, Intl.DateTimeFormat | Intl.RelativeTimeFormat>();
function formatter<T extends Intl.DateTimeFormat | Intl.RelativeTimeFormat>(name: string, make: (locale: Locale) => T): T {
  const key = `${current}:${name}`;
  let value = formatters.get(key);
  if (!value) formatters.set(key, (value = make(current)));
  return value as T;
}

/**
 * When mail arrived, short: "just now", "5 minutes ago" within the hour, the time of day today,
 * day and time before ("3 Mar, 14:05" / "3月3日 14:05").
 */
export function shortTime(iso: string, now = new Date()): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const minutes = Math.floor((now.getTime() - date.getTime()) / 60_000);
  if (minutes >= 0 && minutes < 1) return t('time.justNow');
  if (minutes >= 1 && minutes < 60) {
    return formatter('relative', (l) => new Intl.RelativeTimeFormat(l, { numeric: 'auto' })).format(-minutes, 'minute');
  }
  if (date.toDateString() === now.toDateString()) {
    return formatter('time', (l) => new Intl.DateTimeFormat(l, { hour: '2-digit', minute: '2-digit' })).format(date);
  }
  return formatter('dayAndTime', (l) => new Intl.DateTimeFormat(l, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' })).format(date);
}

/** The full date and time, for a tooltip. */
export function fullTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return formatter('full', (l) => new Intl.DateTimeFormat(l, { dateStyle: 'full', timeStyle: 'short' })).format(date);
}

/** How long ago, in the largest unit that fits: "2 minutes ago", "yesterday", "3 weeks ago" (for "last seen"). */
export function relativeTime(iso: string, now = new Date()): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const seconds = Math.round((date.getTime() - now.getTime()) / 1000);
  if (Math.abs(seconds) < 60) return t('time.justNow');
  const units: [Intl.RelativeTimeFormatUnit, number][] = [['year', 31_536_000], ['month', 2_592_000], ['week', 604_800], ['day', 86_400], ['hour', 3600], ['minute', 60]];
  const [unit, size] = units.find(([, length]) => Math.abs(seconds) >= length) ?? ['minute', 60];
  return formatter('relative', (l) => new Intl.RelativeTimeFormat(l, { numeric: 'auto' })).format(Math.round(seconds / size), unit);
}

/** A countdown, "4:05", in the locale's digits. */
export function formatCountdown(totalSeconds: number): string {
  const seconds = Math.max(0, Math.ceil(totalSeconds));
  return `${formatCount(Math.floor(seconds / 60))}:${formatCount(seconds % 60).padStart(2, formatCount(0))}`;
}
