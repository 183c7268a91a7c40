// Host mappings (active and inactive) with each host's audit trail on demand, and deactivation
// with a reason (DELETE host-mappings/{host_id}).
import { t, label, formatDateTime, formatNumber } from '../i18n.js';
import { company } from '../api.js';
import { h, pageFrame, table, row, field, messageRegion, showMessage, errorText, busy, disclosure, errorBox, fill } from '../ui.js';

const COLUMNS = 7;

export async function render(main, ctx) {
  const page = pageFrame(main, 'mappings', 'nav.mappings');
  const zone = ctx.company.timezone;

  async function load() {
    page.loading();
    let answer;
    try {
      answer = await company('host-mappings', { query: { include_inactive: 'true' } });
    } catch (error) {
      page.fail(error);
      return;
    }
    const mappings = answer.mappings || [];
    const rules = answer.rules || [];
    if (!mappings.length && !rules.length) {
      fill(page.body, h('p', { class: 'empty', text: t('mappings.empty') }));
      page.done('empty');
      return;
    }
    fill(page.body,
      h('p', { class: 'hint', text: t('mappings.intro') }),
      mappings.length ? table(t('mappings.caption'), [t('mappings.host'), t('mappings.staff'), t('mappings.source'),
        t('mappings.confidence'), t('mappings.status'), t('mappings.updated'), t('common.action')],
      mappings.flatMap(mappingRows)) : h('p', { text: t('mappings.no_mappings') }),
      rules.length ? [h('h2', { text: t('mappings.rules_title') }),
        table(t('mappings.rules_caption'), [t('mappings.rule_value'), t('mappings.rule_kind'), t('mappings.staff'), t('mappings.created_by'), t('mappings.created_at')],
          rules.map((r) => row([r.value, t(`mappings.match_${r.match_on}`), r.staff_name || r.staff_id, r.created_by, formatDateTime(r.created_at, zone)])))] : null);
    page.done('ready');
  }

  function mappingRows(m) {
    const calcom = [m.calcom_name, m.calcom_email || m.calcom_username].filter(Boolean).join(' · ');
    const auditRegion = h('div', { class: 'sub' });
    const auditRow = h('tr', { class: 'sub-row' }, h('td', { colSpan: COLUMNS }, auditRegion));
    const historyBtn = disclosure(t('mappings.history'), auditRow, () => loadAudit(m.host_id, auditRegion));
    historyBtn.setAttribute('aria-label', t('mappings.history_of', { host: m.host_id }));
    const cells = [
      h('span', {}, String(m.host_id), calcom ? h('span', { class: 'muted block', text: calcom }) : null),
      m.staff_name || m.staff_id,
      label('source', m.source),
      formatNumber(m.confidence),
      m.is_active ? t('mappings.active') : t('mappings.inactive'),
      formatDateTime(m.updated_at, zone),
    ];
    const actions = h('div', { class: 'actions' }, historyBtn);
    const rows = [];
    if (m.is_active) {
      const formRow = h('tr', { class: 'sub-row' }, h('td', { colSpan: COLUMNS }, deactivateForm(m)));
      const btn = disclosure(t('mappings.deactivate'), formRow, null);
      btn.setAttribute('aria-label', t('mappings.deactivate_of', { host: m.host_id }));
      actions.append(btn);
      rows.push(row([...cells, actions]), auditRow, formRow);
    } else {
      rows.push(row([...cells, actions]), auditRow);
    }
    return rows;
  }

  async function loadAudit(hostId, region) {
    fill(region, h('p', { class: 'loading', text: t('common.loading') }));
    try {
      const answer = await company(`host-mappings/${encodeURIComponent(hostId)}/audit`);
      const audit = answer.audit || [];
      fill(region, audit.length ? table(t('mappings.audit_caption', { host: hostId }),
        [t('mappings.when'), t('mappings.action'), t('mappings.by'), t('mappings.change'), t('mappings.reason')],
        audit.map((a) => row([formatDateTime(a.changed_at, zone), label('audit', a.action), a.changed_by,
          `${a.old_values?.staff_id || '–'} → ${a.new_values?.staff_id || '–'}`, a.reason || '–']))) : h('p', { text: t('mappings.audit_empty') }));
    } catch (error) {
      fill(region, errorBox(error));
    }
  }

  function deactivateForm(m) {
    const reason = h('input', { type: 'text', required: true, maxLength: 500, autocomplete: 'off' });
    const message = messageRegion();
    const submit = h('button', { type: 'submit', class: 'danger', text: t('mappings.deactivate_submit') });
    const form = h('form', { class: 'inline-form', noValidate: true },
      field(t('mappings.deactivate_reason', { host: m.host_id, staff: m.staff_name || m.staff_id }), reason), submit, message);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!reason.value.trim()) {
        showMessage(message, t('mappings.reason_required'), 'error');
        reason.focus();
        return;
      }
      busy(submit, async () => {
        try {
          await company(`host-mappings/${encodeURIComponent(m.host_id)}`, { method: 'DELETE', json: { reason: reason.value.trim() } });
          page.say(t('mappings.deactivated', { host: m.host_id }), 'good');
          await load();
          page.heading.focus();
        } catch (error) {
          showMessage(message, errorText(error), 'error');
        }
      });
    });
    return form;
  }

  await load();
}
