// The console's shell: language, sign-in state, the header (company, user, sign-out), the nav and
// hash routing (#/review, #/mappings, …): one index.html, one module per page, loaded on demand.
import * as i18n from './i18n.js';
import { t } from './i18n.js';
import * as auth from './auth.js';
import * as api from './api.js';
import { h, clear, pageFrame } from './ui.js';
import { showSignIn } from './signin.js';

export const PAGES = ['review', 'mappings', 'staff', 'services', 'day', 'calls', 'sync', 'requests', 'settings'];
const COMPANY_KEY = 'calbridge.console.company';
const main = document.getElementById('main');
let me = null;
let selected = null;
let routeCount = 0;

async function boot() {
  // /console and /console/ are the same page; links and the API are relative to /console/.
  if (!location.pathname.endsWith('/')) history.replaceState(null, '', `${location.pathname}/${location.hash}`);
  try {
    await i18n.init();
  } catch (error) {
    main.textContent = String(error);
    return;
  }
  i18n.translateTree();
  wireChrome();
  window.addEventListener('hashchange', () => route({ focus: true }));
  window.addEventListener('calbridge:signed-out', signInView);
  if (auth.hasSession()) await startSession();
  else signInView();
}

function wireChrome() {
  for (const btn of document.querySelectorAll('[data-lang]')) {
    btn.addEventListener('click', () => changeLanguage(btn.dataset.lang));
  }
  markLanguage();
  document.getElementById('sign-out').addEventListener('click', () => {
    auth.signOut();
    signInView();
  });
  document.getElementById('skip-link').addEventListener('click', (event) => {
    event.preventDefault(); // the hash is the router's
    main.focus();
  });
}

function markLanguage() {
  for (const btn of document.querySelectorAll('[data-lang]')) {
    btn.setAttribute('aria-pressed', String(btn.dataset.lang === i18n.currentLanguage()));
  }
}

async function changeLanguage(lang) {
  if (lang === i18n.currentLanguage()) return;
  await i18n.setLanguage(lang);
  i18n.translateTree();
  markLanguage();
  if (me) {
    renderChrome();
    route();
  } else {
    signInView();
  }
}

function signInView() {
  me = null;
  routeCount += 1;
  document.getElementById('session').hidden = true;
  document.getElementById('nav').hidden = true;
  document.title = `${t('signin.title')} – calbridge`;
  showSignIn(main, startSession);
}

async function startSession() {
  main.dataset.state = 'loading'; // until the first page has loaded
  try {
    me = await api.request('me');
  } catch (error) {
    if (error.status !== 401) pageFrame(main, 'app', 'app.title').fail(error);
    return;
  }
  const companies = me.companies || [];
  if (!companies.length) {
    pageFrame(main, 'app', 'app.title').fail({ message: t('app.no_company') });
    return;
  }
  const wanted = localStorage.getItem(COMPANY_KEY);
  selected = companies.find((c) => c.company_id === wanted)
    || companies.find((c) => c.company_id === me.company_id) || companies[0];
  api.setCompany(selected.company_id);
  renderChrome();
  if (!location.hash) history.replaceState(null, '', '#/review');
  route({ focus: true });
}

function renderChrome() {
  document.getElementById('session').hidden = false;
  document.getElementById('user').textContent = me.user || '';
  const companyBox = clear(document.getElementById('company'));
  if (me.operator && me.companies.length > 1) {
    const select = h('select', {
      id: 'company-picker',
      on: {
        change: () => {
          selected = me.companies.find((c) => c.company_id === select.value);
          localStorage.setItem(COMPANY_KEY, selected.company_id);
          api.setCompany(selected.company_id);
          route({ focus: false });
        },
      },
    }, me.companies.map((c) => h('option', { value: c.company_id, selected: c.company_id === selected.company_id, text: c.name || c.company_id })));
    companyBox.append(h('label', { htmlFor: 'company-picker', text: t('app.company') }), select);
  } else {
    companyBox.append(h('p', { class: 'company-name', text: selected.name || selected.company_id }));
  }
  const list = clear(document.getElementById('nav-list'));
  list.append(...PAGES.map((name) => h('li', {}, h('a', { href: `#/${name}`, dataset: { page: name }, text: t(`nav.${name}`) }))));
  document.getElementById('nav').hidden = false;
}

export function currentPage() {
  const name = location.hash.replace(/^#\/?/, '').split(/[/?]/)[0];
  return PAGES.includes(name) ? name : null;
}

async function route({ focus = false } = {}) {
  if (!me) return;
  const name = currentPage();
  if (!name) {
    location.replace('#/review');
    return;
  }
  for (const link of document.querySelectorAll('#nav-list a')) {
    if (link.dataset.page === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${t(`nav.${name}`)} – ${selected.name || selected.company_id} – calbridge`;
  const count = ++routeCount;
  let module;
  try {
    module = await import(`./pages/${name}.js`);
  } catch (error) {
    pageFrame(main, name, `nav.${name}`).fail({ message: String(error) });
    return;
  }
  if (count !== routeCount) return;
  const rendering = module.render(main, { company: selected, me, isCurrent: () => count === routeCount });
  if (focus) main.querySelector('h1')?.focus();
  try {
    await rendering;
  } catch (error) {
    if (count === routeCount && error.status !== 401) pageFrame(main, name, `nav.${name}`).fail(error);
  }
}

boot();
