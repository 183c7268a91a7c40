// A day's appointments: per staff member a timeline in the company's time zone (segments as
// boxes, the pauses between them visibly free), details on click, and the same appointments as a
// table for screen readers and keyboard users.
import { t, label, formatTime, formatDay, formatDateTime, formatMinutes, minutesOfDay } from '../i18n.js';
import { company, companyAll } from '../api.js';
import { h, pageFrame, table, row, button, details, errorBox, dayForm, pageDay, setPageDay, nextId, fill } from '../ui.js';

const DAY_START = 8 * 60;
const DAY_END = 20 * 60;

export async function render(main, ctx) {
  const page = pageFrame(main, 'day', 'nav.day');
  const zone = ctx.company.timezone;
  const content = h('div');
  const detailRegion = h('section', { class: 'detail', hidden: true, attrs: { 'aria-live': 'polite', 'aria-labelledby': 'appt-detail-h' } });
  const form = dayForm(pageDay(ctx, 'day'), (day) => { setPageDay(ctx, 'day', day); load(); });
  fill(page.body, form, content, detailRegion);

  async function load() {
    const day = pageDay(ctx, 'day');
    page.loading();
    fill(page.body, form, content, detailRegion);
    fill(content, h('p', { class: 'loading', text: t('common.loading') }));
    detailRegion.hidden = true;
    let appointments; let staff; let services;
    try {
      const [listing, staffAnswer, servicesAnswer] = await Promise.all([
        companyAll('appointments', 'appointments', { date: day }), company('staff'), company('services')]);
      appointments = listing.appointments || [];
      staff = staffAnswer.staff || [];
      services = servicesAnswer.services || [];
    } catch (error) {
      fill(content, errorBox(error));
      page.done('error');
      return;
    }
    const heading = h('h2', { text: t('day.title', { day: formatDay(day) }) });
    if (!appointments.length) {
      fill(content, heading, h('p', { class: 'empty', text: t('day.empty') }));
      page.done('empty');
      return;
    }
    const policyOf = new Map(services.map((s) => [s.service_id, s.pause_policy]));
    fill(content, heading, timeline(appointments, staff, policyOf), appointmentTable(appointments, staff));
    page.done('ready');
  }

  const staffName = (staff, id) => staff.find((s) => s.staff_id === id)?.name || id || t('day.no_staff');

  function timeline(appointments, staff, policyOf) {
    const lanes = new Map(staff.filter((s) => s.active).map((s) => [s.staff_id, []]));
    let first = DAY_START;
    let last = DAY_END;
    for (const appt of appointments) {
      const segments = [...(appt.segments?.length ? appt.segments : [{ key: 'A', name: appt.service_name, start: appt.start, end: appt.end, staff_id: appt.staff_id, status: appt.status }])]
        .sort((a, b) => a.start.localeCompare(b.start));
      const held = ['blocked', 'never'].includes(policyOf.get(appt.service_id));
      segments.forEach((seg, i) => {
        const who = seg.staff_id || appt.staff_id || '';
        if (!lanes.has(who)) lanes.set(who, []);
        const from = minutesOfDay(seg.start, zone);
        let to = minutesOfDay(seg.end, zone);
        if (to <= from) to = 24 * 60; // runs past midnight: to the day's end
        first = Math.min(first, Math.floor(from / 60) * 60);
        last = Math.max(last, Math.ceil(to / 60) * 60);
        lanes.get(who).push({ kind: 'segment', appt, seg, from, to });
        const next = segments[i + 1];
        if (next && next.start > seg.end) {
          const gapTo = minutesOfDay(next.start, zone);
          if (gapTo > to) lanes.get(who).push({ kind: 'pause', held, from: to, to: gapTo, appt });
        }
      });
    }
    const span = last - first;
    const pos = (from, to) => ({ '--left': `${((from - first) / span) * 100}%`, '--width': `${((to - from) / span) * 100}%` });
    const hours = [];
    for (let m = first; m <= last; m += 60) {
      hours.push(h('span', { class: 'tl-hour', style: { '--left': `${((m - first) / span) * 100}%` }, text: `${String(m / 60).padStart(2, '0')}:00` }));
    }
    const legendId = nextId('legend');
    return h('section', { class: 'day-timeline', attrs: { 'aria-labelledby': legendId } },
      h('h3', { id: legendId, text: t('day.timeline_title', { zone }) }),
      h('p', { class: 'hint', text: t('day.timeline_hint') }),
      h('div', { class: 'tl-grid', style: { '--hours': String(span / 60) } },
        h('div', { class: 'tl-row tl-scale', attrs: { 'aria-hidden': 'true' } }, h('span', { class: 'tl-who' }), h('div', { class: 'tl-lane' }, hours)),
        [...lanes.entries()].map(([who, items]) => h('div', { class: 'tl-row', attrs: { role: 'group', 'aria-label': staffName(staff, who) } },
          h('span', { class: 'tl-who', text: staffName(staff, who) }),
          h('div', { class: 'tl-lane' }, items.map((item) => (item.kind === 'segment'
            ? h('button', { type: 'button', class: `tl-box status-${item.appt.status}`, style: pos(item.from, item.to),
              attrs: { 'aria-label': boxLabel(item), title: boxLabel(item) },
              on: { click: () => showDetail(item.appt.appointment_id, staff) } },
            h('span', { class: 'tl-time', text: formatTime(item.seg.start, zone) }), ' ',
            h('span', { text: `${item.seg.name || item.appt.service_name} · ${item.appt.customer_name || ''}` }))
            : h('div', { class: `tl-gap${item.held ? ' held' : ''}`, style: pos(item.from, item.to),
              attrs: { role: 'note', title: t(item.held ? 'day.pause_held_label' : 'day.pause_free_label', { from: minutesLabel(item.from), to: minutesLabel(item.to) }), 'aria-label': t(item.held ? 'day.pause_held_label' : 'day.pause_free_label', { from: minutesLabel(item.from), to: minutesLabel(item.to) }) } },
            h('span', { text: t(item.held ? 'day.pause_held' : 'day.pause_free') })))))))));
  }

  function boxLabel(item) {
    return t('day.box_label', { time: `${formatTime(item.seg.start, zone)}–${formatTime(item.seg.end, zone)}`, segment: item.seg.name || item.appt.service_name,
      customer: item.appt.customer_name || '–', status: label('appt_status', item.appt.status) });
  }

  function appointmentTable(appointments, staff) {
    return h('section', { attrs: { 'aria-labelledby': 'appt-table-h' } },
      h('h3', { id: 'appt-table-h', text: t('day.table_title') }),
      table(t('day.table_caption'), [t('day.time'), t('day.service'), t('day.staff'), t('day.customer'), t('day.status'), t('day.code'), t('day.segments'), t('common.action')],
        appointments.map((a) => row([
          `${formatTime(a.start, zone)}–${formatTime(a.end, zone)}`, a.service_name || a.service_id, staffName(staff, a.staff_id),
          [a.customer_name, a.customer_phone].filter(Boolean).join(' · ') || '–', label('appt_status', a.status), a.confirmation_code || '–',
          h('ul', { class: 'plain' }, (a.segments || []).map((s) => h('li', { text: `${s.key} ${s.name}: ${formatTime(s.start, zone)}–${formatTime(s.end, zone)} (${staffName(staff, s.staff_id)})` }))),
          button(t('common.details'), () => showDetail(a.appointment_id, staff), { attrs: { 'aria-label': t('day.details_of', { time: formatTime(a.start, zone), customer: a.customer_name || a.service_name }) } }),
        ]))));
  }

  async function showDetail(id, staff) {
    detailRegion.hidden = false;
    fill(detailRegion, h('p', { class: 'loading', text: t('common.loading') }));
    let appt;
    try {
      appt = (await company(`appointments/${encodeURIComponent(id)}`)).appointment;
    } catch (error) {
      fill(detailRegion, errorBox(error));
      return;
    }
    const heading = h('h2', { id: 'appt-detail-h', tabIndex: -1, text: t('day.detail_title', { service: appt.service_name || appt.service_id }) });
    fill(detailRegion, heading, details([
      [t('day.status'), label('appt_status', appt.status)],
      [t('day.time'), `${formatDateTime(appt.start, zone)} – ${formatTime(appt.end, zone)}`],
      [t('day.staff'), staffName(staff, appt.staff_id)],
      [t('day.customer'), appt.customer_name],
      [t('day.phone'), appt.customer_phone],
      [t('day.email'), appt.customer_email],
      [t('day.code'), appt.confirmation_code],
      [t('day.call'), appt.call_id],
      [t('day.branch'), appt.branch_id],
      [t('day.created'), formatDateTime(appt.created_at, zone)],
      appt.cancelled_at ? [t('day.cancelled'), `${formatDateTime(appt.cancelled_at, zone)} ${appt.cancel_reason || ''}`] : null,
      appt.rescheduled_at ? [t('day.rescheduled'), `${formatDateTime(appt.rescheduled_at, zone)} (${appt.reschedule_count || 1}×)`] : null,
      appt.error ? [t('day.error'), typeof appt.error === 'string' ? appt.error : JSON.stringify(appt.error)] : null,
    ].filter(Boolean)),
    (appt.segments || []).length ? table(t('day.segments'), [t('services.segment'), t('day.time'), t('day.staff'), t('day.status')],
      appt.segments.map((s) => row([`${s.key} ${s.name}`, `${formatTime(s.start, zone)}–${formatTime(s.end, zone)} (${formatMinutes(Math.round((new Date(s.end) - new Date(s.start)) / 60000))})`,
        staffName(staff, s.staff_id), label('appt_status', s.status)]))) : null,
    button(t('common.close'), () => { detailRegion.hidden = true; page.heading.focus(); }));
    heading.focus();
  }

  function minutesLabel(m) {
    return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  }

  await load();
}
