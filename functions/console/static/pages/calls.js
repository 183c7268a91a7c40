// A day's calls (GET calls?date=, all pages) with their outcome, and one call in full on demand.
import { t, label, formatTime, formatDay, formatDateTime, formatNumber } from '../i18n.js';
import { company, companyAll } from '../api.js';
import { h, pageFrame, table, row, button, details, errorBox, dayForm, pageDay, setPageDay, fill } from '../ui.js';

export async function render(main, ctx) {
  const page = pageFrame(main, 'calls', 'nav.calls');
  const zone = ctx.company.timezone;
  const content = h('div');
  const detailRegion = h('section', { class: 'detail', hidden: true, attrs: { 'aria-live': 'polite' } });
  const form = dayForm(pageDay(ctx, 'calls'), (day) => { setPageDay(ctx, 'calls', day); load(); });

  const duration = (seconds) => (seconds == null ? '–' : t('calls.duration_value', { m: Math.floor(seconds / 60), s: String(seconds % 60).padStart(2, '0') }));

  async function load() {
    const day = pageDay(ctx, 'calls');
    page.loading();
    fill(page.body, form, content, detailRegion);
    fill(content, h('p', { class: 'loading', text: t('common.loading') }));
    detailRegion.hidden = true;
    let calls;
    try {
      calls = (await companyAll('calls', 'calls', { date: day })).calls || [];
    } catch (error) {
      fill(content, errorBox(error));
      page.done('error');
      return;
    }
    const heading = h('h2', { text: t('calls.title', { day: formatDay(day) }) });
    if (!calls.length) {
      fill(content, heading, h('p', { class: 'empty', text: t('calls.empty') }));
      page.done('empty');
      return;
    }
    fill(content, heading, table(t('calls.caption', { n: formatNumber(calls.length) }),
      [t('calls.time'), t('calls.outcome'), t('calls.from'), t('calls.to'), t('calls.duration'), t('calls.branch'), t('calls.appointments'), t('common.action')],
      calls.map((c) => row([
        formatTime(c.started_at || c.created_at, zone),
        h('span', { class: `badge outcome-${c.outcome}`, text: label('outcome', c.outcome) }),
        c.from_number || '–', c.to_number || '–', duration(c.duration_seconds), c.branch_id || '–',
        formatNumber((c.appointments || []).length),
        button(t('common.details'), () => showDetail(c.call_id), { attrs: { 'aria-label': t('calls.details_of', { time: formatTime(c.started_at || c.created_at, zone) }) } }),
      ]))));
    page.done('ready');
  }

  async function showDetail(id) {
    detailRegion.hidden = false;
    fill(detailRegion, h('p', { class: 'loading', text: t('common.loading') }));
    let call;
    try {
      call = (await company(`calls/${encodeURIComponent(id)}`)).call;
    } catch (error) {
      fill(detailRegion, errorBox(error));
      return;
    }
    const yesNo = (v) => (v === null || v === undefined ? '–' : t(v ? 'common.yes' : 'common.no'));
    const heading = h('h2', { tabIndex: -1, text: t('calls.detail_title', { time: formatDateTime(call.started_at || call.created_at, zone) }) });
    fill(detailRegion, heading, details([
      [t('calls.outcome'), label('outcome', call.outcome)],
      [t('calls.status'), call.status],
      [t('calls.call_id'), call.call_id],
      [t('calls.direction'), call.direction],
      [t('calls.from'), call.from_number],
      [t('calls.to'), call.to_number],
      [t('calls.branch'), call.branch_id],
      [t('calls.agent'), call.agent_id],
      [t('calls.started'), formatDateTime(call.started_at, zone)],
      [t('calls.ended'), formatDateTime(call.ended_at, zone)],
      [t('calls.duration'), duration(call.duration_seconds)],
      [t('calls.disconnection'), call.disconnection_reason],
      [t('calls.sentiment'), call.user_sentiment],
      [t('calls.successful'), yesNo(call.call_successful)],
      [t('calls.voicemail'), yesNo(call.in_voicemail)],
      [t('calls.summary'), call.summary],
      [t('calls.events'), (call.events || []).join(', ')],
      [t('calls.appointments'), (call.appointments || []).length ? h('ul', { class: 'plain' }, call.appointments.map((a) => h('li', {
        text: `${label('outcome', a.action)} · ${a.appointment_id} · ${formatDateTime(a.at, zone)}` }))) : '–'],
    ]), button(t('common.close'), () => { detailRegion.hidden = true; page.heading.focus(); }));
    heading.focus();
  }

  await load();
}
