// One catalog for the web app and its service worker: the locale negotiation and the formatter.
// The page imports this module; the service worker (a classic script) gets the same compiled code
// inlined by pwa/tools/build.mjs, so these files import nothing but each other and use only the
// language's built-ins (Intl), which exist in pages, workers and Node alike.
//
// Why not ICU MessageFormat (intl-messageformat): it is ES modules with bare-specifier imports of
// further @formatjs packages, which a browser resolves only through an import map (inline script,
// refused by our Content-Security-Policy) or a bundler, and a classic service worker cannot import
// modules at all. Our messages need named parameters and one plural per message, which
// Intl.PluralRules and Intl.NumberFormat give directly, with the parameters typed from the catalog.

import { en } from './messages-en.js';
import { ja } from './messages-ja.js';

export const LOCALES = ['en', 'ja'] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = 'en';

/** Plural forms by CLDR category; Intl.PluralRules picks one, `other` when the category has none. */
export interface PluralMessage {
  readonly zero?: string;
  readonly one?: string;
  readonly two?: string;
  readonly few?: string;
  readonly many?: string;
  readonly other: string;
}
export type Message = string | PluralMessage;
export type MessageKey = keyof typeof en;
export type Catalog = { readonly [K in MessageKey]: Message };

type Placeholders<S> = S extends `${string}{${infer Name}}${infer Rest}` ? Name | Placeholders<Rest> : never;
type Texts<M> = M extends string ? M : M[keyof M];
/** The parameters a message takes, read from its English text; plural messages also take `count`. */
export type MessageParams<K extends MessageKey> =
  { [P in Placeholders<Texts<(typeof en)[K]>>]: string | number } & ((typeof en)[K] extends string ? unknown : { count: number });
/** No argument for a message without parameters, the parameters object otherwise. */
export type ParamsArg<K extends MessageKey> = keyof MessageParams<K> extends never ? [] : [params: MessageParams<K>];
/** The keys of messages without parameters: the ones a key chosen at run time may name. */
export type PlainKey = { [K in MessageKey]: ParamsArg<K> extends [] ? K : never }[MessageKey];

export const catalogs: Readonly<Record<Locale, Catalog>> = { en, ja };

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (LOCALES as readonly string[]).includes(value);
}

/**
 * The first of the user's preferred languages (navigator.languages, most preferred first) that we
 * have a catalog for, by primary language ("ja-JP" → ja); English when none is.
 */
export function negotiateLocale(preferred: readonly string[]): Locale {
  for (const tag of preferred) {
    const language = tag.toLowerCase().split(/[-_]/)[0];
    if (isLocale(language)) return language;
  }
  return DEFAULT_LOCALE;
}

// Intl objects are costly to create and the feed formats hundreds of values: one of each per locale.
const pluralRules = new Map<Locale, Intl.PluralRules>();
const numberFormats = new Map<Locale, Intl.NumberFormat>();
const memo = <T>(cache: Map<Locale, T>, locale: Locale, make: () => T): T => {
  let value = cache.get(locale);
  if (!value) cache.set(locale, (value = make()));
  return value;
};

export function formatNumber(locale: Locale, value: number): string {
  return memo(numberFormats, locale, () => new Intl.NumberFormat(locale)).format(value);
}

/** The message `key` in `locale`, its plural form chosen by `count`, its {placeholders} filled in. */
export function translate<K extends MessageKey>(locale: Locale, key: K, ...[params]: ParamsArg<K>): string {
  const message: Message = catalogs[locale][key] ?? catalogs[DEFAULT_LOCALE][key];
  const values = (params ?? {}) as Record<string, string | number>;
  let text: string;
  if (typeof message === 'string') {
    text = message;
  } else {
    const count = Number(values.count);
    const category = memo(pluralRules, locale, () => new Intl.PluralRules(locale)).select(count) as keyof PluralMessage;
    text = message[category] ?? message.other;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) return whole; // a catalog mistake stays visible rather than blank
    return typeof value === 'number' ? formatNumber(locale, value) : value;
  });
}
