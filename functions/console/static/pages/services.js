// Services: the list (GET services) and the editor: simple or composite, segments with their
// pauses, the pause policy, templates (templates.json), total and timeline as you type; saving
// (PUT services/{id}) shows the provisioning report and the service's booking event types.
import { t, label, currentLanguage, formatMoney, formatMinutes, formatNumber, formatDateTime } from '../i18n.js';
import { company } from '../api.js';
import { h, pageFrame, table, row, field, button, messageRegion, showMessage, errorText, busy, provisioningReport, nextId, fill } from '../ui.js';

const POLICIES = ['free', 'blocked', 'flexible', 'never'];
const CURRENCIES = ['EUR', 'GBP', 'CHF', 'USD'];
let templatesPromise = null;

function loadTemplates() {
  templatesPromise ||= fetch('templates.json').then((r) => (r.ok ? r.json() : { templates: [] })).then((d) => d.templates || []);
  return templatesPromise;
}

/** Segment keys by position: A, B, C, … Z, then A1, B1, … */
export function segmentKey(index) {
  const letter = String.fromCharCode(65 + (index % 26));
  return index < 26 ? letter : `${letter}${Math.floor(index / 26)}`;
}

/** Total minutes of a composite: durations and gaps (the last segment has no gap). */
export function totalMinutes(segments) {
  return segments.reduce((sum, s, i) => sum + (Number(s.duration) || 0) + (i < segments.length - 1 ? Number(s.gap_after) || 0 : 0), 0);
}

