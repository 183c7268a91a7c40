// Company settings: GET settings into a form; PATCH settings with only the fields that changed.
import { t, currentLanguage, formatNumber } from '../i18n.js';
import { company } from '../api.js';
import { h, pageFrame, field, details, messageRegion, showMessage, errorText, busy, provisioningReport, fill } from '../ui.js';

const NUMBERS = [
  ['host_match_threshold', 0, 100],
  ['booking_window_days', 1, 730],
  ['minimum_notice_minutes', 0, 10080],
  ['call_retention_days', 1, 3650],
  ['appointment_retention_days', 1, 3650],
];
const FLAGS = ['sync_repair_drift', 'sms_confirmations'];
const INTERVAL = /^(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})$/;

const hhmm = (value) => String(value).slice(0, 5);

/** Opening hours as {weekday: [[opens, closes]]} with HH:MM times, closed days left out. */
function normalHours(hours) {
  const weekly = {};
  for (const [day, intervals] of Object.entries(hours?.weekly || {})) {
    if (intervals?.length) weekly[day] = intervals.map(([a, b]) => [hhmm(a), hhmm(b)]);
  }
  return weekly;
}

/** '08:00–12:00, 13:00–18:00' -> [['08:00', '12:00'], ['13:00', '18:00']]; null when not readable. */
export function parseIntervals(text) {
  const parts = text.split(/[,;]/).map((p) => p.trim()).filter(Boolean);
  const intervals = [];
  for (const part of parts) {
    const m = INTERVAL.exec(part);
    if (!m || Number(m[1]) > 24 || Number(m[2]) > 59 || Number(m[3]) > 24 || Number(m[4]) > 59) return null;
    intervals.push([`${m[1].padStart(2, '0')}:${m[2]}`, `${m[3].padStart(2, '0')}:${m[4]}`]);
  }
  return intervals;
}

