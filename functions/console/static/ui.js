// DOM helpers shared by every page: element building (never innerHTML), the page frame with its
// loading / ready / empty / error states, messages, and the provisioning report of a service save.
import { t } from './i18n.js';

/** h('button', {type: 'button', class: 'x', on: {click}, attrs: {'aria-label': '…'}}, 'text', child…) */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name === 'on') for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (name === 'attrs') for (const [a, v] of Object.entries(value)) { if (v !== null && v !== undefined && v !== false) el.setAttribute(a, v === true ? '' : String(v)); }
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name === 'style') for (const [p, v] of Object.entries(value)) el.style.setProperty(p, v);
    else el[name] = value;
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** Replaces the children of `el` (arrays flattened; null, undefined and false left out). */
export function fill(el, ...children) {
  return append(clear(el), children);
}

let uid = 0;
/** A unique id for label/for and aria-describedby pairs. */
export function nextId(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * The frame of a page inside <main>: heading, a live status line, a body. `main` carries
 * data-page and data-state ("loading", then "ready" | "empty" | "error") for browser tests.
 */
export function pageFrame(main, name, titleKey) {
  const frame = document.getElementById('tpl-page').content.cloneNode(true);
  const heading = frame.querySelector('h1');
  const status = frame.querySelector('.status');
  const body = frame.querySelector('.page-body');
  heading.textContent = t(titleKey);
  main.dataset.page = name;
  main.dataset.state = 'loading';
  clear(main).append(frame);
  const page = {
    heading,
    status,
    body,
    loading() {
      if (!heading.isConnected) return;
      main.dataset.state = 'loading';
      main.setAttribute('aria-busy', 'true');
      clear(body).append(h('p', { class: 'loading', text: t('common.loading') }));
    },
    /** Loading again, keeping what is shown (a list under a form that reports a result). */
    reloading() {
      if (!heading.isConnected) return;
      main.dataset.state = 'loading';
      main.setAttribute('aria-busy', 'true');
    },
    done(state) {
      if (!heading.isConnected) return; // another page took <main> meanwhile
      main.dataset.state = state;
      main.removeAttribute('aria-busy');
    },
    fail(error) {
      clear(body).append(errorBox(error));
      page.done('error');
    },
    say(text, kind = 'info') {
      showMessage(status, text, kind);
    },
  };
  return page;
}

/** An error as a visible alert: the API's message (and field), never a blank page. */
export function errorBox(error) {
  return h('div', { class: 'message error', attrs: { role: 'alert' } },
    h('p', { text: errorText(error) }));
}

export function errorText(error) {
  if (!error) return t('error.unknown');
  if (error.status === 0) return t('error.network');
  if (error.status === 403) return t('error.forbidden');
  if (error.status === 503) return t('error.unavailable');
  const message = error.message || t('error.unknown');
  return error.field && !message.includes(error.field) ? `${message} (${error.field})` : message;
}

/** Writes a message into a live region (role="status" or aria-live set in the markup). */
export function showMessage(region, text, kind = 'info') {
  region.className = `status message ${kind}`;
  region.textContent = text;
  region.hidden = !text;
}

/** A live region to put next to a form. */
export function messageRegion() {
  return h('p', { class: 'status message', hidden: true, attrs: { role: 'status', 'aria-live': 'polite' } });
}

/** A labelled form control: h-built <input>/<select>/<textarea> inside a .field with its label. */
export function field(labelText, control, hint) {
  control.id ||= nextId();
  const wrap = h('div', { class: 'field' }, h('label', { htmlFor: control.id, text: labelText }), control);
  if (hint) {
    const hintEl = h('p', { class: 'hint', id: nextId('hint'), text: hint });
    control.setAttribute('aria-describedby', hintEl.id);
    wrap.append(hintEl);
  }
  return wrap;
}

/** A table with a caption, column headers (<th scope="col">) and rows of cells; a row's first cell
 *  may be marked as its header with {th: true}. */
export function table(caption, headers, rows, { captionHidden = false } = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('caption', { class: captionHidden ? 'visually-hidden' : '', text: caption }),
      h('thead', {}, h('tr', {}, headers.map((label) => h('th', { attrs: { scope: 'col' }, text: label })))),
      h('tbody', {}, rows)));
}

