// Team sync: the latest runs with their report, and "sync now" (POST sync, 202: queued).
import { t, label, has, formatDateTime, formatNumber } from '../i18n.js';
import { company } from '../api.js';
import { h, pageFrame, table, row, button, details, busy, errorText, disclosure, fill } from '../ui.js';

const SUMMARY = ['members_synced', 'staff_linked', 'mappings_created', 'review_candidates', 'event_types_provisioned', 'drift_found'];

export async function render(main, ctx) {
  const page = pageFrame(main, 'sync', 'nav.sync');
  const zone = ctx.company.timezone;
  const content = h('div');
  const syncButton = button(t('sync.now'), () => busy(syncButton, async () => {
    try {
      const answer = await company('sync', { method: 'POST' });
      page.say(t('sync.queued', { id: answer.message_id || '–' }), 'good');
      setTimeout(() => { if (ctx.isCurrent()) load(); }, 3000);
    } catch (error) {
      page.say(errorText(error), 'error');
    }
  }), { kind: 'primary' });

  async function load() {
    page.loading();
    fill(page.body, h('p', { class: 'hint', text: t('sync.intro') }), syncButton, content);
    fill(content, h('p', { class: 'loading', text: t('common.loading') }));
    let runs;
    try {
      runs = (await company('sync-runs')).runs || [];
    } catch (error) {
      page.fail(error);
      return;
    }
    if (!runs.length) {
      fill(content, h('p', { class: 'empty', text: t('sync.empty') }));
      page.done('empty');
      return;
    }
    fill(content, table(t('sync.caption'), [t('sync.started'), t('sync.status'), t('sync.trigger'), t('sync.summary'), t('common.action')],
      runs.flatMap((run) => {
        const report = run.report || {};
        const region = h('tr', { class: 'sub-row' }, h('td', { colSpan: 5 }, reportDetails(report)));
        return [row([
          formatDateTime(report.started_at, zone),
          h('span', { class: `badge run-${report.status}`, text: label('run_status', report.status) }),
          label('trigger', run.trigger),
          summary(report),
          disclosure(t('sync.report'), region),
        ]), region];
      })));
    page.done('ready');
  }

  const reportLabel = (key) => (has(`sync.k.${key}`) ? t(`sync.k.${key}`) : key.replaceAll('_', ' '));

  function numbers(report) {
    return Object.entries(report).filter(([, v]) => typeof v === 'number');
  }

  function summary(report) {
    const parts = numbers(report).filter(([k, v]) => SUMMARY.includes(k) && (v || k === 'members_synced')).map(([k, v]) => `${reportLabel(k)}: ${formatNumber(v)}`);
    const errors = (report.errors || []).length;
    if (errors) parts.push(t('sync.errors_count', { n: errors }));
    return parts.join(' · ') || '–';
  }

  function reportDetails(report) {
    const item = (x) => (typeof x === 'object' && x !== null ? Object.values(x).filter((v) => v !== null && v !== '').join(' · ') : String(x));
    return h('div', { class: 'sub' },
      details([
        [t('sync.started'), formatDateTime(report.started_at, zone)],
        [t('sync.finished'), formatDateTime(report.finished_at, zone)],
        ...numbers(report).map(([k, v]) => [reportLabel(k), formatNumber(v)]),
      ]),
      (report.skipped || []).length ? [h('h4', { text: t('sync.skipped') }), h('ul', {}, report.skipped.map((s) => h('li', { text: item(s) })))] : null,
      (report.errors || []).length ? [h('h4', { text: t('sync.errors') }), h('ul', {}, report.errors.map((e) => h('li', { text: item(e) })))] : null);
  }

  await load();
}
