// Record access requests (`/practice/access-requests`): patients' requests for their historic
// record, oldest first; a clinician or admin grants one (the level and the first date shown) or
// declines it with a reason the patient reads. The patient is told either way.

import { api } from './api.js';
import { busy, field, fullName, h, nhs, options, statusLine, when, words } from './dom.js';

const LEVELS = [
  ['documents', 'Full record with letters'],
  ['detailed', 'Detailed coded record'],
  ['summary', 'Summary (allergies, medications, immunisations)'],
];

function decisionForm(request, line, done) {
  const level = field('Level to grant', 'select', { name: 'level' }, options(LEVELS, request.level));
  const from = field('Show entries from', 'input', {
    name: 'from', type: 'date', value: '',
    'data-hint': 'The first day of the record shown. Needed for the detailed record and letters.',
  });
  const reason = field('Reason for declining', 'textarea', {
    name: 'reason', 'data-hint': 'The patient reads this.',
  });
  const grant = h('button', { type: 'button' }, 'Grant');
  const decline = h('button', { type: 'button', class: 'secondary' }, 'Decline');
  grant.addEventListener('click', () => busy(grant, line, async () => {
    await api('POST', `/api/v1/practice/record-access-requests/${request.id}/grant`, {
      level: level.querySelector('select').value,
      from: from.querySelector('input').value || undefined,
    });
    await done();
    return `Granted: ${fullName(request)} can now see their record as chosen.`;
  }));
  decline.addEventListener('click', () => busy(decline, line, async () => {
    await api('POST', `/api/v1/practice/record-access-requests/${request.id}/decline`, {
      reason: reason.querySelector('textarea').value,
    });
    await done();
    return `Declined: ${fullName(request)} has been told why.`;
  }));
  return h('section', { class: 'card', 'aria-label': `Request from ${fullName(request)}`, 'data-request': request.id },
    h('h2', {}, `${fullName(request)}, NHS number ${nhs(request.nhs_number)}`),
    h('p', {}, `Asked on ${when(request.requested_at, true)} for: ${words(request.level)}.`),
    request.note ? h('p', {}, `Their note: ${request.note}`) : null,
    level, from, grant, reason, decline);
}

export async function render(main, { params }) {
  const status = params.get('status') || 'pending';
  const line = statusLine();
  const filter = h('form', { method: 'get' },
    field('Show requests', 'select', { name: 'status' },
      options([['pending', 'Waiting'], ['granted', 'Granted'], ['declined', 'Declined']], status)),
    h('button', { type: 'submit', class: 'secondary' }, 'Show'));
  const area = h('div', {});
  const load = async () => {
    const requests = await api('GET', `/api/v1/practice/record-access-requests?status=${encodeURIComponent(status)}`);
    if (requests.length === 0) {
      area.replaceChildren(h('p', {}, 'No requests.'));
    } else if (status === 'pending') {
      area.replaceChildren(...requests.map((r) => decisionForm(r, line, load)));
    } else {
      area.replaceChildren(h('table', {},
        h('thead', {}, h('tr', {}, ['Patient', 'NHS number', 'Level', 'Asked', 'Decided', 'From', 'Reason']
          .map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, requests.map((r) => h('tr', { 'data-request': r.id },
          h('td', {}, fullName(r)), h('td', {}, nhs(r.nhs_number)), h('td', {}, words(r.level)),
          h('td', {}, when(r.requested_at)), h('td', {}, when(r.decided_at)),
          h('td', {}, when(r.granted_from)), h('td', {}, r.decision_reason || '—'))))));
    }
  };
  main.append(h('h1', {}, 'Record access requests'),
    h('p', {}, 'Patients asking to see their record from before their online access began.'),
    filter, line, area);
  await load();
}
