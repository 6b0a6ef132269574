// Patients: `/practice/patients` finds a patient by NHS number or name; `/practice/patients/{id}`
// shows their online access — record access, access codes, hidden items, linkage details
// (issued or reissued as a printable letter), accounts and devices, and proxies.

import { api } from './api.js';
import { busy, facts, field, fullName, h, nhs, statusLine, table, when, words } from './dom.js';

/** A search form; `choose(patient)` gets the one picked, or links go to the patient page. */
export function patientSearch(line, choose, label = 'NHS number or name') {
  const results = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, 'Search');
  const form = h('form', { role: 'search' },
    field(label, 'input', { name: 'q', type: 'search', required: true, minlength: 2,
      'data-hint': 'Ten digits, or the start of the family or given name.' }),
    button, results);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(button, line, async () => {
      const q = form.elements.q.value.trim();
      const found = await api('GET', `/api/v1/practice/patients?q=${encodeURIComponent(q)}`);
      results.replaceChildren(found.length ? table(`${found.length} found`,
        ['Name', 'NHS number', 'Born', ''], found.map((p) => {
          let action;
          if (choose) {
            action = h('button', { type: 'button', class: 'secondary' }, `Choose ${fullName(p)}`);
            action.addEventListener('click', () => choose(p));
          } else {
            action = h('a', { href: `/practice/patients/${p.id}` }, `Open ${fullName(p)}`);
          }
          return [fullName(p) + (p.archived ? ' (archived)' : ''), nhs(p.nhs_number), when(p.date_of_birth), action];
        })) : h('p', {}, 'No patient found.'));
    });
  });
  return form;
}

function linkageLetter(issued) {
  const print = h('button', { type: 'button' }, 'Print letter');
  print.addEventListener('click', () => window.print());
  return h('section', { class: 'printable', 'aria-labelledby': 'letter-heading' },
    h('h2', { id: 'letter-heading' }, 'Linkage letter'),
    h('pre', { class: 'letter', tabindex: 0, 'aria-label': 'Letter text' }, issued.letter),
    print);
}

async function overview(main, id, me) {
  const line = statusLine();
  const data = await api('GET', `/api/v1/practice/patients/${id}`);
  const patient = data.patient;
  const grants = await api('GET', `/api/v1/practice/patients/${id}/proxy-grants`);
  const letterArea = h('div', {});
  const linkageButtons = [];
  if (me.role === 'admin') {
    for (const [label, recovery] of [['Issue linkage details', false], ['Reissue after an identity check', true]]) {
      const button = h('button', { type: 'button', class: recovery ? 'secondary' : null }, label);
      button.addEventListener('click', () => busy(button, line, async () => {
        const issued = await api('POST', `/api/v1/practice/patients/${id}/linkage`, { recovery });
        letterArea.replaceChildren(linkageLetter(issued));
        return 'Linkage details issued: print the letter now; the key is not shown again.';
      }));
      linkageButtons.push(button);
    }
  }
  main.append(...[
    h('h1', {}, `Patient: ${fullName(patient)}`),
    facts([['NHS number', nhs(patient.nhs_number)], ['Born', when(patient.date_of_birth)],
      ['On the list', patient.archived ? 'No (archived)' : 'Yes']]),
    line,
    h('h2', {}, 'Record access'),
    facts([
      ['Access level', words(data.access_level)],
      ['Historic access from', data.record_access_from ? when(data.record_access_from) : 'Not given'],
      ['Practice prospective access date', when(data.practice_prospective_access_date)],
      ['Competent to manage their access', data.competent ? 'Yes' : 'No'],
    ]),
    h('h3', {}, 'Access codes'),
    data.access_codes.length ? table(null, ['SNOMED code', 'Recorded'],
      data.access_codes.map((c) => [c.snomed_code, when(c.recorded_at, true)])) : h('p', {}, 'None.'),
    h('h2', {}, 'Hidden items'),
    data.hidden_items.length ? table(null, ['Section', 'Entry', 'Date', 'Hidden from'],
      data.hidden_items.map((i) => [words(i.section), i.term, when(i.effective_date),
        i.hidden ? 'Everyone online' : 'Proxies'])) : h('p', {}, 'None.'),
    h('h2', {}, 'Linkage details'),
    data.linkage.length ? table(null, ['Account ID', 'Issued', 'Use by', 'State'],
      data.linkage.map((l) => [l.account_id, when(l.issued_at, true), when(l.expires_at, true),
        l.used_at ? `Used ${when(l.used_at, true)}` : l.revoked_at ? 'Replaced' : l.locked_at ? 'Locked' : 'Not used yet']))
      : h('p', {}, 'None issued.'),
    linkageButtons, letterArea,
    h('h2', {}, 'Devices'),
    data.accounts.length ? data.accounts.map((a) => [
      h('p', {}, `Account registered ${when(a.created_at, true)}, ${words(a.status)}; last sign-in ${when(a.last_login_at, true)}`),
      table(null, ['Device', 'Added', 'Last used', 'State'], a.devices.map((d) => [d.name,
        when(d.created_at, true), when(d.last_seen_at, true), d.revoked_at ? `Revoked ${when(d.revoked_at, true)}` : 'Active'])),
    ]) : h('p', {}, 'Not registered for online services.'),
    h('h2', {}, 'Proxies'),
    grants.length ? table(null, ['Proxy', 'Relationship', 'Scopes', 'Status', 'Until'],
      grants.map((g) => [g.proxy_name ? `${g.proxy_name.given_name} ${g.proxy_name.family_name}` : '—',
        g.relationship, g.scopes.map(words).join(', '), words(g.status), g.ends_on ? when(g.ends_on) : 'No end date']))
      : h('p', {}, 'None.'),
    h('p', {}, h('a', { href: `/practice/proxies?patient=${id}` }, 'Manage proxy access')),
  ].flat(Infinity));
}

export async function render(main, { page, me }) {
  if (page.id) {
    await overview(main, page.id, me);
    return;
  }
  const line = statusLine();
  main.append(h('h1', {}, 'Find a patient'), line, patientSearch(line, null));
}
