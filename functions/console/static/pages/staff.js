// Staff: the list (GET staff) and the CSV import (POST staff, text/csv, all or nothing) with its
// summary, or a table of the rows' problems.
import { t, formatNumber } from '../i18n.js';
import { company } from '../api.js';
import { h, pageFrame, table, row, field, messageRegion, showMessage, errorText, busy, details, fill, clear } from '../ui.js';

/** 'row[3].calcom_user_id' -> {row: '3', column: 'calcom_user_id'}; 'header' -> row 1. */
export function problemPlace(fieldPath) {
  const match = /^row\[(\d+)\](?:\.(.+))?$/.exec(fieldPath || '');
  if (match) return { row: match[1], column: match[2] || '–' };
  if (fieldPath === 'header') return { row: '1', column: t('staff.header_row') };
  return { row: '–', column: fieldPath || '–' };
}

export async function render(main) {
  const page = pageFrame(main, 'staff', 'nav.staff');
  const list = h('section', { attrs: { 'aria-labelledby': 'staff-list-h' } });
  const importResult = h('div', { class: 'result' });

  const file = h('input', { type: 'file', accept: '.csv,text/csv', required: true });
  const message = messageRegion();
  const submit = h('button', { type: 'submit', class: 'primary', text: t('staff.import_submit') });
  const form = h('form', { class: 'card', noValidate: true },
    h('h2', { text: t('staff.import_title') }),
    h('p', { class: 'hint', text: t('staff.import_intro') }),
    h('p', { class: 'hint' }, h('code', { text: 'staff_id,name,email,other_emails,calcom_user_id,calcom_username,active' })),
    field(t('staff.file'), file), submit, message, importResult);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) {
      showMessage(message, t('staff.no_file'), 'error');
      file.focus();
      return;
    }
    busy(submit, async () => {
      clear(importResult);
      showMessage(message, t('staff.importing'));
      try {
        const bytes = await chosen.arrayBuffer();
        const answer = await company('staff', { method: 'POST', body: bytes, contentType: 'text/csv' });
        showMessage(message, t('staff.imported', { n: formatNumber(answer.imported) }), 'good');
        fill(importResult, details([
          [t('staff.count_imported'), formatNumber(answer.imported)],
          [t('staff.count_created'), formatNumber(answer.created)],
          [t('staff.count_updated'), formatNumber(answer.updated)],
          [t('staff.count_unchanged'), formatNumber(answer.unchanged)],
        ]));
        form.reset();
        await load();
      } catch (error) {
        showMessage(message, `${t('staff.import_failed')} ${errorText(error)}`, 'error');
        const problems = error.problems || (error.field ? [{ field: error.field, message: error.message }] : []);
        if (problems.length) {
          fill(importResult, table(t('staff.problems_caption', { n: problems.length }),
            [t('staff.problem_row'), t('staff.problem_field'), t('staff.problem_message')],
            problems.map((p) => {
              const place = problemPlace(p.field);
              return row([place.row, place.column, p.message]);
            })));
        }
      }
    });
  });

  async function load() {
    page.reloading();
    fill(list, h('p', { class: 'loading', text: t('common.loading') }));
    let staff;
    try {
      staff = (await company('staff')).staff || [];
    } catch (error) {
      page.fail(error);
      return;
    }
    fill(list, h('h2', { id: 'staff-list-h', text: t('staff.list_title', { n: staff.length }) }));
    if (!staff.length) {
      list.append(h('p', { class: 'empty', text: t('staff.empty') }));
      fill(page.body, list, form);
      page.done('empty');
      return;
    }
    list.append(table(t('staff.caption'), [t('staff.name'), t('staff.staff_id'), t('staff.email'), t('staff.other_emails'),
      t('staff.calcom_user'), t('staff.status')], staff.map((s) => row([
      s.name, s.staff_id, s.email || '–', (s.other_emails || []).join(', ') || '–',
      [s.calcom_user_id, s.calcom_username].filter(Boolean).join(' · ') || t('staff.no_calcom'),
      s.active ? t('staff.active') : t('staff.inactive'),
    ]))));
    fill(page.body, list, form);
    page.done('ready');
  }

  page.loading();
  await load();
}
