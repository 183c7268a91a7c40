// The console's language: German and English dictionaries (i18n/de.json, i18n/en.json), chosen by
// the switcher, remembered in localStorage, defaulting to the browser's language. Dates and
// numbers are formatted with Intl in that language; times always in the company's time zone.
export const LANGUAGES = ['de', 'en'];
const STORE_KEY = 'calbridge.console.lang';
let language = 'en';
let dictionary = {};

function initialLanguage() {
  const stored = localStorage.getItem(STORE_KEY);
  if (LANGUAGES.includes(stored)) return stored;
  const browser = (navigator.language || 'en').slice(0, 2).toLowerCase();
  return LANGUAGES.includes(browser) ? browser : 'en';
}

export async function init() {
  await setLanguage(initialLanguage(), { remember: false });
}

export async function setLanguage(lang, { remember = true } = {}) {
  const response = await fetch(`i18n/${lang}.json`);
  if (!response.ok) throw new Error(`i18n/${lang}.json: ${response.status}`);
  dictionary = await response.json();
  language = lang;
  if (remember) localStorage.setItem(STORE_KEY, lang);
  document.documentElement.lang = lang;
}

export function currentLanguage() {
  return language;
}

/** t('staff.imported', {count: 3}): the text of `key` with {name} placeholders filled in. */
export function t(key, vars = {}) {
  const text = dictionary[key];
  if (text === undefined) {
    console.warn(`i18n: missing key ${key}`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

export function has(key) {
  return key in dictionary;
}

/** An enumerated value from the API in words (label('source', 'auto_email')); unknown values as sent. */
export function label(group, value) {
  if (value === null || value === undefined || value === '') return '–';
  const key = `${group}.${value}`;
  return key in dictionary ? dictionary[key] : String(value);
}

/** Translates static markup: data-i18n="key" (text) and data-i18n-attr="attr:key;attr:key". */
export function translateTree(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':');
      el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}

// Formatting: Intl in the UI language. `zone` is the company's IANA time zone.
const cache = new Map();
function formatter(kind, options) {
  const key = `${language}|${kind}|${JSON.stringify(options)}`;
  if (!cache.has(key)) cache.set(key, kind === 'number' ? new Intl.NumberFormat(language, options) : new Intl.DateTimeFormat(language, options));
  return cache.get(key);
}

export function formatDateTime(iso, zone) {
  if (!iso) return '–';
  return formatter('date', { timeZone: zone, dateStyle: 'medium', timeStyle: 'short', hourCycle: 'h23' }).format(new Date(iso));
}

export function formatTime(iso, zone) {
  if (!iso) return '–';
  return formatter('date', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(iso));
}

/** A calendar day 'YYYY-MM-DD' (no time zone involved). */
export function formatDay(day) {
  if (!day) return '–';
  return formatter('date', { timeZone: 'UTC', dateStyle: 'full' }).format(new Date(`${day}T12:00:00Z`));
}

export function formatNumber(value, options = {}) {
  if (value === null || value === undefined) return '–';
  return formatter('number', options).format(value);
}

export function formatMoney(cents, currency = 'EUR') {
  if (cents === null || cents === undefined) return '–';
  return formatter('number', { style: 'currency', currency }).format(cents / 100);
}

export function formatMinutes(minutes) {
  return t('common.minutes', { n: formatNumber(minutes) });
}

/** Minutes since local midnight of `iso` in `zone` (the company's clock, not the browser's). */
export function minutesOfDay(iso, zone) {
  const parts = formatter('date', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    .formatToParts(new Date(iso));
  const get = (type) => Number(parts.find((p) => p.type === type)?.value || 0);
  return get('hour') * 60 + get('minute');
}
