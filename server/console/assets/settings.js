// Settings (`/practice/settings`): the practice's services switched on, the start of automatic
// record access, and every number the rules name. Anyone may read them; admins change them.
// The server checks each value against the rules and names any it refuses.

import { api } from './api.js';
import { busy, facts, field, h, statusLine, when, words } from './dom.js';

const SWITCHES = [
  ['appointments', 'Appointments'],
  ['prescriptions', 'Repeat prescriptions'],
  ['messages', 'Messages'],
  ['record', 'GP record'],
  ['documents', 'Letters'],
];

const NUMBERS = [
  ['slot_window_weeks', 'Weeks ahead slots are offered', '1–16'],
  ['booking_reason_max_chars', 'Characters of a booking reason', '1–1000'],
  ['max_future_appointments', 'Future appointments a patient may hold', '1–20'],
  ['cancellation_cutoff_hours', 'Hours before the start online cancelling stops', '0–72'],
  ['linkage_key_valid_days', 'Days linkage details stay valid', '1–365'],
  ['linkage_key_max_attempts', 'Failed attempts before linkage details lock', '1–10'],
  ['reorder_interval_days', 'Days before a medicine can be ordered again', '0–90'],
  ['message_max_chars', 'Characters of a message', '100–10000'],
  ['parental_record_access_review_age', 'Age at which parents’ record access is reviewed', '11–13'],
  ['proxy_unused_removal_years', 'Years unused before proxy access is removed', '1–5'],
  ['proxy_warning_days', 'Days of warning before proxy access ends', '1–90'],
];

function form(practice, isAdmin, line, reload) {
  const settings = practice.settings;
  const disabled = !isAdmin;
  const switches = h('fieldset', {}, h('legend', {}, 'Online services'),
    SWITCHES.map(([key, label]) => h('div', { class: 'field' },
      h('input', { type: 'checkbox', id: `switch-${key}`, name: key, checked: settings.features[key], disabled }),
      h('label', { for: `switch-${key}` }, label))));
  const numbers = NUMBERS.map(([key, label, range]) => field(label, 'input', {
    name: key, type: 'number', value: settings[key], disabled, 'data-hint': `Allowed: ${range}.`,
  }));
  const save = h('button', { type: 'button', disabled }, 'Save settings');
  save.addEventListener('click', () => busy(save, line, async () => {
    const features = {};
    for (const [key] of SWITCHES) features[key] = switches.querySelector(`[name="${key}"]`).checked;
    const change = { features };
    for (const [key] of NUMBERS) change[key] = Number(numbers.find((n) => n.querySelector(`[name="${key}"]`))
      .querySelector('input').value);
    await api('PATCH', '/api/v1/practice/settings', change);
    await reload();
    return 'Settings saved.';
  }));
  const date = field('Automatic record access starts on', 'input', {
    name: 'switch_on', type: 'date', value: practice.prospective_access_date || '', disabled,
    'data-hint': 'Patients see what is entered in their record from this day (or later, when they turn 16 or register).',
  });
  const setDate = h('button', { type: 'button', disabled }, 'Set start date');
  const clearDate = h('button', { type: 'button', class: 'secondary', disabled }, 'Switch automatic access off');
  setDate.addEventListener('click', () => busy(setDate, line, async () => {
    await api('PUT', '/api/v1/practice/switch-on-date', { date: date.querySelector('input').value });
    await reload();
    return 'Start date saved.';
  }));
  clearDate.addEventListener('click', () => busy(clearDate, line, async () => {
    await api('DELETE', '/api/v1/practice/switch-on-date');
    await reload();
    return 'Automatic record access is switched off.';
  }));
  return [
    facts([
      ['Practice', `${practice.name} (${practice.ods_code})`],
      ['Taking registrations', practice.live ? 'Yes' : 'No'],
      ['Automatic record access', practice.prospective_access_date
        ? `From ${when(practice.prospective_access_date)}` : 'Switched off'],
      ['Booking reason', words(settings.booking_reason)],
    ]),
    isAdmin ? null : h('p', {}, 'Only a practice admin can change these.'),
    h('section', { class: 'card', 'aria-labelledby': 'access-heading' },
      h('h2', { id: 'access-heading' }, 'Automatic record access'), date, setDate, clearDate),
    h('section', { class: 'card', 'aria-labelledby': 'services-heading' },
      h('h2', { id: 'services-heading' }, 'Services and rules'), switches, numbers, save),
  ];
}

export async function render(main, { me }) {
  const line = statusLine();
  const area = h('div', {});
  const reload = async () => {
    const practice = await api('GET', '/api/v1/practice/settings');
    area.replaceChildren(...form(practice, me.role === 'admin', line, reload).filter(Boolean));
  };
  main.append(h('h1', {}, 'Settings'), line, area);
  await reload();
}