export function row(cells, { rowHeader = true } = {}) {
  return h('tr', {}, cells.map((cell, i) => (i === 0 && rowHeader
    ? h('th', { attrs: { scope: 'row' } }, cell)
    : h('td', {}, cell))));
}

/** A definition list of [label, value] pairs; empty values show a dash. */
export function details(pairs) {
  return h('dl', { class: 'details' }, pairs.map(([label, value]) => [
    h('dt', { text: label }),
    h('dd', {}, value === null || value === undefined || value === '' ? '–' : value),
  ]));
}

export function button(text, onClick, { kind = '', type = 'button', attrs = {} } = {}) {
  return h('button', { type, class: kind, text, attrs, on: onClick ? { click: onClick } : undefined });
}

/** Runs `work` with the button disabled; errors are shown in `region`. */
export async function busy(btn, work) {
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

/** A disclosure button controlling a region (aria-expanded / aria-controls). */
export function disclosure(labelText, region, onOpen) {
  region.id ||= nextId('region');
  region.hidden = true;
  let loaded = false;
  const btn = button(labelText, async () => {
    const open = btn.getAttribute('aria-expanded') !== 'true';
    btn.setAttribute('aria-expanded', String(open));
    region.hidden = !open;
    if (open && !loaded && onOpen) {
      loaded = true;
      await onOpen(region);
    }
  }, { kind: 'link', attrs: { 'aria-expanded': 'false', 'aria-controls': region.id } });
  return btn;
}

/** The provisioning report of a service save or a settings change (`event_types` of the answer). */
export function provisioningReport(report) {
  if (!report) return null;
  const kinds = ['created', 'updated', 'repaired', 'unchanged', 'failed', 'drifted', 'pending', 'removed', 'skipped']
    .filter((kind) => Array.isArray(report[kind]));
  const list = (items) => h('ul', {}, items.map((item) => h('li', { text: describeEntry(item) })));
  return h('section', { class: 'report', attrs: { 'aria-label': t('report.title') } },
    h('h3', { text: t('report.title') }),
    h('p', { class: report.ok === false || (report.failed || []).length ? 'bad' : 'good',
      text: report.ok === false || (report.failed || []).length ? t('report.some_failed') : t('report.ok') }),
    details(kinds.map((kind) => [t(`report.${kind}`), String((report[kind] || []).length)])),
    (report.failed || []).length ? [h('h4', { text: t('report.failed_list') }), list(report.failed)] : null,
    (report.created || []).length ? [h('h4', { text: t('report.created_list') }), list(report.created)] : null,
    (report.warnings || []).length ? [h('h4', { text: t('report.warnings') }), list(report.warnings)] : null,
    (report.errors || []).length ? [h('h4', { text: t('report.errors') }), list(report.errors)] : null);
}

function describeEntry(item) {
  if (typeof item !== 'object' || item === null) return String(item);
  const parts = [item.service_id && `${t('services.service')} ${item.service_id}`,
    (item.segment_key || item.hold) && `${t('services.segment')} ${item.segment_key || item.hold}`,
    item.staff_id, item.event_type_id && `#${item.event_type_id}`, item.slug, item.detail || item.error || item.message];
  return parts.filter(Boolean).join(' · ') || JSON.stringify(item);
}

/** A "day" form (date input + show button) for the pages read by day; `onDay(day)` on submit. */
export function dayForm(initial, onDay) {
  const input = h('input', { type: 'date', required: true, value: initial });
  const form = h('form', { class: 'day-form', noValidate: true }, field(t('common.date'), input),
    h('button', { type: 'submit', text: t('common.show') }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (/^\d{4}-\d{2}-\d{2}$/.test(input.value)) onDay(input.value);
    else input.focus();
  });
  return form;
}

/** The day a page shows, per company and page, kept while the tab lives (default: the company's today). */
const days = new Map();
export function pageDay(ctx, pageName) {
  return days.get(`${ctx.company.company_id}|${pageName}`) || ctx.company.today;
}
export function setPageDay(ctx, pageName, day) {
  days.set(`${ctx.company.company_id}|${pageName}`, day);
}