export async function render(main, { me } = {}) {
  const page = pageFrame(main, 'settings', 'nav.settings');
  page.loading();
  let settings;
  try {
    settings = (await company('settings')).settings;
  } catch (error) {
    page.fail(error);
    return;
  }

  const weekday = new Intl.DateTimeFormat(currentLanguage(), { weekday: 'long', timeZone: 'UTC' });
  const message = messageRegion();
  const result = h('div', { class: 'result' });
  const controls = {};
  controls.language = h('select', {}, ['de', 'en'].map((l) => h('option', { value: l, text: t(`settings.language_${l}`) })));
  for (const [name, min, max] of NUMBERS) controls[name] = h('input', { type: 'number', min: String(min), max: String(max), step: '1', required: true });
  for (const name of FLAGS) controls[name] = h('input', { type: 'checkbox' });
  // Agent ids route calls to a company: an operator sets them (the API refuses a salon's admin).
  controls.retell_agent_ids = h('textarea', { rows: 3, spellcheck: false, readOnly: !me?.operator });
  const dayInputs = [0, 1, 2, 3, 4, 5, 6].map(() => h('input', { type: 'text', placeholder: t('settings.closed'), spellcheck: false, autocomplete: 'off' }));

  function fillForm(values) {
    controls.language.value = values.language;
    for (const [name] of NUMBERS) controls[name].value = values[name] ?? '';
    for (const name of FLAGS) controls[name].checked = Boolean(values[name]);
    controls.retell_agent_ids.value = (values.retell_agent_ids || []).join('\n');
    const weekly = normalHours(values.opening_hours);
    dayInputs.forEach((input, i) => { input.value = (weekly[i] || []).map(([a, b]) => `${a}–${b}`).join(', '); });
  }

  /** The form's values as the API takes them, or {error, focus}. */
  function read() {
    const values = { language: controls.language.value };
    for (const [name, min, max] of NUMBERS) {
      const n = Number(controls[name].value);
      if (controls[name].value === '' || !Number.isInteger(n) || n < min || n > max) {
        return { error: t('settings.out_of_range', { name: t(`settings.${name}`), min: formatNumber(min), max: formatNumber(max) }), focus: controls[name] };
      }
      values[name] = n;
    }
    for (const name of FLAGS) values[name] = controls[name].checked;
    values.retell_agent_ids = controls.retell_agent_ids.value.split(/[\s,]+/).filter(Boolean);
    const weekly = {};
    for (const [i, input] of dayInputs.entries()) {
      const intervals = parseIntervals(input.value);
      if (intervals === null) return { error: t('settings.bad_hours', { day: weekday.format(new Date(Date.UTC(2024, 0, 1 + i))) }), focus: input };
      if (intervals.length) weekly[i] = intervals;
    }
    values.opening_hours = Object.keys(weekly).length ? { weekly } : null;
    return { values };
  }

  function changes(values) {
    const before = { ...settings, opening_hours: Object.keys(normalHours(settings.opening_hours)).length ? { weekly: normalHours(settings.opening_hours) } : null };
    const changed = {};
    for (const [name, value] of Object.entries(values)) {
      if (JSON.stringify(value) !== JSON.stringify(before[name] ?? (name === 'retell_agent_ids' ? [] : null))) changed[name] = value;
    }
    return changed;
  }

  const submit = h('button', { type: 'submit', class: 'primary', text: t('settings.save') });
  const form = h('form', { class: 'card', noValidate: true },
    h('h2', { text: t('settings.calls_title') }),
    field(t('settings.language'), controls.language, t('settings.language_hint')),
    field(t('settings.minimum_notice_minutes'), controls.minimum_notice_minutes, t('settings.minimum_notice_minutes_hint')),
    field(t('settings.booking_window_days'), controls.booking_window_days, t('settings.booking_window_days_hint')),
    h('label', { class: 'check' }, controls.sms_confirmations, ` ${t('settings.sms_confirmations')}`),
    h('fieldset', { class: 'hours' }, h('legend', { text: t('settings.opening_hours') }),
      h('p', { class: 'hint', text: t('settings.opening_hours_hint') }),
      dayInputs.map((input, i) => field(weekday.format(new Date(Date.UTC(2024, 0, 1 + i))), input))),
    h('h2', { text: t('settings.staff_title') }),
    field(t('settings.host_match_threshold'), controls.host_match_threshold, t('settings.host_match_threshold_hint')),
    h('label', { class: 'check' }, controls.sync_repair_drift, ` ${t('settings.sync_repair_drift')}`),
    h('p', { class: 'hint', text: t('settings.sync_repair_drift_hint') }),
    h('h2', { text: t('settings.data_title') }),
    field(t('settings.call_retention_days'), controls.call_retention_days),
    field(t('settings.appointment_retention_days'), controls.appointment_retention_days, t('settings.retention_hint')),
    field(t('settings.retell_agent_ids'), controls.retell_agent_ids,
      t(me?.operator ? 'settings.retell_agent_ids_hint' : 'settings.retell_agent_ids_operator')),
    h('div', { class: 'form-actions' }, submit), message);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const { values, error, focus } = read();
    if (error) {
      showMessage(message, error, 'error');
      focus.focus();
      return;
    }
    const changed = changes(values);
    if (!Object.keys(changed).length) {
      showMessage(message, t('settings.nothing_changed'));
      return;
    }
    busy(submit, async () => {
      try {
        const answer = await company('settings', { method: 'PATCH', json: changed });
        settings = answer.settings;
        fillForm(settings);
        const names = (answer.changed || []).map((n) => t(`settings.${n}`)).join(', ');
        showMessage(message, answer.changed?.length ? t('settings.saved', { names }) : t('settings.nothing_changed'), 'good');
        fill(result, provisioningReport(answer.event_types) || '');
      } catch (err) {
        showMessage(message, errorText(err), 'error');
      }
    });
  });

  fillForm(settings);
  fill(page.body,
    h('section', { class: 'card', attrs: { 'aria-labelledby': 'settings-fixed-h' } },
      h('h2', { id: 'settings-fixed-h', text: t('settings.fixed_title') }),
      details([
        [t('settings.name'), settings.name],
        [t('settings.timezone'), settings.timezone],
        [t('settings.calcom_team_id'), settings.calcom_team_id == null ? '–' : String(settings.calcom_team_id)],
        [t('settings.calcom_credential'), t(`settings.credential_${settings.calcom_credential || 'platform'}`)],
      ]),
      h('p', { class: 'hint', text: t('settings.fixed_hint') })),
    form, result);
  page.done('ready');
}
