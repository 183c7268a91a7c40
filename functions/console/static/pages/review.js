// The review queue: hosts calbridge could not link on its own, each with its candidates. An admin
// confirms a candidate or picks another staff member, with a reason (POST host-mappings).
import { t, label, formatDateTime, formatNumber } from '../i18n.js';
import { company } from '../api.js';
import { h, clear, pageFrame, table, row, button, field, messageRegion, showMessage, errorText, busy, provisioningReport, details, fill, append } from '../ui.js';

export async function render(main, ctx) {
  const page = pageFrame(main, 'review', 'nav.review');
  const result = h('div', { class: 'result' });
  const content = h('div');
  const zone = ctx.company.timezone;

  async function load() {
    page.loading();
    let review; let unmapped; let staff;
    try {
      [review, unmapped, staff] = await Promise.all([
        company('review-candidates'), company('unmapped-hosts'), company('staff')]);
    } catch (error) {
      page.fail(error);
      return;
    }
    const active = (staff.staff || []).filter((s) => s.active);
    const candidates = review.review_candidates || [];
    const hosts = unmapped.unmapped_hosts || [];
    clear(content);
    fill(page.body, result, content);
    if (!candidates.length && !hosts.length) {
      content.append(h('p', { class: 'empty', text: t('review.empty') }));
      page.done('empty');
      return;
    }
    append(content, [
      h('section', { attrs: { 'aria-labelledby': 'review-candidates-h' } },
        h('h2', { id: 'review-candidates-h', text: t('review.candidates_title', { n: candidates.length }) }),
        candidates.length ? candidates.map((entry) => hostCard(entry, active, true))
          : h('p', { text: t('review.no_candidates') })),
      hosts.length ? h('section', { attrs: { 'aria-labelledby': 'review-unmapped-h' } },
        h('h2', { id: 'review-unmapped-h', text: t('review.unmapped_title', { n: hosts.length }) }),
        h('p', { class: 'hint', text: t('review.unmapped_intro') }),
        hosts.map((entry) => hostCard(entry, active, false))) : null]);
    page.done('ready');
  }

  function hostCard(entry, activeStaff, withCandidates) {
    const host = entry.host || {};
    const hostLabel = host.name || host.email || host.username || entry.host_key;
    const headingId = `host-${entry.host_key.replace(/[^A-Za-z0-9_-]/g, '-')}`;
    const staffSelect = h('select', { required: true },
      h('option', { value: '', text: t('review.choose_staff') }),
      activeStaff.map((s) => h('option', { value: s.staff_id, text: `${s.name} (${s.staff_id})` })));
    const reason = h('input', { type: 'text', required: true, maxLength: 500, autocomplete: 'off' });
    const message = messageRegion();
    const submit = h('button', { type: 'submit', class: 'primary', text: t('review.link') });
    const form = h('form', { class: 'inline-form', noValidate: true },
      field(t('review.staff'), staffSelect), field(t('review.reason'), reason, t('review.reason_hint')), submit, message);
    const cands = entry.candidates || [];
    if (cands[0]) staffSelect.value = cands[0].staff_id;

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!staffSelect.value || !reason.value.trim()) {
        showMessage(message, t('review.missing'), 'error');
        (staffSelect.value ? reason : staffSelect).focus();
        return;
      }
      const body = { staff_id: staffSelect.value, reason: reason.value.trim() };
      if (host.id !== null && host.id !== undefined) body.host_id = host.id;
      else if (host.email) body.email = host.email;
      else body.username = host.username;
      busy(submit, async () => {
        try {
          const answer = await company('host-mappings', { method: 'POST', json: body });
          const staffName = answer.mapping?.staff_name || answer.staff_name || body.staff_id;
          const text = t('review.linked', { host: hostLabel, staff: staffName });
          fill(result,
            (answer.warnings || []).map((w) => h('p', { class: 'message warn', text: w })),
            provisioningReport(answer.event_types));
          page.say(text, 'good');
          await load();
        } catch (error) {
          showMessage(message, errorText(error), 'error');
        }
      });
    });

    const candidateTable = withCandidates && cands.length ? table(t('review.candidates_of', { host: hostLabel }),
      [t('review.staff'), t('review.confidence'), t('review.strategy'), t('review.why'), t('common.action')],
      cands.map((c) => row([
        c.staff_name || c.staff_id,
        formatNumber(c.confidence),
        label('source', c.source),
        c.reason || '–',
        button(t('review.confirm'), () => {
          staffSelect.value = c.staff_id;
          reason.focus();
          showMessage(message, t('review.confirm_hint', { staff: c.staff_name || c.staff_id }));
        }, { attrs: { 'aria-label': t('review.confirm_label', { staff: c.staff_name || c.staff_id }) } }),
      ]))) : null;

    return h('article', { class: 'card', attrs: { 'aria-labelledby': headingId } },
      h('h3', { id: headingId, text: hostLabel }),
      details([
        [t('review.host_id'), host.id ?? '–'],
        [t('review.email'), host.email],
        [t('review.username'), host.username],
        [t('review.seen'), t('review.seen_value', { n: formatNumber(entry.seen_count), last: formatDateTime(entry.last_seen, zone) })],
      ]),
      h('p', { class: 'reason' }, h('strong', { text: `${t('review.why')}: ` }), entry.reason || '–'),
      candidateTable,
      h('h4', { text: withCandidates ? t('review.decide') : t('review.assign') }),
      form);
  }

  await load();
}
