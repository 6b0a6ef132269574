// Sign-in with a passkey (`/practice/`) and first enrolment with the one-time code an operator
// gave (`/practice/enrol`). Both end with staff tokens kept in this tab.

import { api, keep, session } from './api.js';
import { createPasskey, usePasskey } from './passkey.js';
import { busy, field, h, statusLine } from './dom.js';

function onwards(params) {
  const next = params.get('next');
  // Only a path of the console itself: never another site.
  location.assign(next && /^\/practice\/[\w\-/?=&%.]*$/.test(next) ? next : '/practice/review');
}

export async function render(main, { page, params }) {
  const line = statusLine();
  if (page.name === 'enrol') {
    const code = field('One-time enrolment code', 'input', {
      name: 'enrolment_code', autocomplete: 'one-time-code', required: true,
      'data-hint': 'The code your practice gave you, for example ABCD-EFGH-JKLM-NPQR.',
    });
    const button = h('button', { type: 'submit' }, 'Enrol a passkey');
    const form = h('form', {}, code, button);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      busy(button, line, async () => {
        const value = form.elements.enrolment_code.value.trim();
        const start = await api('POST', '/api/v1/practice/enrolment/begin',
          { enrolment_code: value }, { anonymous: true });
        const credential = await createPasskey(start.public_key);
        keep(await api('POST', '/api/v1/practice/enrolment/finish',
          { ceremony_id: start.ceremony_id, credential }, { anonymous: true }));
        onwards(params);
        return 'Enrolled.';
      });
    });
    main.append(h('h1', {}, 'Enrol'),
      h('p', {}, 'Create the passkey you will sign in with, on this device.'),
      line, form,
      h('p', {}, h('a', { href: '/practice/' }, 'Already enrolled? Sign in')));
    return;
  }
  if (session() && !params.get('next')) {
    location.assign('/practice/review');
    return;
  }
  const button = h('button', { type: 'button' }, 'Sign in with a passkey');
  button.addEventListener('click', () => busy(button, line, async () => {
    const start = await api('POST', '/api/v1/login/begin', undefined, { anonymous: true });
    const credential = await usePasskey(start.public_key);
    const tokens = await api('POST', '/api/v1/login/finish',
      { ceremony_id: start.ceremony_id, credential }, { anonymous: true });
    if (tokens.session_kind !== 'staff') {
      throw new Error('This passkey belongs to a patient account; the console is for practice staff.');
    }
    keep(tokens);
    onwards(params);
    return 'Signed in.';
  }));
  main.append(h('h1', {}, 'Sign in'),
    h('p', {}, 'Sign in to the practice console with your passkey.'),
    line, button,
    h('p', {}, h('a', { href: '/practice/enrol' }, 'New here? Enrol with your one-time code')));
}
