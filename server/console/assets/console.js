// The console's entry point: finds the page the path names, checks the staff session (every
// page but sign-in and enrolment needs one), draws the navigation and renders the page into
// <main>, which takes the focus so keyboard and screen-reader users start at its heading.

import { api, session, signOut, toSignIn } from './api.js';
import { h } from './dom.js';

const PAGES = [
  ['review', 'Review queue', './review.js'],
  ['patients', 'Patients', './patients.js'],
  ['proxies', 'Proxy access', './proxies.js'],
  ['appointments', 'Appointments', './appointments.js'],
  ['prescriptions', 'Prescriptions', './prescriptions.js'],
  ['messages', 'Messages', './messages.js'],
  ['access-requests', 'Record access requests', './access-requests.js'],
  ['settings', 'Settings', './settings.js'],
  ['uptake', 'Uptake', './uptake.js'],
  ['audit', 'Audit', './audit.js'],
];

function route() {
  const parts = location.pathname.replace(/^\/practice\/?/, '').split('/').filter(Boolean);
  if (parts.length === 0) return { name: '', module: './sign-in.js', title: 'Sign in' };
  if (parts[0] === 'enrol') return { name: 'enrol', module: './sign-in.js', title: 'Enrol' };
  const page = PAGES.find(([name]) => name === parts[0]);
  return { name: parts[0], title: page[1], module: page[2], id: parts[1] };
}

function navigation(current) {
  const nav = document.getElementById('nav');
  nav.replaceChildren(h('ul', {}, PAGES.map(([name, label]) => h('li', {},
    h('a', { href: `/practice/${name}`, 'aria-current': name === current ? 'page' : null }, label)))));
}

async function start() {
  const main = document.getElementById('main');
  const page = route();
  const module = await import(page.module);
  const context = { page, params: new URLSearchParams(location.search) };
  if (page.module !== './sign-in.js') {
    if (!session()) {
      toSignIn();
      return;
    }
    try {
      context.me = await api('GET', '/api/v1/practice/me');
    } catch (error) {
      main.replaceChildren(h('h1', {}, page.title), h('p', { role: 'alert' }, error.message));
      return;
    }
    navigation(page.name);
    const signOutButton = h('button', { type: 'button', class: 'secondary' }, 'Sign out');
    signOutButton.addEventListener('click', () => signOut());
    document.getElementById('who').replaceChildren(
      h('span', {}, `${context.me.display_name} (${context.me.role}), ${context.me.practice_name}`),
      signOutButton);
  }
  main.replaceChildren();
  await module.render(main, context);
  const heading = main.querySelector('h1');
  document.title = `${heading ? heading.textContent : page.title} – Practice console`;
  main.focus();
}

start().catch((error) => {
  document.getElementById('main').replaceChildren(
    h('h1', {}, 'Something went wrong'), h('p', { role: 'alert' }, error.message));
});
