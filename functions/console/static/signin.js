// The sign-in form (e-mail, password) and, when Cognito asks for it, the "choose a new password" form.
import { t } from './i18n.js';
import * as auth from './auth.js';
import { h, field, pageFrame, showMessage, busy, fill } from './ui.js';

function authMessage(error) {
  switch (error.code) {
    case 'NotAuthorizedException':
    case 'UserNotFoundException':
      return t('signin.wrong');
    case 'InvalidPasswordException':
      return t('signin.weak_password', { message: error.message });
    case 'PasswordResetRequiredException':
      return t('signin.reset_required');
    case 'network':
      return t('error.network');
    case 'config':
      return t('signin.no_config');
    default:
      return t('signin.failed', { message: error.message || error.code });
  }
}

export function showSignIn(main, onSignedIn) {
  const page = pageFrame(main, 'signin', 'signin.title');
  const alert = h('p', { class: 'message', hidden: true, attrs: { role: 'alert' } });
  const email = h('input', { type: 'email', name: 'username', required: true, autocomplete: 'username', spellcheck: false });
  const password = h('input', { type: 'password', name: 'password', required: true, autocomplete: 'current-password' });
  const submit = h('button', { type: 'submit', class: 'primary', text: t('signin.submit') });
  const form = h('form', { class: 'card narrow', noValidate: true, attrs: { 'aria-labelledby': 'signin-heading' } },
    h('h2', { id: 'signin-heading', class: 'visually-hidden', text: t('signin.title') }),
    field(t('signin.email'), email), field(t('signin.password'), password), alert, submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!email.value.trim() || !password.value) {
      showMessage(alert, t('signin.missing'), 'error');
      (email.value.trim() ? password : email).focus();
      return;
    }
    busy(submit, async () => {
      showMessage(alert, '');
      try {
        const result = await auth.signIn(email.value.trim(), password.value);
        if (result.challenge) showNewPassword(page, result, onSignedIn);
        else await onSignedIn();
      } catch (error) {
        showMessage(alert, authMessage(error), 'error');
        password.focus();
      }
    });
  });
  page.body.append(form);
  page.done('ready');
  email.focus();
}

function showNewPassword(page, challenge, onSignedIn) {
  page.heading.textContent = t('signin.new_password_title');
  const alert = h('p', { class: 'message', hidden: true, attrs: { role: 'alert' } });
  const first = h('input', { type: 'password', required: true, autocomplete: 'new-password', minLength: 8 });
  const second = h('input', { type: 'password', required: true, autocomplete: 'new-password', minLength: 8 });
  const submit = h('button', { type: 'submit', class: 'primary', text: t('signin.new_password_submit') });
  const form = h('form', { class: 'card narrow', noValidate: true },
    h('p', { text: t('signin.new_password_intro') }),
    // for password managers: whose new password this is
    h('input', { type: 'text', name: 'username', autocomplete: 'username', value: challenge.username, readOnly: true, hidden: true }),
    field(t('signin.new_password'), first, t('signin.new_password_hint')),
    field(t('signin.new_password_repeat'), second), alert, submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (first.value.length < 8) {
      showMessage(alert, t('signin.new_password_hint'), 'error');
      first.focus();
      return;
    }
    if (first.value !== second.value) {
      showMessage(alert, t('signin.passwords_differ'), 'error');
      second.focus();
      return;
    }
    busy(submit, async () => {
      try {
        const result = await auth.setNewPassword(challenge.username, first.value, challenge.session);
        if (result.signedIn) await onSignedIn();
        else showMessage(alert, t('signin.failed', { message: result.challenge }), 'error');
      } catch (error) {
        showMessage(alert, authMessage(error), 'error');
      }
    });
  });
  fill(page.body, form);
  page.heading.focus();
  first.focus();
}
