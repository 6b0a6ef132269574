// Audit (`/practice/audit`): the practice's audit trail, newest first, filtered by action,
// kind of actor, actor, patient and dates; older pages on request. Admins only.

import { api } from './api.js';
import { busy, field, h, options, statusLine, when } from './dom.js';

const KINDS = [['', 'Anyone'], ['patient', 'Patient'], ['proxy', 'Proxy'], ['staff', 'Staff'],
  ['integration', 'Clinical system'], ['system', 'The server'], ['anonymous', 'Not signed in']];
const FILTERS = ['action', 'actor_kind', 'actor_id', 'patient_id', 'from', 'to'];

export async function render(main, { params }) {
  const line = statusLine();
  const form = h('form', { method: 'get', 'aria-label': 'Filter the audit trail' },
    field('Action starts with', 'input', { name: 'action', value: params.get('action') || '', 'data-hint': 'For example proxy. or result.release' }),
    field('Who acted', 'select', { name: 'actor_kind' }, options(KINDS, params.get('actor_kind') || '')),
    field('Actor id', 'input', { name: 'actor_id', value: params.get('actor_id') || '' }),
    field('Patient id', 'input', { name: 'patient_id', value: params.get('patient_id') || '' }),
    field('From', 'input', { type: 'date', name: 'from', value: params.get('from') || '' }),
    field('To (included)', 'input', { type: 'date', name: 'to', value: params.get('to') || '' }),
    h('button', { type: 'submit', class: 'secondary' }, 'Filter'));
  const query = new URLSearchParams();
  for (const name of FILTERS) if (params.get(name)) query.set(name, params.get(name));
  const body = h('tbody', {});
  const more = h('button', { type: 'button', class: 'secondary' }, 'Older events');
  main.append(h('h1', {}, 'Audit'), form, line,
    h('table', {}, h('thead', {}, h('tr', {}, ['When', 'Action', 'Outcome', 'Who', 'Patient', 'Target', 'Detail']
      .map((c) => h('th', { scope: 'col' }, c)))), body),
    more);
  const load = async () => {
    const page = await api('GET', `/api/v1/practice/audit?${query}`);
    for (const e of page.events) {
      body.append(h('tr', {},
        h('td', {}, when(e.occurred_at, true)), h('td', {}, h('code', {}, e.action)), h('td', {}, e.outcome),
        h('td', {}, `${e.actor_kind}${e.actor_id ? ` ${e.actor_id}` : ''}`),
        h('td', {}, e.patient_id ? h('a', { href: `/practice/patients/${e.patient_id}` }, e.patient_id) : '—'),
        h('td', {}, e.target_kind ? `${e.target_kind} ${e.target_id || ''}` : '—'),
        h('td', {}, h('code', {}, JSON.stringify(e.detail)))));
    }
    if (!body.children.length) body.append(h('tr', {}, h('td', { colspan: 7 }, 'No events match.')));
    more.hidden = !page.next_before;
    if (page.next_before) query.set('before', page.next_before);
  };
  more.addEventListener('click', () => busy(more, line, load));
  await load();
}
