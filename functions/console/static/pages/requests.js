// Booking requests kept while Cal.com was down (ADR 0025): the open ones, or the settled ones.
import { t, label, formatDateTime, formatTime, formatNumber } from '../i18n.js';
import { company } from '../api.js';
import { h, pageFrame, table, row, errorBox, nextId, fill } from '../ui.js';

let shown = 'open';

export async function render(main, ctx) {
  const page = pageFrame(main, 'requests', 'nav.requests');
  const zone = ctx.company.timezone;
  const content = h('div');
  const groupName = nextId('status');
  const toggle = h('fieldset', { class: 'toggle' }, h('legend', { text: t('requests.show') }),
    ['open', 'settled'].map((status) => h('label', {},
      h('input', { type: 'radio', name: groupName, value: status, checked: shown === status,
        on: { change: () => { shown = status; load(); } } }), ` ${t(`requests.status_${status}`)}`)));

  let names = new Map();
  const staffName = (id) => names.get(id) || id;

  async function load() {
    page.loading();
    fill(page.body, h('p', { class: 'hint', text: t('requests.intro') }), toggle, content);
    fill(content, h('p', { class: 'loading', text: t('common.loading') }));
    let requests;
    try {
      const [answer, staffAnswer] = await Promise.all([company('booking-requests', { query: { status: shown } }), company('staff')]);
      requests = answer.requests || [];
      names = new Map((staffAnswer.staff || []).map((s) => [s.staff_id, s.name]));
    } catch (error) {
      fill(content, errorBox(error));
      page.done('error');
      return;
    }
    if (!requests.length) {
      fill(content, h('p', { class: 'empty', text: t(`requests.empty_${shown}`) }));
      page.done('empty');
      return;
    }
    fill(content, table(t(`requests.caption_${shown}`, { n: formatNumber(requests.length) }),
      [t('requests.created'), t('requests.service'), t('requests.wish'), t('requests.customer'), t('requests.status'), t('requests.attempts'), t('requests.result')],
      requests.map((r) => row([
        formatDateTime(r.created_at, zone),
        r.service_name || r.service_id || '–',
        [r.start ? formatDateTime(r.start, zone) : [r.day, r.at].filter(Boolean).join(' '), r.staff_id && t('requests.with', { staff: staffName(r.staff_id) })].filter(Boolean).join(' · ') || '–',
        [r.customer?.name, r.customer?.phone, r.customer?.email].filter(Boolean).join(' · ') || '–',
        h('span', { class: `badge request-${r.status}`, text: label('request_status', r.status) }),
        formatNumber(r.attempts ?? 0),
        result(r),
      ]))));
    page.done('ready');
  }

  function result(r) {
    if (r.status === 'booked') return t('requests.booked', { code: r.confirmation_code || '–', staff: staffName(r.staff_booked) || '–' });
    if (r.status === 'alternatives') return t('requests.alternatives', { times: (r.alternatives || []).map((a) => formatTime(a, zone)).join(', ') || '–' });
    return r.reason || '–';
  }

  await load();
}