export async function render(main, ctx) {
  const page = pageFrame(main, 'services', 'nav.services');
  const zone = ctx.company.timezone;
  let services = [];
  let staff = [];

  async function showList() {
    page.heading.textContent = t('nav.services');
    page.loading();
    try {
      const [answer, staffAnswer] = await Promise.all([company('services'), company('staff')]);
      services = answer.services || [];
      staff = staffAnswer.staff || [];
    } catch (error) {
      page.fail(error);
      return;
    }
    const newButton = button(t('services.new'), () => showEditor(null), { kind: 'primary' });
    if (!services.length) {
      fill(page.body, h('p', { class: 'empty', text: t('services.empty') }), newButton);
      page.done('empty');
      return;
    }
    fill(page.body, newButton, table(t('services.caption'),
      [t('services.name'), t('services.service_id'), t('services.duration'), t('services.price'), t('services.kind'),
        t('services.staff'), t('services.event_types'), t('common.action')],
      services.map((s) => row([
        h('span', {}, s.name, s.active === false ? h('span', { class: 'badge', text: t('services.inactive') }) : null),
        s.service_id, formatMinutes(s.duration), formatMoney(s.price_cents, s.currency),
        s.composite ? t('services.composite_policy', { n: (s.segments || []).length, policy: label('policy', s.pause_policy) }) : t('services.simple'),
        formatNumber((s.staff_ids || []).length), eventTypeSummary(s.event_types || []),
        button(t('services.edit'), () => showEditor(s), { attrs: { 'aria-label': t('services.edit_label', { name: s.name }) } }),
      ]))));
    page.done('ready');
  }

  function eventTypeSummary(entries) {
    if (!entries.length) return '–';
    const counts = {};
    for (const e of entries) counts[e.sync_status] = (counts[e.sync_status] || 0) + 1;
    return Object.entries(counts).map(([status, n]) => `${formatNumber(n)} ${label('sync_status', status)}`).join(', ');
  }

  async function showEditor(service) {
    const templates = await loadTemplates();
    const isNew = !service;
    const base = service ? { ...service } : {};
    const state = {
      composite: Boolean(base.composite),
      segments: (base.segments || []).map((s) => ({ name: s.name, duration: s.duration, gap_after: s.gap_after || 0 })),
      policy: base.pause_policy || 'free',
    };
    const headingText = isNew ? t('services.new_title') : t('services.edit_title', { name: base.name });
    page.heading.textContent = headingText;
    const message = messageRegion();
    const result = h('div', { class: 'result' });

    const name = h('input', { type: 'text', required: true, value: base.name || '', maxLength: 200 });
    const serviceId = h('input', { type: 'text', required: true, pattern: '[A-Za-z0-9_\\-]{1,64}', value: base.service_id || '', readOnly: !isNew, spellcheck: false });
    const description = h('textarea', { rows: 2, value: base.description || '' });
    const price = h('input', { type: 'number', min: '0', step: '0.01', inputMode: 'decimal', value: base.price_cents != null ? (base.price_cents / 100).toFixed(2) : '' });
    const currency = h('select', {}, CURRENCIES.map((c) => h('option', { value: c, text: c, selected: (base.currency || 'EUR') === c })));
    const simpleDuration = h('input', { type: 'number', min: '1', step: '1', required: true, value: base.composite ? '' : (base.duration || '') });
    const compositeToggle = h('input', { type: 'checkbox', checked: state.composite, attrs: { role: 'switch' } });
    const stretch = h('input', { type: 'number', min: '0', step: '5', value: base.max_gap_stretch || 0 });
    const total = h('output', { class: 'total', attrs: { 'aria-live': 'polite' } });
    const timeline = h('ol', { class: 'timeline', attrs: { 'aria-label': t('services.timeline') } });
    const segmentList = h('div', { class: 'segments' });

    const activeStaff = staff.filter((s) => s.active || (base.staff_ids || []).includes(s.staff_id));
    const staffBoxes = activeStaff.map((s) => h('input', { type: 'checkbox', value: s.staff_id, checked: (base.staff_ids || []).includes(s.staff_id) }));
    const staffFieldset = h('fieldset', { class: 'checks' }, h('legend', { text: t('services.staff') }),
      activeStaff.length ? activeStaff.map((s, i) => h('label', { class: 'check' }, staffBoxes[i], ` ${s.name}`, s.active ? null : ` (${t('staff.inactive')})`))
        : h('p', { class: 'hint', text: t('services.no_staff') }));

    const policyName = nextId('policy');
    const policyFieldset = h('fieldset', { class: 'policies' }, h('legend', { text: t('services.pause_policy') }),
      POLICIES.map((p) => {
        const descId = nextId('desc');
        const radio = h('input', { type: 'radio', name: policyName, value: p, checked: state.policy === p, attrs: { 'aria-describedby': descId },
          on: { change: () => { state.policy = p; updateStretch(); update(); } } });
        return h('div', { class: 'policy' }, h('label', {}, radio, ` ${label('policy', p)}`), h('p', { class: 'hint', id: descId, text: t(`policy.${p}_explained`) }));
      }));
    const stretchField = field(t('services.max_gap_stretch'), stretch, t('services.max_gap_stretch_hint'));
    function updateStretch() { stretchField.hidden = state.policy !== 'flexible'; }
    updateStretch();

    const templateSelect = h('select', {}, h('option', { value: '', text: t('services.template_choose') }),
      templates.map((tpl) => h('option', { value: tpl.id, text: `${tpl.name[currentLanguage()] || tpl.name.en} (${formatMinutes(totalMinutes(tpl.segments))})` })));
    const templateButton = button(t('services.template_apply'), () => {
      const tpl = templates.find((x) => x.id === templateSelect.value);
      if (!tpl) {
        showMessage(message, t('services.template_none'), 'error');
        templateSelect.focus();
        return;
      }
      // Names in the company's language: they are what the agent says to callers.
      const lang = ctx.company.language || currentLanguage();
      state.segments = tpl.segments.map((s) => ({ name: s.name[lang] || s.name.en, duration: s.duration, gap_after: s.gap_after || 0 }));
      state.policy = tpl.pause_policy;
      for (const radio of policyFieldset.querySelectorAll('input')) radio.checked = radio.value === state.policy;
      if (!name.value.trim()) name.value = tpl.name[lang] || tpl.name.en;
      updateStretch();
      renderSegments();
      showMessage(message, t('services.template_applied', { name: tpl.name[currentLanguage()] || tpl.name.en }), 'good');
    });

    const compositePart = h('div', { class: 'composite-part' },
      h('div', { class: 'template-picker' }, field(t('services.template'), templateSelect, t('services.template_hint')), templateButton),
      h('h3', { text: t('services.segments') }), segmentList,
      button(t('services.add_segment'), () => {
        state.segments.push({ name: '', duration: 30, gap_after: 0 });
        renderSegments();
        segmentList.querySelector('.segment:last-child input')?.focus();
      }),
      policyFieldset, stretchField);
    const simplePart = h('div', { class: 'simple-part' }, field(t('services.duration_minutes'), simpleDuration));

    function switchKind() {
      state.composite = compositeToggle.checked;
      compositePart.hidden = !state.composite;
      simplePart.hidden = state.composite;
      if (state.composite && !state.segments.length) state.segments.push({ name: name.value.trim(), duration: Number(simpleDuration.value) || 30, gap_after: 0 });
      renderSegments();
    }
    compositeToggle.addEventListener('change', switchKind);
    simpleDuration.addEventListener('input', update);

    function renderSegments() {
      const last = state.segments.length - 1;
      fill(segmentList, ...state.segments.map((seg, i) => {
        const key = segmentKey(i);
        const segName = h('input', { type: 'text', required: true, value: seg.name, on: { input: () => { seg.name = segName.value; update(); } } });
        const dur = h('input', { type: 'number', min: '1', step: '5', required: true, value: seg.duration, on: { input: () => { seg.duration = Number(dur.value); update(); } } });
        const gap = h('input', { type: 'number', min: '0', step: '5', value: i === last ? 0 : seg.gap_after, disabled: i === last,
          on: { input: () => { seg.gap_after = Number(gap.value); update(); } } });
        const move = (delta) => () => {
          const [moved] = state.segments.splice(i, 1);
          state.segments.splice(i + delta, 0, moved);
          renderSegments();
          // keep the focus on the moved segment: on the same button, or the other one at either end
          const box = segmentList.children[i + delta];
          const same = box?.querySelector(delta < 0 ? '.up' : '.down');
          (same && !same.disabled ? same : box?.querySelector(delta < 0 ? '.down' : '.up'))?.focus();
        };
        return h('fieldset', { class: 'segment' },
          h('legend', { text: t('services.segment_legend', { key }) }),
          field(t('services.segment_name'), segName), field(t('services.segment_duration'), dur),
          field(t('services.segment_gap'), gap, i === last ? t('services.last_no_gap') : null),
          h('div', { class: 'segment-actions' },
            h('button', { type: 'button', class: 'up', disabled: i === 0, text: t('services.move_up'), attrs: { 'aria-label': t('services.move_up_label', { key }) }, on: { click: move(-1) } }),
            h('button', { type: 'button', class: 'down', disabled: i === last, text: t('services.move_down'), attrs: { 'aria-label': t('services.move_down_label', { key }) }, on: { click: move(1) } }),
            h('button', { type: 'button', class: 'danger', disabled: state.segments.length === 1, text: t('services.remove'), attrs: { 'aria-label': t('services.remove_label', { key }) },
              on: { click: () => { state.segments.splice(i, 1); renderSegments(); segmentList.querySelector('input')?.focus(); } } })));
      }));
      update();
    }

    function currentTotal() {
      return state.composite ? totalMinutes(state.segments) : Number(simpleDuration.value) || 0;
    }

    function update() {
      const minutes = currentTotal();
      const gaps = state.composite ? state.segments.slice(0, -1).reduce((s, seg) => s + (Number(seg.gap_after) || 0), 0) : 0;
      total.textContent = gaps ? t('services.total_with_gaps', { total: formatMinutes(minutes), gaps: formatMinutes(gaps) }) : t('services.total', { total: formatMinutes(minutes) });
      renderTimeline();
    }

    function renderTimeline() {
      const items = [];
      const parts = state.composite ? state.segments : [{ name: name.value || t('services.service'), duration: Number(simpleDuration.value) || 0, gap_after: 0 }];
      const held = state.policy === 'blocked' || state.policy === 'never';
      parts.forEach((seg, i) => {
        const minutes = Number(seg.duration) || 0;
        if (minutes > 0) {
          items.push(h('li', { class: 'tl-segment', style: { '--minutes': minutes } },
            h('span', { class: 'tl-key', text: state.composite ? segmentKey(i) : '' }),
            h('span', { class: 'tl-label', text: `${seg.name || '…'} · ${formatMinutes(minutes)}` })));
        }
        const gap = i < parts.length - 1 ? Number(seg.gap_after) || 0 : 0;
        if (state.composite && gap > 0) {
          items.push(h('li', { class: `tl-pause${held ? ' held' : ''}`, style: { '--minutes': gap } },
            h('span', { class: 'tl-label', text: `${t(held ? 'services.pause_held' : 'services.pause_free')} · ${formatMinutes(gap)}` })));
        }
      });
      fill(timeline, ...items);
    }

    name.addEventListener('input', () => { if (!state.composite) renderTimeline(); });

    const submit = h('button', { type: 'submit', class: 'primary', text: t('services.save') });
    const form = h('form', { class: 'card editor', noValidate: true },
      h('div', { class: 'grid' },
        field(t('services.name'), name),
        field(t('services.service_id'), serviceId, isNew ? t('services.service_id_hint') : t('services.service_id_fixed')),
        field(t('services.price'), price), field(t('services.currency'), currency)),
      field(t('services.description'), description),
      staffFieldset,
      h('div', { class: 'field' }, h('label', { class: 'check' }, compositeToggle, ` ${t('services.composite')}`),
        h('p', { class: 'hint', text: t('services.composite_hint') })),
      simplePart, compositePart,
      h('div', { class: 'summary' }, h('p', {}, total), timeline),
      h('div', { class: 'form-actions' }, submit, button(t('services.back'), () => showList())),
      message);
    compositePart.hidden = !state.composite;
    simplePart.hidden = state.composite;

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const problem = validate();
      if (problem) {
        showMessage(message, problem.text, 'error');
        problem.focus?.focus();
        return;
      }
      busy(submit, async () => {
        showMessage(message, t('services.saving'));
        const id = serviceId.value.trim();
        const body = { ...base };
        for (const k of ['event_types', 'company_id', 'service_id']) delete body[k];
        Object.assign(body, {
          name: name.value.trim(),
          description: description.value.trim(),
          duration: currentTotal(),
          composite: state.composite,
          segments: state.composite ? state.segments.map((s, i) => ({
            key: segmentKey(i), name: s.name.trim(), duration: Number(s.duration), gap_after: i < state.segments.length - 1 ? Number(s.gap_after) || 0 : 0 })) : [],
          pause_policy: state.composite ? state.policy : (base.pause_policy || 'free'),
          max_gap_stretch: state.composite && state.policy === 'flexible' ? Number(stretch.value) || 0 : 0,
          staff_ids: staffBoxes.filter((b) => b.checked).map((b) => b.value),
          price_cents: price.value === '' ? null : Math.round(Number(price.value) * 100),
          currency: currency.value,
        });
        try {
          const answer = await company(`services/${encodeURIComponent(id)}`, { method: 'PUT', json: body });
          showMessage(message, t('services.saved', { name: body.name }), 'good');
          page.say(t('services.saved', { name: body.name }), 'good');
          Object.assign(base, answer.service || {});
          serviceId.readOnly = true;
          page.heading.textContent = t('services.edit_title', { name: body.name });
          fill(result, provisioningReport(answer.event_types), eventTypesTable(answer.service?.event_types || []));
        } catch (error) {
          showMessage(message, errorText(error), 'error');
        }
      });
    });

    function validate() {
      if (!name.value.trim()) return { text: t('services.need_name'), focus: name };
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(serviceId.value.trim())) return { text: t('services.need_id'), focus: serviceId };
      if (price.value !== '' && !(Number(price.value) >= 0)) return { text: t('services.need_price'), focus: price };
      if (!state.composite && !(Number(simpleDuration.value) > 0)) return { text: t('services.need_duration'), focus: simpleDuration };
      if (state.composite) {
        const bad = state.segments.findIndex((s) => !s.name.trim() || !(Number(s.duration) > 0) || !Number.isInteger(Number(s.duration)) || Number(s.gap_after) < 0);
        if (bad >= 0) return { text: t('services.need_segment', { key: segmentKey(bad) }), focus: segmentList.children[bad]?.querySelector('input') };
      }
      return null;
    }

    fill(page.body, form, result, isNew ? null : h('section', { attrs: { 'aria-labelledby': 'svc-et-h' } },
      h('h2', { id: 'svc-et-h', text: t('services.event_types') }), eventTypesTable(base.event_types || [])));
    renderSegments();
    page.heading.focus();
    page.done('ready');
  }

  function eventTypesTable(entries) {
    if (!entries.length) return h('p', { text: t('services.no_event_types') });
    return table(t('services.event_types_caption'), [t('services.segment'), t('services.staff_member'), t('services.event_type_id'), t('services.slug'), t('services.status'), t('services.detail')],
      entries.map((e) => row([e.segment_key || e.hold_key || '–', staff.find((m) => m.staff_id === e.staff_id)?.name || e.staff_id || String(e.host_user_id ?? '–'), e.event_type_id ?? '–', e.slug || '–',
        label('sync_status', e.sync_status), [e.detail, e.updated_at && formatDateTime(e.updated_at, zone)].filter(Boolean).join(' · ') || '–'])));
  }

  await showList();
}
